/**
 * Ports in the packet model of the nftables verdict (nft_eval.ts) and of the iptables matches
 * (xt_match.ts, xt_legacy.ts): a UDP or TCP packet's source and destination port are a number when
 * known (the udp backend's socket is bound to its port: its packets go from 8285 to 8285; BGP is
 * TCP 179), a range when only that is known (a client's ephemeral port: ip_local_port_range), or
 * not known at all (VXLAN's source port is a hash of the inner flow). A match on a port that is not
 * known is not judged; on a range it is judged when the range lies wholly inside or outside what
 * the rule names. Pure.
 *
 * @module
 */
import type { Packet } from "./nft_eval.ts";

/** A port known only to lie between `min` and `max` (both included). */
export interface PortRange {
  min: number;
  max: number;
}

/** A port: a number, or a range when only that is known. */
export type Port = number | PortRange;

/** Linux's default ip_local_port_range, the ephemeral ports a client's connect() picks from. */
export const EPHEMERAL_DEFAULT: Readonly<PortRange> = { min: 32768, max: 60999 };

/** Whether `v` is a range (not a number, a name or an address). */
export function isPortRange(v: unknown): v is PortRange {
  return typeof v === "object" && v !== null && typeof (v as PortRange).min === "number" &&
    typeof (v as PortRange).max === "number";
}

/** The port in words: "179", "32768-60999". */
export function portText(p: Port): string {
  return typeof p === "number" ? String(p) : `${p.min}-${p.max}`;
}

/**
 * `net.ipv4.ip_local_port_range` as the kernel prints it ("32768\t60999") as a range; undefined
 * when it cannot be read.
 */
export function parsePortRange(text: string | undefined): PortRange | undefined {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text ?? "");
  if (!m) return undefined;
  const min = Number(m[1]), max = Number(m[2]);
  return min <= max && max <= 65535 ? { min, max } : undefined;
}

/**
 * Whether port `p` lies in `lo`..`hi`: undefined when `p` is not known, or a range that lies
 * partly inside.
 */
export function portIn(p: Port | undefined, lo: number, hi: number): boolean | undefined {
  if (p === undefined) return undefined;
  if (typeof p === "number") return p >= lo && p <= hi;
  if (p.max < lo || p.min > hi) return false;
  return p.min >= lo && p.max <= hi ? true : undefined;
}

/**
 * A range against one element of nft's right-hand side (a port, or `{"range": [a, b]}`): true
 * when every port of it is the element's, false when none is, else "unknown".
 */
export function rangeMember(right: unknown, r: PortRange): boolean | "unknown" {
  const range = (right as { range?: unknown[] } | null)?.range;
  const [lo, hi] = typeof right === "number"
    ? [right, right]
    : Array.isArray(range)
    ? [Number(range[0]), Number(range[1])]
    : [NaN, NaN];
  if (Number.isNaN(lo) || Number.isNaN(hi)) return "unknown"; // a service name, a prefix
  return portIn(r, lo, hi) ?? "unknown";
}

/**
 * An iptables port list (`8285`, `1000:2000`, multiport's `179,1000:2000`) against port `p`:
 * undefined when `p` is not known or the list cannot be read, or one item may hold and none does.
 */
export function portListHolds(list: string, p: Port | undefined): boolean | undefined {
  let unknown = false;
  for (const item of list.split(",")) {
    // `A`, `A:B`, and the open ends `:B` (from 0) and `A:` (to 65535).
    const m = /^(\d*)(:(\d*))?$/.exec(item);
    if (!m || (!m[1] && !m[2])) return undefined;
    const lo = m[1] ? Number(m[1]) : 0;
    const hit = portIn(p, lo, m[2] ? (m[3] ? Number(m[3]) : 65535) : lo);
    if (hit === true) return true;
    if (hit === undefined) unknown = true;
  }
  return unknown ? undefined : false;
}

/** The port options of the tcp, udp and multiport matches (iptables-save's words and aliases). */
export const PORT_OPTIONS: ReadonlySet<string> = new Set([
  "--sport",
  "--source-port",
  "--sports",
  "--source-ports",
  "--dport",
  "--destination-port",
  "--dports",
  "--destination-ports",
  "--ports",
]);

/**
 * Whether port option `opt` (PORT_OPTIONS) with value `v` (`N`, `N:M`, multiport's list) holds
 * for `p`; undefined when its port is not known (a VXLAN source port) or only partly in the list.
 * A packet without ports (ICMP) fails it.
 */
export function portOptionHolds(
  opt: string,
  v: string,
  p: Pick<Packet, "l4proto" | "sport" | "dport">,
): boolean | undefined {
  if (p.l4proto !== "udp" && p.l4proto !== "tcp") return false;
  if (opt === "--ports") {
    const s = portListHolds(v, p.sport), d = portListHolds(v, p.dport);
    return s === true || d === true ? true : s === false && d === false ? false : undefined;
  }
  return portListHolds(v, opt.startsWith("--s") ? p.sport : p.dport);
}
