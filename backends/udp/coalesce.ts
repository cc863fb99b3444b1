/**
 * Inbound offload, pure: the inner packets of one received buffer (one datagram, or a run of
 * them from UDP_GRO, back to back) checked one by one and, where they are consecutive in-order
 * segments of one TCP flow, merged into one super-packet the TUN device takes with a GSO_TCPV4
 * virtio_net_hdr: one write instead of dozens, and the pod's TCP stack sees one big segment.
 *
 * Segments merge, as in the kernel's tcp_gro_receive() and wireguard-go's tcpGRO(), only when:
 * IPv4 without options, not fragmented, total length = its size; TCP flags exactly ACK (PSH allowed, and it ends the run);
 * same addresses, ports, ack, window, TOS, TTL, DF, TCP header length and option bytes; the
 * sequence number continues the run; every earlier segment carried the first one's payload size
 * and this one no more; the result fits 64 KiB; and the TCP checksum of every merged segment is
 * correct (the merged packet is handed over with a partial checksum the kernel completes, so a
 * corrupt segment must not hide in it: it is written alone, and the kernel drops it). Anything
 * else is written as it came.
 *
 * Merging moves payloads back in the buffer over the headers of the merged segments (after they
 * were checked); nothing is allocated per packet.
 *
 * @module
 */
import { fold16, get16, get32, pseudoSum4, put16, setIpv4Checksum, sum16 } from "./checksum.ts";

const ACK = 0x10;
const PSH = 0x08;
const TCP = 6;

/** What coalesce() hands on, in order. */
export interface CoalesceSink {
  /** `b[off, off+len)` is one packet to write as it is. */
  plain(off: number, len: number): void;
  /**
   * `b[off, off+len)` is a TCP/IPv4 super-packet merged from `count` segments: write it with a
   * GSO_TCPV4 header (`hdrLen` bytes of headers, `gsoSize` payload bytes per segment, the TCP
   * checksum field holding the pseudo-header sum: NEEDS_CSUM).
   */
  merged(off: number, len: number, hdrLen: number, gsoSize: number, count: number): void;
}

/** Headers length of a TCP/IPv4 packet that may merge, or -1 (see the module doc). */
export function mergeableHeaders(b: Uint8Array, o: number, l: number): number {
  if (l < 41 || b[o]! !== 0x45 || b[o + 9]! !== TCP || get16(b, o + 2) !== l) return -1;
  if ((b[o + 6]! & 0x3f) !== 0 || b[o + 7]! !== 0) return -1;
  const flags = b[o + 33]!;
  if (flags !== ACK && flags !== (ACK | PSH)) return -1;
  const hdr = 20 + (b[o + 32]! >> 4) * 4;
  return hdr >= 40 && hdr < l ? hdr : -1;
}

/** Whether the TCP checksum of the TCP/IPv4 packet `b[o, o+l)` (IHL 5) is correct. */
export function tcp4ChecksumOk(b: Uint8Array, o: number, l: number): boolean {
  return sum16(b, o + 20, l - 20, pseudoSum4(b, o, TCP, l - 20)) === 0xffff;
}

function sameBytes(b: Uint8Array, x: number, y: number, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[x + i] !== b[y + i]) return false;
  return true;
}

/** Walks received buffers and merges TCP runs (see the module doc); one per worker. */
export class Coalescer {
  #accept: (off: number, len: number) => boolean;
  #sink: CoalesceSink;
  #b: Uint8Array = new Uint8Array(0);
  #head = -1;
  #end = 0;
  #hdr = 0;
  #gso = 0;
  #last = 0;
  #next = 0;
  #count = 0;
  #verified = false;

  /**
   * `accept(off, len)` checks one inner packet (and counts it when it refuses); `sink` writes
   * what comes out.
   */
  constructor(accept: (off: number, len: number) => boolean, sink: CoalesceSink) {
    this.#accept = accept;
    this.#sink = sink;
  }

  /**
   * Handles `b[off, off+len)`: packets of `seg` bytes back to back (the last shorter; `seg` 0: one
   * packet). With `merge` false every accepted packet goes out as it is.
   */
  run(b: Uint8Array, off: number, len: number, seg: number, merge = true): void {
    this.#b = b;
    const step = seg > 0 && seg < len ? seg : len;
    for (let o = off; o < off + len; o += step) {
      const l = Math.min(step, off + len - o);
      if (!this.#accept(o, l)) continue;
      const hdr = merge ? mergeableHeaders(b, o, l) : -1;
      if (hdr < 0) {
        this.#flush();
        this.#sink.plain(o, l);
      } else if (this.#fits(o, l, hdr)) {
        this.#append(o, l, hdr);
      } else {
        this.#flush();
        this.#start(o, l, hdr);
      }
    }
    this.#flush();
  }

  #start(o: number, l: number, hdr: number): void {
    this.#head = o;
    this.#end = o + l;
    this.#hdr = hdr;
    this.#gso = this.#last = l - hdr;
    this.#next = (get32(this.#b, o + 24) + l - hdr) >>> 0;
    this.#count = 1;
    this.#verified = false;
  }

  /** Whether the segment at `o` continues the current run. */
  #fits(o: number, l: number, hdr: number): boolean {
    const b = this.#b, h = this.#head;
    if (h < 0 || hdr !== this.#hdr || (b[h + 33]! & PSH) !== 0) return false;
    const pay = l - hdr;
    if (this.#last !== this.#gso || pay > this.#gso) return false;
    if (get32(b, o + 24) !== this.#next || this.#end - h + pay > 0xffff) return false;
    if (b[o + 1] !== b[h + 1] || b[o + 8] !== b[h + 8] || (b[o + 6]! >> 5) !== (b[h + 6]! >> 5)) {
      return false;
    }
    return sameBytes(b, o, h, 12, 24) && sameBytes(b, o, h, 28, 33) &&
      sameBytes(b, o, h, 34, 36) && sameBytes(b, o, h, 38, hdr);
  }

  #append(o: number, l: number, hdr: number): void {
    const b = this.#b;
    if (!this.#verified) {
      if (!tcp4ChecksumOk(b, this.#head, this.#end - this.#head)) {
        this.#flush();
        this.#start(o, l, hdr);
        return;
      }
      this.#verified = true;
    }
    if (!tcp4ChecksumOk(b, o, l)) {
      this.#flush();
      this.#sink.plain(o, l);
      return;
    }
    const pay = l - hdr;
    const push = (b[o + 33]! & PSH) !== 0; // read before the move overwrites this header
    b.copyWithin(this.#end, o + hdr, o + l);
    this.#end += pay;
    this.#last = pay;
    this.#next = (this.#next + pay) >>> 0;
    this.#count++;
    if (push) {
      b[this.#head + 33]! |= PSH;
      this.#flush();
    }
  }

  #flush(): void {
    const h = this.#head;
    if (h < 0) return;
    this.#head = -1;
    const len = this.#end - h;
    if (this.#count === 1) {
      this.#sink.plain(h, len);
      return;
    }
    const b = this.#b;
    put16(b, h + 2, len);
    setIpv4Checksum(b, h);
    put16(b, h + 36, fold16(pseudoSum4(b, h, TCP, len - 20)));
    this.#sink.merged(h, len, this.#hdr, this.#gso, this.#count);
  }
}
