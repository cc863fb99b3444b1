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

/** A parsed prefix with its canonical text and network address text. */
export interface CidrInfo {
  cidr: Cidr;
  /** "10.244.1.0/24" (host bits cleared). */
  canonical: string;
  /** "10.244.1.0": the network address. */
  network: string;
  /**
   * The reconciler's key for a route to `canonical` with the kernel's default metric
   * ("10.244.1.0/24|0", "fd00::/64|1024"), built once instead of per route per reconcile.
   */
  routeKey: string;
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
      const network = formatIp(networkOf(c));
      const canonical = `${network}/${c.prefix}`;
      v = { cidr: c, canonical, network, routeKey: `${canonical}|${c.family === 6 ? 1024 : 0}` };
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
