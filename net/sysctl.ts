/**
 * sysctl read/write (`/proc/sys/...`), optionally inside another network namespace. Uses
 * synchronous file calls only, so the read/write happens on the thread that did setns().
 *
 * @module
 */
import { withNetns } from "./netns.ts";
import type { NetnsRef } from "./types.ts";

/** "net.ipv4.ip_forward" or "net/ipv4/conf/eth0.1/forwarding" → the /proc/sys path. */
export function sysctlPath(key: string): string {
  if (typeof key !== "string" || !key || key.includes("..") || key.startsWith("/")) {
    throw new TypeError(
      `Cannot use sysctl key "${key}": expected "net.ipv4.ip_forward" or "net/ipv4/ip_forward"`,
    );
  }
  return `/proc/sys/${key.includes("/") ? key : key.replaceAll(".", "/")}`;
}

function inNs<T>(netns: NetnsRef | undefined, fn: () => T): T {
  return netns === undefined ? fn() : withNetns(netns, fn);
}

/** `sysctl -n KEY` (trailing newline removed). */
export function sysctlGet(key: string, opts: { netns?: NetnsRef } = {}): string {
  const path = sysctlPath(key);
  return inNs(opts.netns, () => {
    try {
      return Deno.readTextFileSync(path).replace(/\n$/, "");
    } catch (e) {
      throw new Error(`Cannot read sysctl ${key} (${path}): ${(e as Error).message}`, { cause: e });
    }
  });
}

/** `sysctl -w KEY=VALUE` */
export function sysctlSet(
  key: string,
  value: string | number,
  opts: { netns?: NetnsRef } = {},
): void {
  const path = sysctlPath(key);
  inNs(opts.netns, () => {
    try {
      Deno.writeTextFileSync(path, `${value}\n`);
    } catch (e) {
      throw new Error(`Cannot set sysctl ${key}=${value} (${path}): ${(e as Error).message}`, {
        cause: e,
      });
    }
  });
}
