/**
 * The default sysctl access for backends: net/mod.ts's sync /proc/sys read/write inside the
 * node's namespace.
 *
 * @module
 */
import { sysctlGet, sysctlSet } from "../net/mod.ts";
import type { NetnsRef } from "../net/types.ts";
import type { SysctlGetter, SysctlSetter } from "./types.ts";

/** `sysctl KEY` / `sysctl -w KEY=VALUE` in `netns` (a missing key reads as undefined). */
export function netnsSysctl(netns?: NetnsRef): { get: SysctlGetter; set: SysctlSetter } {
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
