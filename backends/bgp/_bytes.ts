/**
 * Byte helpers for the BGP codec (module-internal): a growable big-endian writer, and prefix
 * and address conversions between wire bytes and canonical text ("10.0.0.0/24", "2001:db8::/48").
 *
 * @module
 */

import {
  AddressParseError,
  formatIp,
  ipFromBytes,
  ipToBytes,
  parseCidr,
  parseIp,
} from "../../net/cidr.ts";
import { BgpEncodeError } from "./errors.ts";

/** A growable big-endian byte writer. */
export class ByteWriter {
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(256);
  #len = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  /** Appends one octet. */
  u8(v: number): this {
    this.#room(1);
    this.#buf[this.#len++] = v & 0xff;
    return this;
  }

  /** Appends a 16-bit big-endian integer. */
  u16(v: number): this {
    this.#room(2);
    this.#buf[this.#len++] = (v >>> 8) & 0xff;
    this.#buf[this.#len++] = v & 0xff;
    return this;
  }

  /** Appends a 32-bit big-endian integer. */
  u32(v: number): this {
    this.#room(4);
    this.#buf[this.#len++] = (v >>> 24) & 0xff;
    this.#buf[this.#len++] = (v >>> 16) & 0xff;
    this.#buf[this.#len++] = (v >>> 8) & 0xff;
    this.#buf[this.#len++] = v & 0xff;
    return this;
  }

  /** Appends bytes. */
  bytes(b: Uint8Array): this {
    this.#room(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  /** Overwrites a 16-bit big-endian integer at `at` (a length written after its body). */
  patch16(at: number, v: number): void {
    this.#buf[at] = (v >>> 8) & 0xff;
    this.#buf[at + 1] = v & 0xff;
  }

  /** Overwrites one octet at `at`. */
  patch8(at: number, v: number): void {
    this.#buf[at] = v & 0xff;
  }

  /** A copy of what was written. */
  finish(): Uint8Array<ArrayBuffer> {
    return this.#buf.slice(0, this.#len);
  }
}

/** Reads a 16-bit big-endian integer (the caller checked the bounds). */
export function get16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/** Reads a 32-bit big-endian unsigned integer (the caller checked the bounds). */
export function get32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;
}

/** Dotted quad of 4 bytes at `at`. */
export function v4Text(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** An address (4 or 16 bytes) as text. */
export function addressText(b: Uint8Array): string {
  return b.length === 4 ? v4Text(b, 0) : formatIp(ipFromBytes(b));
}

/** Address text to its 4 or 16 bytes, checking the family. */
export function addressBytes(text: string, family?: 4 | 6): Uint8Array {
  let ip;
  try {
    ip = parseIp(text);
  } catch (e) {
    if (e instanceof AddressParseError) throw new BgpEncodeError(e.message);
    throw e;
  }
  if (family !== undefined && ip.family !== family) {
    throw new BgpEncodeError(`"${text}" is not an IPv${family} address`);
  }
  return ipToBytes(ip);
}

/** A BGP identifier or cluster id ("1.0.0.1") as a 32-bit integer. */
export function idValue(text: string): number {
  const b = addressBytes(text, 4);
  return get32(b, 0);
}

/**
 * Decodes one NLRI prefix (length octet, then the significant octets) at `at`. Returns the
 * canonical prefix text (host bits cleared) and the next offset, or undefined when the bytes
 * are truncated or the length exceeds the family's width.
 */
export function readPrefix(
  b: Uint8Array,
  at: number,
  end: number,
  family: 4 | 6,
): { prefix: string; next: number } | undefined {
  if (at >= end) return undefined;
  const len = b[at]!;
  const width = family === 4 ? 32 : 128;
  if (len > width) return undefined;
  const n = (len + 7) >> 3;
  if (at + 1 + n > end) return undefined;
  const addr = new Uint8Array(width / 8);
  addr.set(b.subarray(at + 1, at + 1 + n));
  if (len % 8 !== 0) addr[n - 1]! &= (0xff << (8 - (len % 8))) & 0xff;
  return { prefix: `${addressText(addr)}/${len}`, next: at + 1 + n };
}

/** Appends a prefix ("10.0.0.0/24") in NLRI form; host bits are cleared. */
export function writePrefix(w: ByteWriter, text: string, family: 4 | 6): void {
  let c;
  try {
    c = parseCidr(text);
  } catch (e) {
    if (e instanceof AddressParseError) throw new BgpEncodeError(e.message);
    throw e;
  }
  if (c.family !== family || !text.includes("/")) {
    throw new BgpEncodeError(`"${text}" is not an IPv${family} prefix`);
  }
  const addr = ipToBytes(c.ip);
  const n = (c.prefix + 7) >> 3;
  w.u8(c.prefix);
  const sig = addr.subarray(0, n);
  if (c.prefix % 8 !== 0) sig[n - 1]! &= (0xff << (8 - (c.prefix % 8))) & 0xff;
  w.bytes(sig);
}
