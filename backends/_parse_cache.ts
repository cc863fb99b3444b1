/**
 * Memoised address/prefix parsing for the reconcile hot path. Every reconcile sees the same
 * lease strings again (5,000 leases → tens of thousands of bigint parses per run otherwise);
 * the caches are bounded and simply cleared when full.
 *
 * @module
 */
import {
  type Cidr,
  formatIp,
  formatMac,
  type Ip,
  networkOf,
  parseCidr,
  parseMac,
  tryParseCidr,
  tryParseIp,
} from "../net/cidr.ts";

const LIMIT = 200_000;

/** A parsed address with its normalised text. */
export interface IpInfo {
  ip: Ip;
  text: string;
  /** An IPv4 address as an unsigned 32-bit number (-1 for IPv6): prefix tests without bigints. */
  v4: number;
}

/**
 * A parsed prefix with its canonical text and network address text. Kept small: one is cached per
 * prefix seen (a bgp node with 10,000 routes holds 10,000), so the parsed address and the network
 * text are derived when asked for, and `canonical` is the text it was parsed from when that is
 * already canonical (348 -> ~150 bytes each).
 */
export class CidrInfo {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The prefix length. */
  readonly prefix: number;
  /** "10.244.1.0/24" (host bits cleared). */
  readonly canonical: string;
  /**
   * The reconciler's key for a route to `canonical` with the kernel's default metric
   * ("10.244.1.0/24|0", "fd00::/64|1024"), built once instead of per route per reconcile.
   */
  readonly routeKey: string;

  constructor(family: 4 | 6, prefix: number, canonical: string) {
    this.family = family;
    this.prefix = prefix;
    this.canonical = canonical;
    // join() makes one flat string; a template literal makes a cons string, which V8 flattens
    // into a second copy the first time the key is hashed.
    this.routeKey = [canonical, family === 6 ? "|1024" : "|0"].join("");
  }

  /** The parsed prefix (host bits cleared). */
  get cidr(): Cidr {
    return parseCidr(this.canonical);
  }

  /** "10.244.1.0": the network address. */
  get network(): string {
    return this.canonical.slice(0, this.canonical.lastIndexOf("/"));
  }
}

const ips = new Map<string, IpInfo | null>();
const cidrs = new Map<string, CidrInfo | null>();

/** tryParseIp() + formatIp(), memoised; undefined for anything that is not an address. */
export function ipInfo(text: string): IpInfo | undefined {
  let v = ips.get(text);
  if (v === undefined) {
    const ip = tryParseIp(text);
    v = ip ? { ip, text: formatIp(ip), v4: ip.family === 4 ? Number(ip.value) : -1 } : null;
    if (ips.size >= LIMIT) ips.clear();
    ips.set(text, v);
  }
  return v ?? undefined;
}

/** tryParseCidr() + canonical text, memoised; undefined for anything that is not a prefix. */
export function cidrInfo(text: string): CidrInfo | undefined {
  let v = cidrs.get(text);
  if (v === undefined) {
    const c = typeof text === "string" && text.includes("/") ? tryParseCidr(text) : undefined;
    if (c) {
      const canonical = `${formatIp(networkOf(c))}/${c.prefix}`;
      v = new CidrInfo(c.family, c.prefix, canonical === text ? text : canonical);
    } else v = null;
    if (cidrs.size >= LIMIT) cidrs.clear();
    cidrs.set(text, v);
  }
  return v ?? undefined;
}

const macs = new Map<string, string | null>();

/** parseMac() + formatMac() (lower case, colons), memoised; undefined for a non-MAC. */
export function macText(text: string): string | undefined {
  let v = macs.get(text);
  if (v === undefined) {
    try {
      v = formatMac(parseMac(text));
    } catch {
      v = null;
    }
    if (macs.size >= LIMIT) macs.clear();
    macs.set(text, v);
  }
  return v ?? undefined;
}
