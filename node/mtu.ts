/**
 * MTU facts several features share: the bounds of a link MTU, and how many bytes each
 * encapsulation adds per packet over an IPv4 or IPv6 underlay. The backend table
 * (backends/registry.ts) takes its overheads from here; the daemon's pod MTU is the uplink's
 * minus the overhead, and `skein diagnose` checks pod MTUs against the same numbers.
 *
 * @module
 */

/** The smallest MTU an IPv4 link may have (RFC 791); the kernel refuses less. */
export const MIN_MTU = 68;
/** The largest MTU a link may be given through netlink and the lease file. */
export const MAX_MTU = 65535;

/** True for an integer MTU in MIN_MTU..MAX_MTU. */
export function isMtu(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= MIN_MTU && v <= MAX_MTU;
}

/**
 * Bytes an encapsulation adds to every packet, by underlay family. A family without an entry is
 * an underlay the encapsulation cannot use.
 *
 * | encapsulation | IPv4 underlay | IPv6 underlay | what                                        |
 * | ------------- | ------------- | ------------- | ------------------------------------------- |
 * | none          | 0             | 0             | plain routing (host-gw)                     |
 * | vxlan         | 50            | 70            | outer IP 20/40 + UDP 8 + VXLAN 8 + inner Ethernet 14 |
 * | ipip          | 20            | -             | outer IPv4 header                           |
 * | udp           | 28            | 48            | outer IP 20/40 + UDP 8 (flannel's udp backend) |
 */
export const ENCAP_OVERHEAD = {
  none: { 4: 0, 6: 0 },
  vxlan: { 4: 50, 6: 70 },
  ipip: { 4: 20 },
  udp: { 4: 28, 6: 48 },
} as const satisfies Readonly<Record<string, Readonly<Partial<Record<4 | 6, number>>>>>;

/** An encapsulation of ENCAP_OVERHEAD. */
export type Encapsulation = keyof typeof ENCAP_OVERHEAD;
