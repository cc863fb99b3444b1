/**
 * Address ranges and range sets: validation with host-local's defaults and rules, and the
 * round-robin candidate order host-local uses. Pure: no I/O.
 *
 * @module
 */
import {
  addToIp,
  type Cidr,
  compareIp,
  contains,
  familyBits,
  formatIp,
  type Ip,
  lastOf,
  networkOf,
  tryParseCidr,
  tryParseIp,
} from "../../net/cidr.ts";
import { CniCode, CniError } from "../errors.ts";
import type { IpamRange } from "./types.ts";

/**
 * Blocks no pod address can come from: the kernel treats them as loopback, multicast, "this
 * network" or link-local, so a bridge gateway there would take over the host's own traffic or
 * fail late, after the bridge exists.
 */
const SPECIAL: readonly { block: Cidr; what: string }[] = [
  ["0.0.0.0/8", '"this network"'],
  ["127.0.0.0/8", "loopback"],
  ["224.0.0.0/4", "multicast"],
  ["fe80::/10", "IPv6 link-local"],
  ["ff00::/8", "IPv6 multicast"],
].map(([text, what]) => ({ block: tryParseCidr(text!)!, what: what! }));

/** A validated range: every address field filled in. */
export interface Range {
  /** The subnet with host bits cleared. */
  subnet: Cidr;
  /** First allocatable address (inclusive). */
  start: Ip;
  /** Last allocatable address (inclusive). */
  end: Ip;
  /** The gateway; never allocated. */
  gateway: Ip;
}

/** A range set: one address per ADD comes from the first free address of any of its ranges. */
export type RangeSet = Range[];

function invalid(where: string, why: string): CniError {
  return new CniError(CniCode.InvalidConfig, `Invalid IPAM config: ${where}: ${why}`);
}

/** The IPv4 address an IPv4-mapped IPv6 address (::ffff:a.b.c.d) stands for, else undefined. */
function unmapped(ip: Ip): Ip | undefined {
  return ip.family === 6 && ip.value >> 32n === 0xffffn
    ? { family: 4, value: ip.value & 0xffffffffn }
    : undefined;
}

/** An address field; an IPv4-mapped IPv6 address is its IPv4 address (Go's To4(), as host-local). */
function ipField(value: unknown, where: string): Ip {
  const ip = typeof value === "string" ? tryParseIp(value) : undefined;
  if (!ip) throw invalid(where, `${JSON.stringify(value)} is not an IP address`);
  return unmapped(ip) ?? ip;
}

/**
 * The subnet of a range, refused like host-local: not a CIDR, IPv4-mapped IPv6 ("IPNet IP and
 * Mask version mismatch") or host bits set ("Network has host bits set"), naming the network
 * that was probably meant.
 */
function subnetField(text: unknown, where: string): Cidr {
  const c = typeof text === "string" ? tryParseCidr(text) : undefined;
  if (!c || !(text as string).includes("/")) {
    throw invalid(where, `${JSON.stringify(text)} is not a CIDR like 10.244.1.0/24`);
  }
  const v4 = unmapped(c.ip);
  if (v4 && c.prefix >= 96) {
    const net = { family: 4 as const, ip: v4, prefix: c.prefix - 96 };
    throw invalid(
      where,
      `${text} is an IPv4-mapped IPv6 network; write the IPv4 network ${
        cidrText({ ...net, ip: networkOf(net) })
      }`,
    );
  }
  const network = networkOf(c);
  if (compareIp(network, c.ip) !== 0) {
    const canonical = cidrText({ ...c, ip: network });
    throw invalid(
      where,
      `network ${text} has host bits set: for a prefix length of ${c.prefix} the network address is ${
        formatIp(network)
      } (write ${canonical})`,
    );
  }
  return c;
}

/**
 * Validates one range (a subnet with host bits set is refused, as host-local does) and fills in
 * the defaults exactly as host-local does: gateway and
 * rangeStart = network + 1, rangeEnd = broadcast − 1 (IPv4) or the last address (IPv6).
 * Throws CniError 7 naming `where` (e.g. "ipam.ranges[0][1]") on bad input.
 */
export function parseRange(r: IpamRange, where: string): Range {
  const c = subnetField(r.subnet, `${where}.subnet`);
  const bits = familyBits(c.family);
  if (c.prefix > bits - 2) {
    throw invalid(`${where}.subnet`, `network ${r.subnet} is too small to allocate from`);
  }
  // A range wider than a /8 (IPv6: /16) is never a pod range; as a bridge gateway it would put
  // a connected route over the host's own routes (0.0.0.0/0 would replace the default route).
  const widest = c.family === 4 ? 8 : 16;
  if (c.prefix < widest) {
    throw invalid(
      `${where}.subnet`,
      `network ${r.subnet} is too large (wider than /${widest}) to be a pod range`,
    );
  }
  const subnet: Cidr = { family: c.family, ip: networkOf(c), prefix: c.prefix };
  const special = SPECIAL.find((s) => contains(s.block, subnet.ip));
  if (special) {
    throw invalid(
      `${where}.subnet`,
      `network ${r.subnet} is in ${cidrText(special.block)} (${special.what}), not a pod range`,
    );
  }
  const inSubnet = (ip: Ip, field: string): Ip => {
    if (ip.family !== subnet.family) {
      throw invalid(
        `${where}.${field}`,
        `${formatIp(ip)} is not the same family as ${cidrText(subnet)}`,
      );
    }
    if (!contains(subnet, ip)) {
      throw invalid(`${where}.${field}`, `${formatIp(ip)} is not in network ${cidrText(subnet)}`);
    }
    return ip;
  };
  const first = addToIp(subnet.ip, 1);
  const gateway = r.gateway === undefined
    ? first
    : inSubnet(ipField(r.gateway, `${where}.gateway`), "gateway");
  const start = r.rangeStart === undefined
    ? first
    : inSubnet(ipField(r.rangeStart, `${where}.rangeStart`), "rangeStart");
  const last = lastOf(subnet);
  const end = r.rangeEnd === undefined
    ? (subnet.family === 4 ? addToIp(last, -1) : last)
    : inSubnet(ipField(r.rangeEnd, `${where}.rangeEnd`), "rangeEnd");
  if (compareIp(start, end) > 0) {
    throw invalid(where, `rangeStart ${formatIp(start)} is after rangeEnd ${formatIp(end)}`);
  }
  return { subnet, start, end, gateway };
}

/** Validates a range set: not empty, one family, no overlapping ranges. */
export function parseRangeSet(set: IpamRange[], where: string): RangeSet {
  if (set.length === 0) throw invalid(where, "empty range set");
  const out = set.map((r, j) => parseRange(r, `${where}[${j}]`));
  for (let i = 0; i < out.length; i++) {
    const a = out[i]!;
    if (a.subnet.family !== out[0]!.subnet.family) throw invalid(where, "mixed address families");
    for (let j = i + 1; j < out.length; j++) {
      const b = out[j]!;
      if (rangesOverlap(a, b)) {
        throw invalid(where, `ranges ${rangeText(a)} and ${rangeText(b)} overlap`);
      }
    }
  }
  return out;
}

/** True when two ranges (same family) share an allocatable address. */
export function rangesOverlap(a: Range, b: Range): boolean {
  if (a.subnet.family !== b.subnet.family) return false;
  return compareIp(a.start, b.end) <= 0 && compareIp(b.start, a.end) <= 0;
}

/** True when two range sets overlap anywhere. */
export function rangeSetsOverlap(a: RangeSet, b: RangeSet): boolean {
  return a.some((x) => b.some((y) => rangesOverlap(x, y)));
}

/** The range of `set` that holds `ip` between its start and end, if any. */
export function rangeFor(set: RangeSet, ip: Ip): Range | undefined {
  return set.find((r) =>
    contains(r.subnet, ip) && compareIp(ip, r.start) >= 0 && compareIp(ip, r.end) <= 0
  );
}

/**
 * Why `ip` can never be handed out from `r` (gateway, network address, IPv4 broadcast), or
 * undefined when it can.
 */
export function reservedReason(r: Range, ip: Ip): string | undefined {
  if (compareIp(ip, r.gateway) === 0) return "is the subnet's gateway";
  if (compareIp(ip, r.subnet.ip) === 0) return "is the subnet's network address";
  if (r.subnet.family === 4 && compareIp(ip, lastOf(r.subnet)) === 0) {
    return "is the subnet's broadcast address";
  }
  return undefined;
}

/** "10.0.0.0/24". */
export function cidrText(c: Cidr): string {
  return `${formatIp(c.ip)}/${c.prefix}`;
}

/** host-local's range text: "10.0.0.1-10.0.0.254". */
export function rangeText(r: Range): string {
  return `${formatIp(r.start)}-${formatIp(r.end)}`;
}

/** host-local's range-set text: ranges joined with ",". */
export function rangeSetText(set: RangeSet): string {
  return set.map(rangeText).join(",");
}

/** Back to the netconf shape, every field filled in and canonical. */
export function rangeToConfig(r: Range): IpamRange {
  return {
    subnet: cidrText(r.subnet),
    rangeStart: formatIp(r.start),
    rangeEnd: formatIp(r.end),
    gateway: formatIp(r.gateway),
  };
}

/**
 * The candidate addresses of a range set in host-local's round-robin order: starting after
 * `last` (the set's last reserved address) when it lies in the set, else at the first range's
 * start; wrapping through the ranges; each address at most once; gateway, network and IPv4
 * broadcast addresses skipped. Lazy, so callers stop at the first free address.
 */
export function* candidates(set: RangeSet, last?: Ip): Generator<{ ip: Ip; range: Range }> {
  if (set.length === 0) return;
  let idx = 0;
  let cur: Ip | undefined;
  if (last) {
    const i = set.findIndex((r) => rangeFor([r], last) !== undefined);
    if (i >= 0) [idx, cur] = [i, last];
  }
  let startIp: Ip | undefined;
  for (;;) {
    let r = set[idx]!;
    if (cur === undefined) {
      cur = r.start;
    } else if (compareIp(cur, r.end) === 0) {
      idx = (idx + 1) % set.length;
      r = set[idx]!;
      cur = r.start;
    } else {
      cur = addToIp(cur, 1);
    }
    if (startIp === undefined) startIp = cur;
    else if (compareIp(cur, startIp) === 0) return;
    if (reservedReason(r, cur) === undefined) yield { ip: cur, range: r };
  }
}
