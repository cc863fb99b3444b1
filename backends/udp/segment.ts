/**
 * Outbound offload, pure: what the TUN device hands the worker when it is opened with
 * IFF_VNET_HDR and TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO4) and how it becomes flannel's wire
 * format (one inner IPv4 packet per datagram).
 *
 * Every read starts with a `struct virtio_net_hdr` (10 bytes, little-endian on x86). A TCP
 * super-packet (`gso_type` GSO_TCPV4, up to 64 KiB) is cut here into `gso_size`-byte payloads,
 * each behind a copy of the headers with its own IPv4 total length, id (+1 per segment) and header
 * checksum, TCP sequence number, flags (FIN/PSH only on the last segment, CWR only on the first)
 * and full TCP checksum, as the kernel's tcp_gso_segment() would. A single packet flagged
 * NEEDS_CSUM (CHECKSUM_PARTIAL) gets its transport checksum completed. wireguard-go's
 * tun/offload_linux.go (gsoSplit, gsoNoneChecksum) does the same in Go.
 *
 * @module
 */
import { get16, get32, pseudoSum4, put16, put32, setIpv4Checksum, sum16 } from "./checksum.ts";

/** sizeof(struct virtio_net_hdr): the prefix of every TUN read and write with IFF_VNET_HDR. */
export const VNET_HDR_LEN = 10;
/** virtio_net_hdr.flags: the transport checksum is partial (CHECKSUM_PARTIAL). */
export const VNET_F_NEEDS_CSUM = 1;
/** virtio_net_hdr.gso_type: not a super-packet. */
export const GSO_NONE = 0;
/** virtio_net_hdr.gso_type: a TCP/IPv4 super-packet. */
export const GSO_TCPV4 = 1;
/** Flag on gso_type: the super-packet carries ECN (CWR on its first segment). */
export const GSO_ECN = 0x80;

const TCP = 6;
const FIN = 0x01;
const PSH = 0x08;
const CWR = 0x80;

/** The fields of a virtio_net_hdr the worker uses. */
export interface VnetHdr {
  flags: number;
  gsoType: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** Reads a virtio_net_hdr at `at` into `out` (reused: allocates nothing). */
export function readVnetHdr(b: Uint8Array, at: number, out: VnetHdr): VnetHdr {
  out.flags = b[at]!;
  out.gsoType = b[at + 1]!;
  out.gsoSize = b[at + 4]! | (b[at + 5]! << 8);
  out.csumStart = b[at + 6]! | (b[at + 7]! << 8);
  out.csumOffset = b[at + 8]! | (b[at + 9]! << 8);
  return out;
}

/**
 * Writes a virtio_net_hdr at `at`: for a TCP/IPv4 super-packet whose headers take `hdrLen` bytes
 * (IPv4 header `ipHdrLen`) and whose segments carry `gsoSize` bytes each, or all zeros (a plain
 * packet) when `gsoSize` is 0.
 */
export function writeVnetHdr(
  b: Uint8Array,
  at: number,
  gso: { hdrLen: number; ipHdrLen: number; gsoSize: number },
): void {
  b.fill(0, at, at + VNET_HDR_LEN);
  if (gso.gsoSize === 0) return;
  b[at] = VNET_F_NEEDS_CSUM;
  b[at + 1] = GSO_TCPV4;
  b[at + 2] = gso.hdrLen & 0xff;
  b[at + 3] = gso.hdrLen >> 8;
  b[at + 4] = gso.gsoSize & 0xff;
  b[at + 5] = gso.gsoSize >> 8;
  b[at + 6] = gso.ipHdrLen;
  b[at + 8] = 16; // csum_offset: the TCP checksum field
}

/**
 * Completes a partial transport checksum (NEEDS_CSUM without GSO): the field at
 * `csumStart + csumOffset` holds the pseudo-header sum; the ones' complement of the sum from
 * `csumStart` to the end goes there. False (nothing changed) when the offsets do not fit `len`.
 */
export function completeChecksum(
  b: Uint8Array,
  off: number,
  len: number,
  csumStart: number,
  csumOffset: number,
): boolean {
  const at = csumStart + csumOffset;
  if (csumStart >= len || at + 2 > len) return false;
  const c = ~sum16(b, off + csumStart, len - csumStart) & 0xffff;
  put16(b, off + at, c);
  return true;
}

/** IPv4 + TCP header length of the TCP/IPv4 packet at `off` (`len` bytes), or -1 when not one. */
function tcp4Headers(b: Uint8Array, off: number, len: number): number {
  if (len < 40 || b[off]! >> 4 !== 4 || b[off + 9]! !== TCP) return -1;
  const ihl = (b[off]! & 15) * 4;
  if (ihl < 20 || ihl + 20 > len) return -1;
  if ((b[off + 6]! & 0x3f) !== 0 || b[off + 7]! !== 0) return -1; // MF or fragment offset
  const thl = (b[off + ihl + 12]! >> 4) * 4;
  if (thl < 20 || ihl + thl > len) return -1;
  return ihl + thl;
}

/** Length in bytes of segmentTcp4()'s output for a `len`-byte super-packet, or -1 when malformed. */
export function segmentedLength(b: Uint8Array, off: number, len: number, gsoSize: number): number {
  const hdr = tcp4Headers(b, off, len);
  if (hdr < 0 || gsoSize <= 0) return -1;
  const payload = len - hdr;
  const n = Math.max(1, Math.ceil(payload / gsoSize));
  return payload + n * hdr;
}

/** Fixes the headers of the segment at `at` (payload `pay` bytes, index `i` of `n`). */
function finishSegment(
  b: Uint8Array,
  at: number,
  ihl: number,
  hdr: number,
  pay: number,
  i: number,
  n: number,
  id0: number,
  seq0: number,
  gsoSize: number,
): void {
  const t = at + ihl;
  put16(b, at + 2, hdr + pay);
  put16(b, at + 4, (id0 + i) & 0xffff);
  setIpv4Checksum(b, at);
  put32(b, t + 4, (seq0 + i * gsoSize) >>> 0);
  if (i < n - 1) b[t + 13]! &= ~(FIN | PSH);
  if (i > 0) b[t + 13]! &= ~CWR;
  b[t + 16] = 0;
  b[t + 17] = 0;
  const tcpLen = hdr - ihl + pay;
  put16(b, t + 16, ~sum16(b, t, tcpLen, pseudoSum4(b, at, TCP, tcpLen)) & 0xffff);
}

/**
 * Cuts the TCP/IPv4 super-packet `b[off, off+len)` in place into segments of `gsoSize` payload
 * bytes (the last shorter), back to back from `off`, each a complete IPv4 packet with correct
 * checksums (see the module doc). The buffer must have room for segmentedLength() bytes from
 * `off`. Returns that length, or -1 (nothing changed) when the packet is not TCP/IPv4 with sane
 * headers or `gsoSize` is 0. A packet that fits one segment is just finished (lengths, checksums).
 */
export function segmentTcp4(b: Uint8Array, off: number, len: number, gsoSize: number): number {
  const out = segmentedLength(b, off, len, gsoSize);
  if (out < 0 || off + out > b.length) return -1;
  const ihl = (b[off]! & 15) * 4;
  const hdr = tcp4Headers(b, off, len);
  const payload = len - hdr;
  const n = Math.max(1, Math.ceil(payload / gsoSize));
  const id0 = get16(b, off + 4), seq0 = get32(b, off + ihl + 4);
  const seg = hdr + gsoSize;
  for (let i = n - 1; i >= 1; i--) {
    const pay = Math.min(gsoSize, payload - i * gsoSize);
    const at = off + i * seg;
    b.copyWithin(at + hdr, off + hdr + i * gsoSize, off + hdr + i * gsoSize + pay);
    b.copyWithin(at, off, off + hdr);
    finishSegment(b, at, ihl, hdr, pay, i, n, id0, seq0, gsoSize);
  }
  finishSegment(b, off, ihl, hdr, Math.min(gsoSize, payload), 0, n, id0, seq0, gsoSize);
  return out;
}
