/**
 * Sysctls the way every feature sets them: read first, write only when the value differs (a
 * read is cheap; a write may disturb, e.g. re-running IPv6 address configuration), through
 * net/sysctl.ts's synchronous /proc/sys access, optionally inside a namespace. The access is
 * injectable so backends can be unit-tested without root.
 *
 * @module
 */
import { sysctlGet, sysctlSet } from "../net/sysctl.ts";
import type { NetnsRef } from "../net/types.ts";

/** Writes one sysctl (`sysctl -w KEY=VALUE`). */
export type SysctlSetter = (key: string, value: string) => void;
/** Reads one sysctl; undefined when the key does not exist. */
export type SysctlGetter = (key: string) => string | undefined;

/** A place to read and write sysctls: a namespace, or a fake in unit tests. */
export interface SysctlAccess {
  get: SysctlGetter;
  set: SysctlSetter;
}

/**
 * `sysctl KEY` / `sysctl -w KEY=VALUE` in `netns` (undefined: this process's namespace). A key
 * that does not exist reads as undefined; other read errors throw.
 */
export function netnsSysctl(netns?: NetnsRef): SysctlAccess {
  return {
    get: (key) => {
      try {
        return sysctlGet(key, { netns });
      } catch (e) {
        const cause = e instanceof Error ? e.cause : undefined;
        if (e instanceof Deno.errors.NotFound || cause instanceof Deno.errors.NotFound) {
          return undefined;
        }
        throw e;
      }
    },
    set: (key, value) => sysctlSet(key, value, { netns }),
  };
}

/**
 * Sets a sysctl only when it differs from `value` (`sysctl -w KEY=VALUE` after `sysctl -n KEY`);
 * a value that cannot be read is written. Returns true when it wrote. Throws the write's error.
 *
 * @example
 * ```ts ignore
 * import { ensureSysctl, netnsSysctl } from "./sysctl.ts";
 * ensureSysctl("net.ipv4.ip_forward", "1"); // this namespace
 * ensureSysctl("net/ipv6/conf/eth0/disable_ipv6", "0", netnsSysctl("/run/netns/pod1"));
 * ```
 */
export function ensureSysctl(
  key: string,
  value: string,
  access: SysctlAccess = netnsSysctl(),
): boolean {
  let cur: string | undefined;
  try {
    cur = access.get(key)?.trim();
  } catch {
    cur = undefined;
  }
  if (cur === value) return false;
  access.set(key, value);
  return true;
}
