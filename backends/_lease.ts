/**
 * Lease helpers shared by the backends: validation, a subnet's first address, and the on-link
 * test against the uplink's connected prefixes.
 *
 * @module
 */
import { type Cidr, contains, familyBits, formatIp, networkOf, tryParseCidr } from "../net/cidr.ts";
import type { NetHandle } from "../net/types.ts";
import type { Lease } from "../store/types.ts";
import type { Skipped } from "./types.ts";
import { cidrInfo, ipInfo } from "./_parse_cache.ts";

/** The network address of a subnet ("10.244.2.0/24" → "10.244.2.0"): flannel's VTEP address. */
export function firstAddress(subnet: string): string {
  const c = cidrInfo(subnet);
  if (!c) throw new TypeError(`Cannot use subnet "${subnet}": not a CIDR prefix`);
  return c.network;
}

/** Result of checkLeases(): the leases a backend may program, and those it must skip. */
export interface CheckedLeases {
  leases: Lease[];
  skipped: Skipped[];
}

/**
 * Drops `self` (by subnet) and skips, with the reason, leases with an unparsable subnet or
 * public IP, leases that claim this node's own public IP, and leases of another backend type.
 */
export function checkLeases(
  leases: readonly Lease[],
  self: Lease,
  opts: { type: string; publicIP: string },
): CheckedLeases {
  const out: CheckedLeases = { leases: [], skipped: [] };
  const ownIp = ipInfo(opts.publicIP)?.ip;
  for (const l of leases) {
    if (l.subnet === self.subnet && l.node === self.node) continue;
    const c = cidrInfo(l.subnet);
    if (!c) {
      out.skipped.push({ subnet: String(l.subnet), reason: "subnet is not a CIDR prefix" });
      continue;
    }
    if (l.subnet === self.subnet) {
      out.skipped.push({
        subnet: l.subnet,
        reason: `node ${l.node} holds this node's own subnet (duplicate lease)`,
      });
      continue;
    }
    const ip = ipInfo(l.publicIP)?.ip;
    if (!ip) {
      out.skipped.push({
        subnet: l.subnet,
        reason: `node ${l.node} has an invalid public IP "${l.publicIP}"`,
      });
      continue;
    }
    if (ownIp && ip.family === ownIp.family && ip.value === ownIp.value) {
      out.skipped.push({
        subnet: l.subnet,
        reason: `node ${l.node} claims this node's public IP ${opts.publicIP} (stale lease?)`,
      });
      continue;
    }
    if (l.backendType && l.backendType !== opts.type) {
      out.skipped.push({
        subnet: l.subnet,
        reason: `node ${l.node} uses backend ${l.backendType}, this node uses ${opts.type}`,
      });
      continue;
    }
    out.leases.push(l);
  }
  return out;
}

/**
 * The uplink's connected prefixes: its addresses' prefixes (not /32 or /128), plus, looked up only
 * when needed, link-scope routes without a gateway on the uplink (`ip route add X dev eth0`).
 */
export class OnLink {
  #prefixes: Cidr[];
  /** The IPv4 ones of #prefixes as [network, mask] numbers (asked once per lease per reconcile). */
  #v4: number[];
  #routes: Cidr[] | undefined;
  #handle: NetHandle;
  #uplink: number;

  constructor(handle: NetHandle, uplink: number) {
    this.#handle = handle;
    this.#uplink = uplink;
    this.#prefixes = [];
    this.#v4 = [];
    for (const a of handle.addrList({ dev: uplink })) {
      const c = tryParseCidr(a.cidr);
      if (!c || c.prefix >= familyBits(c.family)) continue;
      this.#prefixes.push(c);
      if (c.family === 4) {
        const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
        this.#v4.push((Number(c.ip.value) & mask) >>> 0, mask);
      }
    }
  }

  /** True when `ip` is on a network directly connected to the uplink. */
  has(ip: string): boolean {
    const info = ipInfo(ip);
    if (!info) return false;
    const p = info.ip;
    if (info.v4 >= 0) {
      // Same test as contains(), on numbers: no bigint garbage for 5,000 leases per reconcile.
      const v4 = this.#v4;
      for (let i = 0; i < v4.length; i += 2) {
        if (((info.v4 & v4[i + 1]!) >>> 0) === v4[i]) return true;
      }
    } else if (this.#prefixes.some((c) => contains(c, p))) return true;
    if (!this.#routes) {
      this.#routes = [];
      for (const r of this.#handle.routeList({ dev: this.#uplink })) {
        if (r.gateway !== undefined || r.scope !== "link" || r.oif !== this.#uplink) continue;
        const c = tryParseCidr(r.dst);
        if (c) this.#routes.push(c);
      }
    }
    return this.#routes.some((c) => contains(c, p));
  }

  /** The prefixes, for messages ("192.168.1.0/24, fd00::/64" or "none"). */
  describe(): string {
    return this.#prefixes.length
      ? this.#prefixes.map((c) => `${formatIp(networkOf(c))}/${c.prefix}`).join(", ")
      : "none";
  }
}
