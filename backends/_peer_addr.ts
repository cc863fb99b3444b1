/**
 * What another node may publish as its underlay address (a lease's PublicIP, the next hop or
 * tunnel endpoint this node sends to) and as its VTEP MAC (the FDB entry and neighbour this node
 * programs). A lease publishing something the kernel refuses, or that would send the pods' packets
 * to this node itself, to a multicast group or to a whole LAN, is refused up front with the reason
 * (checkLeases(), vxlanDesired(), OnLink.edge()) instead of failing in the kernel on every
 * reconcile.
 *
 * Not refused: link-local addresses (169.254.0.0/16, fe80::/10). The kernel takes them as a
 * gateway and as a VXLAN remote, and underlays do use them (unnumbered and point-to-point links,
 * labs); host-gw's on-link test already asks that they be on the uplink's network.
 *
 * @module
 */
import type { Ip } from "../net/cidr.ts";

/** [network, prefix length, what it is] of the IPv4 ranges no node can be reached at. */
const V4_REFUSED: readonly [number, number, string][] = [
  [0x00000000, 8, 'in 0.0.0.0/8 ("this network", never a destination)'],
  [0x7f000000, 8, "a loopback address (127.0.0.0/8): this node itself"],
  [0xe0000000, 4, "a multicast address (224.0.0.0/4)"],
  [0xf0000000, 4, "a reserved address (240.0.0.0/4)"],
];

/**
 * Why `ip` cannot be another node's underlay address, or undefined when it can:
 * IPv4 0.0.0.0/8, 127.0.0.0/8 (loopback), 224.0.0.0/4 (multicast), 240.0.0.0/4 (reserved, with
 * the limited broadcast 255.255.255.255); IPv6 :: (unspecified), ::1 (loopback), ff00::/8
 * (multicast), ::ffff:0:0/96 (IPv4-mapped).
 *
 * @example
 * ```ts
 * import { parseIp } from "../net/cidr.ts";
 * nodeIpProblem(parseIp("192.168.1.12")); // undefined
 * nodeIpProblem(parseIp("224.0.0.1")); // "a multicast address (224.0.0.0/4)"
 * ```
 */
export function nodeIpProblem(ip: Ip): string | undefined {
  if (ip.family === 4) {
    const v = Number(ip.value);
    if (v === 0xffffffff) return "the limited broadcast address 255.255.255.255";
    for (const [net, len, what] of V4_REFUSED) {
      if (v >>> (32 - len) === net >>> (32 - len)) return what;
    }
    return undefined;
  }
  const v = ip.value;
  if (v === 0n) return "the unspecified address ::";
  if (v === 1n) return "the loopback address ::1: this node itself";
  if (v >> 120n === 0xffn) return "a multicast address (ff00::/8)";
  if (v >> 32n === 0xffffn) return "an IPv4-mapped address (::ffff:0:0/96)";
  return undefined;
}

/**
 * Why `mac` (normalised: lower case with colons, as macText() gives it) cannot be a VTEP MAC, or
 * undefined when it can: the kernel refuses an FDB entry for the all-zero MAC or a multicast one
 * (ff:ff:ff:ff:ff:ff included) with EOPNOTSUPP. Works on the text: asked per lease per reconcile.
 */
export function vtepMacTextProblem(mac: string): string | undefined {
  if (mac === "00:00:00:00:00:00") return "the all-zero MAC";
  if (mac === "ff:ff:ff:ff:ff:ff") return "the broadcast MAC";
  if (parseInt(mac.slice(0, 2), 16) & 1) return "a multicast MAC (the first byte is odd)";
  return undefined;
}

/**
 * Why the IPv4 address `v4` (a 32-bit number) is the network or the broadcast address of the
 * prefix `network`/`prefix` (so not a next hop the kernel takes: "Nexthop has invalid gateway"),
 * or undefined. Prefixes /31 and /32 have neither (RFC 3021).
 */
export function prefixEdgeProblem(v4: number, network: number, prefix: number): string | undefined {
  if (prefix >= 31) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const base = (network & mask) >>> 0;
  if (((v4 & mask) >>> 0) !== base) return undefined;
  const broadcast = (base | ~mask) >>> 0;
  if (v4 === base) return "the network address";
  if (v4 === broadcast) return "the broadcast address";
  return undefined;
}
