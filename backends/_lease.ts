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
import { nodeIpProblem, prefixEdgeProblem } from "./_peer_addr.ts";

/** The network address of a subnet ("10.244.2.0/24" → "10.244.2.0"): flannel's VTEP address. */
export function firstAddress(subnet: string): string {
  const c = cidrInfo(subnet);
  if (!c) throw new TypeError(`Cannot use subnet "${subnet}": not a CIDR prefix`);
  return c.network;
}

/** OnLink.edge(): which addresses are the uplink's network or broadcast addresses. */
export interface EdgeTest {
  /** "the broadcast address of 192.168.1.0/24" for such an address; undefined for any other. */
  edge(ip: string): string | undefined;
}

/** Optional part of a backend's context: the uplink's prefixes, read once per reconcile. */
export interface UplinkNet {
  /** When given, a lease whose IPv4 public IP is one of their edges is skipped (edgeReason()). */
  uplinkNet?: EdgeTest;
}

/** Result of checkLeases(): the leases a backend may program, and those it must skip. */
export interface CheckedLeases {
  leases: Lease[];
  skipped: Skipped[];
}

/**
 * Drops `self` (by subnet) and skips, with the reason, leases with an unparsable subnet or
 * public IP, a public IP (or IPv6 public IP) no node can have (loopback, multicast, ...:
 * nodeIpProblem(); with `uplinkNet`, the uplink's network or broadcast address), leases that
 * claim this node's own public IP, and leases of another backend type.
 */
export function checkLeases(
  leases: readonly Lease[],
  self: Lease,
  opts: { type: string; publicIP: string } & UplinkNet,
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
    const bad = unusableIps(l);
    if (bad) {
      out.skipped.push({ subnet: l.subnet, reason: `node ${l.node}'s ${bad}` });
      continue;
    }
    const edge = ip.family === 4 ? opts.uplinkNet?.edge(l.publicIP) : undefined;
    if (edge) {
      out.skipped.push({
        subnet: l.subnet,
        reason: edgeReason(l.node, ipInfo(l.publicIP)!.text, edge),
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

/** "public IP 127.0.0.1 is a loopback address ...", when a lease's address cannot be a node's. */
function unusableIps(l: Lease): string | undefined {
  const ip = ipInfo(l.publicIP)!;
  const why = nodeIpProblem(ip.ip);
  if (why) return `public IP ${ip.text} is ${why}; no node can be reached there`;
  // An unparsable publicIP6 is as good as none (underlayOf()): the backends that need one say so.
  const ip6 = typeof l.publicIP6 === "string" ? ipInfo(l.publicIP6) : undefined;
  if (!ip6) return undefined;
  const why6 = nodeIpProblem(ip6.ip);
  return why6 ? `IPv6 public IP ${ip6.text} is ${why6}; no node can be reached there` : undefined;
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

  /**
   * Why the IPv4 address `ip` cannot be a next hop on the uplink although it is on-link: it is the
   * network or the broadcast address of one of the uplink's address prefixes ("the broadcast
   * address of 192.168.1.0/24"; the kernel refuses such a gateway with EINVAL). Undefined otherwise.
   */
  edge(ip: string): string | undefined {
    const info = ipInfo(ip);
    if (!info || info.v4 < 0) return undefined;
    return edgeOf(info.v4, this.#prefixes);
  }

  /** The prefixes, for messages ("192.168.1.0/24, fd00::/64" or "none"). */
  describe(): string {
    return this.#prefixes.length
      ? this.#prefixes.map((c) => `${formatIp(networkOf(c))}/${c.prefix}`).join(", ")
      : "none";
  }
}

/**
 * The reason a lease whose on-link node IP `ip` is `edge` (OnLink.edge(): the network or broadcast
 * address of the uplink's network) is skipped.
 */
export function edgeReason(node: string, ip: string, edge: string): string {
  return `node ${node}'s public IP ${ip} is ${edge}, the uplink's network: no node has it, ` +
    "and the kernel refuses it as a next hop";
}

/** OnLink.edge() against a list of prefixes (onLinkOf() uses it too). */
export function edgeOf(v4: number, prefixes: readonly Cidr[]): string | undefined {
  for (const c of prefixes) {
    if (c.family !== 4) continue;
    const why = prefixEdgeProblem(v4, Number(c.ip.value), c.prefix);
    if (why) return `${why} of ${formatIp(networkOf(c))}/${c.prefix}`;
  }
  return undefined;
}
