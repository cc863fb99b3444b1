/**
 * The independent oracle for net/ integration tests: iproute2's JSON output
 * (`ip -n NS -j ...`, `bridge -n NS -j fdb show`).
 *
 * @module
 */

/** The namespace name of a /run/netns path. */
export function nsNameOf(path: string): string {
  return path.replace(/^\/run\/netns\//, "");
}

/**
 * A veth "eth0" in namespace `a` whose peer, also "eth0", is in namespace `b` (/run/netns paths):
 * `ip -n A link add eth0 type veth peer name eth0 netns B`.
 */
export function eth0Pair(a: string, b: string): void {
  ip(a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", nsNameOf(b));
}

/** Runs `ip -n NS ARGS...`; throws with stderr when it fails. */
export function ip(ns: string, ...args: string[]): string {
  const out = new Deno.Command("ip", {
    args: ["-n", nsNameOf(ns), ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .outputSync();
  if (!out.success) {
    throw new Error(
      `ip -n ${nsNameOf(ns)} ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

// deno-lint-ignore no-explicit-any
export type Json = any;

/** `ip -n NS -j ARGS...` parsed. */
export function ipj(ns: string, ...args: string[]): Json {
  const text = ip(ns, "-j", ...args).trim();
  return text ? JSON.parse(text) : [];
}

/** `bridge -n NS -j ARGS...` parsed. */
export function bridgej(ns: string, ...args: string[]): Json {
  const out = new Deno.Command("bridge", {
    args: ["-n", nsNameOf(ns), "-j", ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .outputSync();
  if (!out.success) {
    throw new Error(
      `bridge ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  const text = new TextDecoder().decode(out.stdout).trim();
  return text ? JSON.parse(text) : [];
}

/** `ip -n NS -d -j link show dev NAME`, or undefined when absent. */
export function linkOf(ns: string, name: string): Json | undefined {
  const all: Json[] = ipj(ns, "-d", "link", "show");
  return all.find((l) => l.ifname === name);
}
