/**
 * Whether a tc u32 selector matches one IPv4 packet, from the fields diagnose knows of it: the
 * version and header length, protocol, addresses, and the ICMP type and code or the UDP/TCP
 * destination port. A key on anything else (TTL, id, length, checksum, a source port, a
 * variable offset) cannot be judged: "unknown".
 *
 * @module
 */
import { ipv4Number } from "./context.ts";

/** The packet as diagnose knows it. */
export interface U32Packet {
  src: string;
  dst: string;
  /** IP protocol: 1 ICMP, 4 IPIP, 6 TCP, 17 UDP. */
  proto: number;
  /** UDP/TCP destination port. */
  dport?: number;
  /** ICMP type and code (echo request: 8, 0). */
  icmp?: { type: number; code: number };
}

/** One u32 key: `(32-bit word at offset & mask) === value`, offsets from the network header. */
export interface U32Key {
  mask: number;
  value: number;
  offset: number;
  offmask: number;
}

/** The 32-bit word at byte `offset` of the packet, and which of its bits are known. */
function word(p: U32Packet, offset: number): { value: number; known: number } {
  switch (offset) {
    case 0:
      return { value: 0x45000000, known: 0xff000000 }; // version 4, IHL 5; TOS, length unknown
    case 8:
      return { value: (p.proto & 0xff) << 16, known: 0x00ff0000 };
    case 12:
      return { value: ipv4Number(p.src) ?? 0, known: ipv4Number(p.src) === undefined ? 0 : ~0 };
    case 16:
      return { value: ipv4Number(p.dst) ?? 0, known: ipv4Number(p.dst) === undefined ? 0 : ~0 };
    case 20:
      if (p.icmp) {
        return { value: (p.icmp.type << 24) | (p.icmp.code << 16), known: 0xffff0000 };
      }
      if (p.dport !== undefined) return { value: p.dport & 0xffff, known: 0x0000ffff };
      return { value: 0, known: 0 };
    default:
      return { value: 0, known: 0 };
  }
}

/** Whether every key holds for `p` (true), one does not (false), or a key cannot be judged. */
export function u32Matches(
  keys: readonly U32Key[],
  variableOffset: boolean,
  p: U32Packet,
): boolean | "unknown" {
  let unknown = false;
  for (const k of keys) {
    if (k.mask === 0) continue;
    if (variableOffset || k.offmask !== 0 || k.offset % 4 !== 0) {
      unknown = true;
      continue;
    }
    const w = word(p, k.offset);
    if (((k.mask & ~w.known) >>> 0) !== 0) {
      unknown = true;
      continue;
    }
    if (((w.value & k.mask) >>> 0) !== (k.value >>> 0)) return false;
  }
  return unknown ? "unknown" : true;
}
