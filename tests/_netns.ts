/**
 * Shared helper for integration tests (root): throwaway network namespaces with a per-run
 * prefix, always deleted in `finally`.
 *
 * ```ts ignore
 * import { withNamespaces } from "./_netns.ts";
 * await withNamespaces(["host", "pod"], async (ns) => {
 *   // ns.host === "/run/netns/sk3f9a-host", ns.pod === "/run/netns/sk3f9a-pod"
 * });
 * ```
 *
 * @module
 */

import { netnsAdd, netnsDel } from "../net/netns.ts";

let prefix: string | undefined;

/**
 * A random prefix for this test process ("sk" + 4 hex digits, e.g. "sk3f9a"); the same on every
 * call. scripts/test.sh runs test files in lanes at once and sets SKEIN_TEST_LANE=K of
 * SKEIN_TEST_LANES=N: the 16-bit number is then ≡ K (mod N), so files of different lanes never
 * draw the same prefix (their namespaces, labs and links cannot collide). SKEIN_TEST_PREFIX
 * replaces "sk" (e.g. "fixC-" gives "fixC-3f9a"), so whoever runs the tests can tell their
 * namespaces from others' on a shared host.
 */
export function testPrefix(): string {
  if (!prefix) {
    const head = Deno.env.get("SKEIN_TEST_PREFIX") ?? "sk";
    if (!/^[A-Za-z][A-Za-z0-9-]{0,5}$/.test(head)) {
      throw new TypeError(
        `SKEIN_TEST_PREFIX "${head}": a letter, then at most 5 letters, digits or "-"`,
      );
    }
    const [hi = 0, lo = 0] = crypto.getRandomValues(new Uint8Array(2));
    prefix = head + laneValue(hi * 256 + lo).toString(16).padStart(4, "0");
  }
  return prefix;
}

/** `v` (0..65535) moved into this lane's residue class, when scripts/test.sh set one. */
function laneValue(v: number): number {
  const lanes = Number(Deno.env.get("SKEIN_TEST_LANES") ?? "");
  const lane = Number(Deno.env.get("SKEIN_TEST_LANE") ?? "");
  const ok = Number.isInteger(lanes) && lanes > 1 && lanes <= 16 &&
    Number.isInteger(lane) && lane >= 0 && lane < lanes;
  if (!ok) return v;
  const w = v - (v % lanes) + lane;
  return w > 0xffff ? w - lanes : w;
}

/** The full namespace name withNamespaces() uses for `name`: `${testPrefix()}-${name}`. */
export function nsName(name: string): string {
  return `${testPrefix()}-${name}`;
}

const interruptCleanups = new Set<() => void>();
const signalHandlers = new Map<Deno.Signal, () => void>();

/**
 * Runs `cleanup` (synchronously) if the process gets SIGINT or SIGTERM before the returned
 * function is called. Deno ends on those signals without running `finally` blocks, so a test or
 * benchmark interrupted by Ctrl-C or `timeout` would otherwise leave its namespaces behind.
 * Returns the function that unregisters `cleanup` (call it in your own `finally`).
 */
export function cleanupOnInterrupt(cleanup: () => void): () => void {
  if (interruptCleanups.size === 0) {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => {
        for (const f of interruptCleanups) {
          try {
            f();
          } catch {
            // Best effort: the process is ending; run the other cleanups too.
          }
        }
        Deno.exit(sig === "SIGINT" ? 130 : 143);
      };
      signalHandlers.set(sig, handler);
      Deno.addSignalListener(sig, handler);
    }
  }
  interruptCleanups.add(cleanup);
  return () => {
    if (!interruptCleanups.delete(cleanup) || interruptCleanups.size > 0) return;
    for (const [sig, handler] of signalHandlers) Deno.removeSignalListener(sig, handler);
    signalHandlers.clear();
  };
}

/**
 * Creates one namespace per name (`${testPrefix()}-${name}`, under /run/netns, with skein's
 * netnsAdd: the same bind mount `ip netns add` makes), runs `fn` with a map name → namespace
 * path, and deletes every namespace it created afterwards, even when `fn` throws. It kills no
 * process: a test that starts processes inside these namespaces must stop them itself.
 */
export async function withNamespaces(
  names: string[],
  fn: (paths: Record<string, string>) => Promise<void> | void,
): Promise<void> {
  const created: string[] = [];
  const paths: Record<string, string> = {};
  let failure: unknown;
  let failed = false;
  const deleteAll = () => {
    for (const full of created.splice(0).reverse()) {
      try {
        netnsDel(full);
      } catch {
        // Interrupted: delete what can be deleted.
      }
    }
  };
  const unregister = cleanupOnInterrupt(deleteAll);
  try {
    for (const name of names) {
      if (typeof name !== "string" || !/^[A-Za-z0-9_.-]+$/.test(name)) {
        throw new TypeError(
          `Cannot create test namespace "${name}": use letters, digits, "_", "." or "-"`,
        );
      }
      if (name in paths) throw new TypeError(`Cannot create test namespace "${name}" twice`);
      const full = nsName(name);
      netnsAdd(full);
      created.push(full);
      paths[name] = `/run/netns/${full}`;
    }
    await fn(paths);
  } catch (e) {
    failed = true;
    failure = e;
  }
  unregister();
  const errors: string[] = [];
  for (const full of created.splice(0).reverse()) {
    try {
      netnsDel(full);
    } catch (e) {
      errors.push(`${full}: ${(e as Error).message}`);
    }
  }
  if (failed) throw failure;
  if (errors.length) throw new Error(`Cannot delete test namespaces: ${errors.join("; ")}`);
}
