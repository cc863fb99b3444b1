/**
 * A growable byte buffer for building netlink messages, reused between requests so the hot
 * path (route batches) allocates little. Everything is host order (little-endian on the
 * machines skein supports) unless the method name ends in `be`.
 *
 * @module
 */
import { NLA_TYPE_MASK } from "./consts.ts";

/** Bytes of a netlink message header (struct nlmsghdr). */
export const NLMSG_HDRLEN = 16;

/** Appends bytes; offsets returned by begin*() are patched by the matching end*(). */
export class Writer {
  buf: Uint8Array;
  dv: DataView;
  len = 0;

  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity);
    this.dv = new DataView(this.buf.buffer);
  }

  /** Forgets the content, keeps the memory. */
  reset(): void {
    this.len = 0;
  }

  /** The bytes written so far (a view, valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Reserves `n` zeroed bytes and returns their offset. */
  reserve(n: number): number {
    const off = this.len;
    const need = off + n;
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, off));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    this.buf.fill(0, off, need);
    this.len = need;
    return off;
  }

  u8(v: number): void {
    const o = this.reserve(1);
    this.dv.setUint8(o, v);
  }
  u16(v: number): void {
    const o = this.reserve(2);
    this.dv.setUint16(o, v, true);
  }
  u16be(v: number): void {
    const o = this.reserve(2);
    this.dv.setUint16(o, v, false);
  }
  u32(v: number): void {
    const o = this.reserve(4);
    this.dv.setUint32(o, v >>> 0, true);
  }
  u32be(v: number): void {
    const o = this.reserve(4);
    this.dv.setUint32(o, v >>> 0, false);
  }
  s32(v: number): void {
    const o = this.reserve(4);
    this.dv.setInt32(o, v, true);
  }
  u64(v: bigint): void {
    const o = this.reserve(8);
    this.dv.setBigUint64(o, v, true);
  }
  bytes(b: Uint8Array): void {
    const o = this.reserve(b.length); // reserve() may replace this.buf
    this.buf.set(b, o);
  }

  /** Pads with zeros to a multiple of 4. */
  align(): void {
    const pad = ((this.len + 3) & ~3) - this.len;
    if (pad) this.reserve(pad);
  }

  /** Starts an attribute (type may carry NLA_F_* bits); returns its offset for endAttr(). */
  beginAttr(type: number): number {
    if (!Number.isInteger(type) || type < 0 || type > 0xffff) {
      throw new RangeError(`Cannot encode attribute type ${type}: not a 16-bit number`);
    }
    this.align();
    const off = this.reserve(4);
    this.dv.setUint16(off + 2, type, true);
    return off;
  }

  /** Ends an attribute: sets its length (without trailing padding) and pads the buffer. */
  endAttr(off: number): void {
    const len = this.len - off;
    if (len > 0xffff) {
      const type = this.dv.getUint16(off + 2, true) & NLA_TYPE_MASK;
      throw new RangeError(`Cannot encode attribute ${type}: ${len} bytes is more than 65535`);
    }
    this.dv.setUint16(off, len, true);
    this.align();
  }

  /** Starts a message (struct nlmsghdr); returns its offset for endMsg(). */
  beginMsg(type: number, flags: number, seq: number, pid = 0): number {
    this.align();
    const off = this.reserve(NLMSG_HDRLEN);
    this.dv.setUint16(off + 4, type, true);
    this.dv.setUint16(off + 6, flags, true);
    this.dv.setUint32(off + 8, seq >>> 0, true);
    this.dv.setUint32(off + 12, pid >>> 0, true);
    return off;
  }

  /** Ends a message: sets nlmsg_len. */
  endMsg(off: number): void {
    this.align();
    this.dv.setUint32(off, this.len - off, true);
  }
}
