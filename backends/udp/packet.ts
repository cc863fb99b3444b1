/**
 * The udp backend's packet checks, pure: which node an outgoing packet goes to, and whether a
 * received datagram may enter this node. The forwarding worker (worker.ts) runs them on every
 * packet; they never throw and never read past `len`.
 *
 * Wire format (flannel's udp backend, pkg/backend/udp/proxy_amd64.c): the UDP payload is the bare
 * IPv4 packet, nothing before or after it, sent to the peer's port (8285) from this node's.
 *
 * @module
 */

/** Why a packet was dropped (the `reason` label of `skein_udp_dropped_total`). */
export const DROP_REASONS = [
  "no-route",
  "not-ipv4",
  "truncated",
  "bad-header",
  "bad-length",
  "bad-checksum",
  "unknown-source",
  "wrong-destination",
  "spoofed-source",
  "send-failed",
  "tun-write-failed",
  "bad-offload",
] as const;

/** One drop reason. */
export type DropReason = typeof DROP_REASONS[number];

/** A remote node as the worker needs it: its subnet and where to send. */
export interface Peer {
  /** Subnet network address, host order (u32). */
  readonly net: number;
  /** Subnet mask, host order (u32). */
  readonly mask: number;
  /** Prefix length of the subnet. */
  readonly prefix: number;
  /** The node's public IPv4 address, host order (u32). */
  readonly ip: number;
  /** The node's UDP port. */
  readonly port: number;
  /** Node name (for messages). */
  readonly node: string;
}

/** The lease table as the worker holds it (build it with peerTable()). */
export interface PeerTable {
  /** This node's subnet: received packets must be addressed inside it. */
  readonly self: { readonly net: number; readonly mask: number };
  /**
   * Peers by subnet network address, one map per prefix length, longest prefix first (arrays, so
   * a lookup allocates nothing: it runs on every packet).
   */
  readonly bySubnet: readonly {
    readonly mask: number;
    readonly peers: ReadonlyMap<number, Peer>;
  }[];
  /** Peers by public IP. */
  readonly byIp: ReadonlyMap<number, Peer>;
}

/** What the daemon sends the worker: the table in text form (postMessage-safe). */
export interface PeerTableSpec {
  /** This node's subnet, "10.244.1.0/24". */
  self: string;
  /** Remote leases the backend accepted. */
  peers: { subnet: string; publicIP: string; port: number; node: string }[];
}

/** "10.1.2.3" → u32 (host order), or undefined. */
export function ipv4ToU32(s: string): number | undefined {
  const p = s.split(".");
  if (p.length !== 4) return undefined;
  let v = 0;
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x) || Number(x) > 255) return undefined;
    v = v * 256 + Number(x);
  }
  return v >>> 0;
}

/** u32 → "10.1.2.3". */
export function u32ToIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** "10.244.1.0/24" → network and mask (host order), or undefined. */
export function parseSubnet4(s: string): { net: number; mask: number; prefix: number } | undefined {
  const [a, p, ...rest] = s.split("/");
  if (rest.length || a === undefined || p === undefined || !/^\d{1,2}$/.test(p)) return undefined;
  const ip = ipv4ToU32(a);
  const prefix = Number(p);
  if (ip === undefined || prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { net: (ip & mask) >>> 0, mask, prefix };
}

/** The worker's table from its text form; unparsable entries are left out (the backend checked). */
export function peerTable(spec: PeerTableSpec): PeerTable {
  const self = parseSubnet4(spec.self) ?? { net: 0xffffffff, mask: 0xffffffff };
  const byPrefix = new Map<number, Map<number, Peer>>();
  const byIp = new Map<number, Peer>();
  for (const p of spec.peers) {
    const s = parseSubnet4(p.subnet);
    const ip = ipv4ToU32(p.publicIP);
    if (!s || ip === undefined) continue;
    const peer: Peer = { ...s, ip, port: p.port, node: p.node };
    let m = byPrefix.get(s.prefix);
    if (!m) byPrefix.set(s.prefix, m = new Map());
    m.set(s.net, peer);
    byIp.set(ip, peer);
  }
  const bySubnet = [...byPrefix].sort(([a], [b]) => b - a).map(([prefix, peers]) => ({
    mask: prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0,
    peers,
  }));
  return { self: { net: self.net, mask: self.mask }, bySubnet, byIp };
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** The peer whose subnet holds `dst` (the longest prefix that does), or undefined. */
export function lookupPeer(t: PeerTable, dst: number): Peer | undefined {
  const s = t.bySubnet;
  for (let i = 0; i < s.length; i++) {
    const p = s[i]!.peers.get((dst & s[i]!.mask) >>> 0);
    if (p) return p;
  }
  return undefined;
}

/**
 * Why `b[off, off+len)` is not a sane IPv4 packet: at least 20 bytes, version 4, header length
 * 20-60 and within the packet, total length equal to `len`, and (with `checksum`) a correct
 * header checksum. undefined when sane.
 */
export function ipv4Problem(
  b: Uint8Array,
  off: number,
  len: number,
  checksum = true,
): DropReason | undefined {
  if (len < 20 || off < 0 || off + len > b.length) return "truncated";
  const vihl = b[off]!;
  if (vihl >> 4 !== 4) return "not-ipv4";
  const ihl = (vihl & 15) * 4;
  if (ihl < 20 || ihl > len) return "bad-header";
  if (((b[off + 2]! << 8) | b[off + 3]!) !== len) return "bad-length";
  if (!checksum) return undefined;
  let sum = 0;
  for (let i = 0; i < ihl; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff ? undefined : "bad-checksum";
}

/**
 * Where a packet read from the TUN device goes: the peer owning its destination, or why it is
 * dropped ("not-ipv4", "truncated", "no-route": no lease holds the destination).
 */
export function routeOutbound(
  t: PeerTable,
  b: Uint8Array,
  off: number,
  len: number,
): Peer | DropReason {
  if (len < 20 || off < 0 || off + len > b.length) return "truncated";
  if (b[off]! >> 4 !== 4) return "not-ipv4";
  return lookupPeer(t, readU32(b, off + 16)) ?? "no-route";
}

/**
 * Whether a datagram from `srcIp` (host order) carrying `b[off, off+len)` may be written into the
 * TUN device: the sender is a known node, the packet is sane IPv4, its destination is inside this
 * node's subnet and its source inside the sender's. undefined: accept.
 */
export function checkInbound(
  t: PeerTable,
  srcIp: number,
  b: Uint8Array,
  off: number,
  len: number,
): DropReason | undefined {
  const peer = t.byIp.get(srcIp);
  if (!peer) return "unknown-source";
  const bad = ipv4Problem(b, off, len);
  if (bad) return bad;
  if (((readU32(b, off + 16) & t.self.mask) >>> 0) !== t.self.net) return "wrong-destination";
  if (((readU32(b, off + 12) & peer.mask) >>> 0) !== peer.net) return "spoofed-source";
  return undefined;
}
