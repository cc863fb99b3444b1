/**
 * Test fixtures for the offload code (segment.ts, coalesce.ts): TCP/IPv4 packets built field by
 * field with a naive byte-by-byte Internet checksum, independent of checksum.ts. Tests only.
 *
 * @module
 */

/** xorshift32: a seeded generator, so a failure replays. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** RFC 1071 the slow way: 16-bit big-endian words, byte by byte, carries folded at the end. */
export function naiveSum(bytes: ArrayLike<number>, init = 0): number {
  let s = init;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The pseudo-header sum of a TCP segment of `tcpLen` bytes in IPv4 packet `p`. */
export function naivePseudo(p: Uint8Array, tcpLen: number): number {
  return naiveSum([...p.subarray(12, 20), 0, 6, tcpLen >> 8, tcpLen & 255]);
}

/** Whether packet `p` (IHL 5) has correct IPv4 header and TCP checksums. */
export function checksumsOk(p: Uint8Array): boolean {
  const ihl = (p[0]! & 15) * 4;
  return naiveSum(p.subarray(0, ihl)) === 0xffff &&
    naiveSum(p.subarray(ihl), naivePseudo(p, p.length - ihl)) === 0xffff;
}

/** What tcpPacket() builds. */
export interface TcpSpec {
  src?: [number, number, number, number];
  dst?: [number, number, number, number];
  sport?: number;
  dport?: number;
  seq: number;
  ack?: number;
  flags?: number;
  window?: number;
  id?: number;
  ttl?: number;
  tos?: number;
  /** TCP option bytes (a multiple of 4): default NOP NOP timestamp. */
  options?: number[];
  payload: Uint8Array;
  /** Leave the TCP checksum as this value instead of computing it. */
  tcpChecksum?: number;
}

/** Timestamps option (NOP, NOP, kind 8 len 10, two values). */
export const TIMESTAMPS = [1, 1, 8, 10, 0, 0, 1, 2, 0, 0, 3, 4];

/** A TCP/IPv4 packet (DF set, IHL 5) with both checksums computed naively. */
export function tcpPacket(s: TcpSpec): Uint8Array {
  const opts = s.options ?? TIMESTAMPS;
  const thl = 20 + opts.length;
  const p = new Uint8Array(20 + thl + s.payload.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  p[1] = s.tos ?? 0;
  v.setUint16(2, p.length);
  v.setUint16(4, s.id ?? 0x1234);
  p[6] = 0x40;
  p[8] = s.ttl ?? 64;
  p[9] = 6;
  p.set(s.src ?? [10, 244, 2, 9], 12);
  p.set(s.dst ?? [10, 244, 1, 5], 16);
  v.setUint16(20, s.sport ?? 40000);
  v.setUint16(22, s.dport ?? 5201);
  v.setUint32(24, s.seq >>> 0);
  v.setUint32(28, (s.ack ?? 777) >>> 0);
  p[32] = (thl / 4) << 4;
  p[33] = s.flags ?? 0x10;
  v.setUint16(34, s.window ?? 502);
  p.set(opts, 40);
  p.set(s.payload, 20 + thl);
  v.setUint16(10, ~naiveSum(p.subarray(0, 20)) & 0xffff);
  const tcpLen = p.length - 20;
  v.setUint16(36, s.tcpChecksum ?? (~naiveSum(p.subarray(20), naivePseudo(p, tcpLen)) & 0xffff));
  return p;
}

/** `n` pseudo-random bytes. */
export function randomBytes(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r() & 255;
  return b;
}
