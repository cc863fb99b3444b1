/**
 * The Internet checksum (RFC 1071) over byte ranges, fast enough for a forwarding loop. Bytes in
 * the checksum arena (checksumArena(): WebAssembly memory the forwarding worker keeps its packet
 * buffers in) are summed by a small SIMD WebAssembly function (_sum_wasm.ts) as little-endian
 * 32-bit words (ones' complement sums commute with byte swapping, so the result is swapped back
 * once); elsewhere aligned runs go through a Uint32Array view of the same buffer; the rest byte by
 * byte. Pure; allocates only when it meets a new ArrayBuffer.
 *
 * @module
 */
import { SUM_WASM } from "./_sum_wasm.ts";

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const PAGE = 65536;

let viewOf: ArrayBufferLike | undefined;
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
let arenaBuffer: ArrayBufferLike | undefined;
let wasmSum: ((p: number, n: number) => number) | undefined;

function wordsOf(b: Uint8Array): Uint32Array {
  if (b.buffer !== viewOf) {
    viewOf = b.buffer;
    words = new Uint32Array(b.buffer, 0, Math.floor(b.buffer.byteLength / 4));
  }
  return words;
}

/**
 * `bytes` bytes of WebAssembly memory whose ranges sum16() sums with SIMD (several times the
 * speed of the plain path): the forwarding worker lays its packet buffers out in it. The memory
 * never grows, so its address stays put (FFI calls may point into it). A new arena replaces the
 * previous one as the fast one.
 */
export function checksumArena(bytes: number): Uint8Array<ArrayBuffer> {
  const mem = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE)) });
  const mod = new WebAssembly.Module(SUM_WASM);
  const inst = new WebAssembly.Instance(mod, { m: { mem } });
  wasmSum = inst.exports.sum as (p: number, n: number) => number;
  arenaBuffer = mem.buffer;
  return new Uint8Array(mem.buffer as ArrayBuffer, 0, bytes); // not shared: an ArrayBuffer
}

/**
 * Folds a non-negative integer sum (below 2^53) to 16 bits with end-around carries. Integer
 * operations only (a double `%` is a libm call): 2^32 and 2^16 are both 1 modulo 0xffff.
 */
export function fold16(sum: number): number {
  let s = sum;
  if (s > 0xffffffff) s = Math.floor(s / 0x100000000) + (s >>> 0); // below 2^33
  s = (s & 0xffff) + ((s / 0x10000) | 0); // & and | 0 take it modulo 2^32: exact below 2^34
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/**
 * The ones' complement sum of the big-endian 16-bit words of `b[off, off+len)` (an odd last byte
 * padded with zero), plus `init`, folded to 16 bits and not complemented. `~sum16(...) & 0xffff`
 * is the checksum to store; a range that holds a correct checksum sums to 0xffff.
 */
export function sum16(b: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  let i = off;
  const end = off + len;
  const arena = b.buffer === arenaBuffer && off >= 0 && end <= b.length && len <= 1 << 21;
  if (LITTLE_ENDIAN && len >= 64 && arena) {
    const n = len & ~31;
    const le = fold16(wasmSum!(b.byteOffset + i, n));
    s += ((le & 0xff) << 8) | (le >> 8);
    i += n;
  } else if (LITTLE_ENDIAN && len >= 32 && ((b.byteOffset + i) & 1) === 0) {
    if (((b.byteOffset + i) & 2) !== 0) {
      s += (b[i]! << 8) | b[i + 1]!;
      i += 2;
    }
    const u = wordsOf(b);
    let w = (b.byteOffset + i) >> 2;
    const n = (end - i) >> 2;
    const wEnd = w + n;
    let a = 0, c = 0, d = 0, e = 0; // four independent sums: the loads overlap
    for (; w + 3 < wEnd; w += 4) {
      a += u[w]!;
      c += u[w + 1]!;
      d += u[w + 2]!;
      e += u[w + 3]!;
    }
    for (; w < wEnd; w++) a += u[w]!;
    i += n * 4;
    const le = fold16(a + c + d + e);
    s += ((le & 0xff) << 8) | (le >> 8);
  }
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  return fold16(s);
}

/**
 * The (unfolded) pseudo-header sum of a TCP or UDP segment in the IPv4 packet at `ip`: source
 * and destination address, protocol `proto`, and the transport length `len`.
 */
export function pseudoSum4(b: Uint8Array, ip: number, proto: number, len: number): number {
  let s = proto + len;
  for (let i = ip + 12; i < ip + 20; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  return s;
}

/** Recomputes the header checksum of the IPv4 packet at `ip` (header length from its IHL). */
export function setIpv4Checksum(b: Uint8Array, ip: number): void {
  const ihl = (b[ip]! & 15) * 4;
  b[ip + 10] = 0;
  b[ip + 11] = 0;
  const c = ~sum16(b, ip, ihl) & 0xffff;
  b[ip + 10] = c >> 8;
  b[ip + 11] = c & 0xff;
}

/** Writes the 16-bit value `v` big-endian at `at`. */
export function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

/** Reads a big-endian 16-bit value at `at`. */
export function get16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/** Reads a big-endian 32-bit value at `at` (unsigned). */
export function get32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Writes the 32-bit value `v` big-endian at `at`. */
export function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
