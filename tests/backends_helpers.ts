/**
 * Helpers for the backends' integration tests (root): `ip`/`bridge`/`nft` as independent oracles
 * of what the kernel holds in a test namespace.
 *
 * @module
 */
import { withNamespaces } from "./_netns.ts";

/** Runs a command; returns stdout, throws with stderr on failure. */
export function sh(cmd: string, ...args: string[]): string {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return text;
}

/** The namespace name of a /run/netns path. */
export function nsOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** `ip -n NS ARGS...` (many commands at once: pass several arrays). */
export function ipn(ns: string, ...cmds: string[][]): void {
  for (const c of cmds) sh("ip", "-n", nsOf(ns), ...c);
}

/** `ip -n NS -j ARGS...` parsed. */
export function ipJson<T = Record<string, unknown>>(ns: string, ...args: string[]): T[] {
  const text = sh("ip", "-n", nsOf(ns), "-j", ...args).trim();
  return text ? JSON.parse(text) as T[] : [];
}

/** A route as `ip -j route` prints it. */
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string | number;
  flags?: string[];
  scope?: string;
}

/**
 * `ip -j route show proto 100` routes with a gateway (the backends' routes; the CNI plugin's
 * routed-mode pod routes share the protocol but have none) as sorted "dst via gw dev X [onlink]".
 */
export function skeinRoutes(ns: string, family: "-4" | "-6" = "-4"): string[] {
  return ipJson<IpRoute>(ns, family, "route", "show", "proto", "100").filter((r) => r.gateway).map((
    r,
  ) => `${r.dst} via ${r.gateway} dev ${r.dev}${r.flags?.includes("onlink") ? " onlink" : ""}`)
    .sort();
}

/** `bridge -j fdb show dev DEV` in NS. */
export function fdbOf(
  ns: string,
  dev: string,
): { mac: string; dst?: string; state?: string; flags?: string[] }[] {
  const text = sh("ip", "netns", "exec", nsOf(ns), "bridge", "-j", "fdb", "show", "dev", dev)
    .trim();
  return text ? JSON.parse(text) : [];
}

/** `ip netns exec NS CMD...` stdout. */
export function inNs(ns: string, cmd: string, ...args: string[]): string {
  return sh("ip", "netns", "exec", nsOf(ns), cmd, ...args);
}

/** True when `ping -c1 -W1` from `src` to `dst` inside NS succeeds within `attempts` tries. */
export function pings(ns: string, dst: string, src?: string, attempts = 2): boolean {
  const args = ["netns", "exec", nsOf(ns), "ping", "-c", "1", "-W", "1"];
  if (src) args.push("-I", src);
  for (let i = 0; i < attempts; i++) {
    const out = new Deno.Command("ip", { args: [...args, dst], stdout: "null", stderr: "null" })
      .outputSync();
    if (out.success) return true;
  }
  return false;
}

/** A synthetic lease. */
export function mkLease(
  n: number,
  publicIP: string,
  extra: Record<string, unknown> = {},
): import("../store/types.ts").Lease {
  return {
    subnet: `10.244.${n}.0/24`,
    publicIP,
    node: `node${n}`,
    backendType: "",
    expiration: "2099-01-01T00:00:00Z",
    ...extra,
  };
}

/** Parsed JSON from `ip -j`/`nft -j`, navigated freely in assertions. */
// deno-lint-ignore no-explicit-any
export type Json = Record<string, any>;

/** withNamespaces() for a synchronous test body. */
export function inNamespaces(
  names: string[],
  fn: (paths: Record<string, string>) => void,
): Promise<void> {
  return withNamespaces(names, (paths) => {
    fn(paths);
    return Promise.resolve();
  });
}
