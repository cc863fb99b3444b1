/**
 * Shared helpers for the IPAM integration tests: spawn IPAM worker processes (skein) and
 * Debian's reference host-local, and read a network's reservation directory.
 *
 * @module
 */

const WORKER = new URL("./ipam_worker.ts", import.meta.url).pathname;
/** Debian's reference plugin (package containernetworking-plugins). */
export const HOST_LOCAL = "/usr/lib/cni/host-local";

/** What one plugin process did. */
export interface ProcResult {
  /** Exit code (undefined when killed by a signal). */
  code: number;
  /** The signal that killed it, if any. */
  signal: Deno.Signal | null;
  /** Parsed stdout JSON, when there was any. */
  json?: Record<string, unknown>;
  stdout: string;
  stderr: string;
}

async function finish(child: Deno.ChildProcess): Promise<ProcResult> {
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  let json: Record<string, unknown> | undefined;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  return {
    code: out.code,
    signal: out.signal,
    json,
    stdout,
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Starts a skein IPAM worker process; `input` goes to stdin. */
export function spawnSkein(
  opts: { op: string; id?: string; ifName?: string; input: unknown; crashAt?: string },
): Deno.ChildProcess {
  const env: Record<string, string> = {};
  if (opts.crashAt) env.SKEIN_TEST_CRASH_AT = opts.crashAt;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-prompt",
      "--quiet",
      WORKER,
      opts.op,
      opts.id ?? "",
      opts.ifName ?? "eth0",
    ],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  w.write(new TextEncoder().encode(JSON.stringify(opts.input))).then(() => w.close()).catch(
    () => {},
  );
  return child;
}

/** Runs a skein IPAM worker to completion. */
export function runSkein(
  opts: { op: string; id?: string; ifName?: string; input: unknown; crashAt?: string },
): Promise<ProcResult> {
  return finish(spawnSkein(opts));
}

/** Waits for a spawned process. */
export function wait(child: Deno.ChildProcess): Promise<ProcResult> {
  return finish(child);
}

/** True when Debian's host-local binary is installed. */
export function hasHostLocal(): boolean {
  try {
    return Deno.statSync(HOST_LOCAL).isFile;
  } catch {
    return false;
  }
}

/**
 * Runs Debian's host-local with CNI_COMMAND `cmd`. host-local never enters the namespace, so
 * CNI_NETNS points at a path that does not exist: no namespace is touched at all.
 */
export async function runHostLocal(
  opts: { cmd: "ADD" | "DEL" | "CHECK"; id: string; ifName?: string; netconf: unknown },
): Promise<ProcResult> {
  const child = new Deno.Command(HOST_LOCAL, {
    clearEnv: true,
    env: {
      CNI_COMMAND: opts.cmd,
      CNI_CONTAINERID: opts.id,
      CNI_NETNS: "/nonexistent/skein-ipam-test-netns",
      CNI_IFNAME: opts.ifName ?? "eth0",
      CNI_PATH: "/usr/lib/cni",
      PATH: "/usr/bin:/bin",
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(opts.netconf)));
  await w.close();
  return finish(child);
}

/** The files of `<dataDir>/<network>`: name → content. */
export function readNetworkDir(dataDir: string, network: string): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (const e of Deno.readDirSync(`${dataDir}/${network}`)) {
      out[e.name] = Deno.readTextFileSync(`${dataDir}/${network}/${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

/** Only the reservation files (names that are addresses): address → content. */
export function reservations(dataDir: string, network: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(readNetworkDir(dataDir, network))) {
    if (/^[0-9.]+$|:/.test(k)) out[k] = v;
  }
  return out;
}

/** The addresses (without prefix) of an ADD result. */
export function addresses(json: Record<string, unknown> | undefined): string[] {
  const ips = (json?.ips ?? []) as { address: string }[];
  return ips.map((i) => i.address.replace(/\/[0-9]+$/, ""));
}
