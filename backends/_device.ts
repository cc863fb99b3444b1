/**
 * Helpers for skein's own tunnel devices: keep exactly the wanted global addresses on them.
 *
 * @module
 */
import { formatIp, parseCidr } from "../net/cidr.ts";
import type { NetHandle } from "../net/types.ts";

/** Counts of an address reconcile, folded into the ReconcileReport. */
export interface AddrCounts {
  added: number;
  removed: number;
  unchanged: number;
  errors: string[];
}

/** "10.244.1.0/32" → the same text, normalised ("FD00:0::/128" → "fd00::/128"). */
function addrKey(cidr: string): string {
  const c = parseCidr(cidr);
  return `${formatIp(c.ip)}/${c.prefix}`;
}

/**
 * Makes the universe-scope addresses on skein's device `dev` exactly `wanted`
 * (`ip addr add A dev D` for the missing, `ip addr del` for the others; link-local addresses the
 * kernel assigns are left alone). Never throws: failures are returned in `errors`.
 */
export function ensureDeviceAddrs(handle: NetHandle, dev: number, wanted: string[]): AddrCounts {
  const out: AddrCounts = { added: 0, removed: 0, unchanged: 0, errors: [] };
  const want = new Map(wanted.map((c) => [addrKey(c), c]));
  const have = new Set<string>();
  let list;
  try {
    list = handle.addrList({ dev });
  } catch (e) {
    out.errors.push(`Cannot list addresses of device ${dev}: ${(e as Error).message}`);
    return out;
  }
  for (const a of list) {
    if (a.scope !== "universe") continue;
    const key = addrKey(a.cidr);
    if (want.has(key)) {
      have.add(key);
      out.unchanged++;
      continue;
    }
    try {
      handle.addrDel({ dev, cidr: a.cidr });
      out.removed++;
    } catch (e) {
      out.errors.push((e as Error).message);
    }
  }
  for (const [key, cidr] of want) {
    if (have.has(key)) continue;
    try {
      handle.addrReplace({ dev, cidr, nodad: cidr.includes(":") ? true : undefined });
      out.added++;
    } catch (e) {
      out.errors.push((e as Error).message);
    }
  }
  return out;
}
