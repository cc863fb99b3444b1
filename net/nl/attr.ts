/**
 * Netlink attribute encoding and decoding, driven by schemas.
 *
 * An attribute list is kept as an ordered array of `{ type, value }`: decoding then encoding
 * reproduces the bytes exactly, and attributes a schema does not know survive as raw bytes
 * (`Uint8Array`). Known attributes decode to numbers, strings (names, IP addresses, link-layer
 * addresses), `true` (flags) or nested attribute lists.
 *
 * Bytes only: no FFI, no I/O.
 *
 * @module
 */
import { formatIp, ipFromBytes, ipToBytes, parseIp } from "../cidr.ts";
import { NLA_F_NESTED, NLA_TYPE_MASK } from "./consts.ts";
import { formatV4, parseV4 } from "./ip.ts";
import type { Writer } from "./writer.ts";

/** A decoded attribute. `type` keeps the NLA_F_* bits as they were on the wire. */
export interface Attr {
  type: number;
  value: AttrValue;
}

/** A fixed struct followed by attributes (e.g. VETH_INFO_PEER: ifinfomsg + IFLA_*). */
export interface StructWithAttrs {
  header: Record<string, number>;
  attrs: Attr[];
}

/** What an attribute's value can be after decoding. Raw bytes are always accepted on encode. */
export type AttrValue = number | bigint | string | boolean | Uint8Array | Attr[] | StructWithAttrs;

/** A fixed-size struct codec (message headers, the veth peer's ifinfomsg). */
export interface StructCodec {
  name: string;
  size: number;
  /** Field layout, in order: [name, kind]. Padding fields are named "_padN" and must be 0. */
  fields: ReadonlyArray<readonly [string, FieldKind]>;
}
/** Field kinds of structs. */
export type FieldKind = "u8" | "u16" | "u32" | "s32";

/** How one attribute's payload is encoded. */
export type Codec =
  | "u8"
  | "u16"
  | "u32"
  | "s32"
  | "u64"
  | "u16be"
  | "u32be"
  /** NUL-terminated text. */
  | "string"
  /** IPv4 or IPv6 address in network order, as text. */
  | "ip"
  /** Link-layer address of any length, as "aa:bb:..". */
  | "lladdr"
  /** Zero-length presence flag, as `true`. */
  | "flag"
  | "bytes"
  | { nested: Schema }
  | { struct: StructCodec; nested: Schema }
  /** Nested attributes whose schema is chosen by a sibling string attribute (IFLA_INFO_KIND). */
  | { nestedBy: number; schemas: Readonly<Record<string, Schema>> }
  /** Nested attributes whose schema depends on the message family (IFLA_PROTINFO). */
  | { nestedByFamily: Readonly<Record<number, Schema>> };

/** An attribute space: type number → name and codec. */
export interface Schema {
  name: string;
  attrs: Readonly<Record<number, readonly [string, Codec]>>;
}

/** Context passed down while encoding or decoding. */
export interface CodecContext {
  /** The message's address family (first byte of its header struct). */
  family: number;
}

/** Thrown when bytes are not valid netlink. */
export class NetlinkDecodeError extends RangeError {
  constructor(what: string, reason: string) {
    super(`Cannot decode ${what}: ${reason}`);
    this.name = "NetlinkDecodeError";
  }
}

/** Rounds up to the 4-byte netlink alignment. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8e = new TextEncoder();

/** The value of the first attribute with this type (flags ignored), if any. */
export function getAttr(attrs: readonly Attr[], type: number): AttrValue | undefined {
  for (const a of attrs) if ((a.type & NLA_TYPE_MASK) === type) return a.value;
  return undefined;
}

/** Like getAttr() but only numbers. */
export function getNum(attrs: readonly Attr[], type: number): number | undefined {
  const v = getAttr(attrs, type);
  return typeof v === "number" ? v : undefined;
}

/** Like getAttr() but only strings. */
export function getStr(attrs: readonly Attr[], type: number): string | undefined {
  const v = getAttr(attrs, type);
  return typeof v === "string" ? v : undefined;
}

/** Like getAttr() but only nested lists. */
export function getNested(attrs: readonly Attr[], type: number): Attr[] | undefined {
  const v = getAttr(attrs, type);
  return Array.isArray(v) ? v : undefined;
}

// ---------------------------------------------------------------------------------------------
// Structs

/** Writes a struct; missing fields are 0. */
export function encodeStruct(w: Writer, codec: StructCodec, value: Record<string, number>): void {
  const off = w.reserve(codec.size);
  let o = off;
  for (const [name, kind] of codec.fields) {
    const v = value[name] ?? 0;
    switch (kind) {
      case "u8":
        w.dv.setUint8(o, v);
        o += 1;
        break;
      case "u16":
        w.dv.setUint16(o, v, true);
        o += 2;
        break;
      case "u32":
        w.dv.setUint32(o, v >>> 0, true);
        o += 4;
        break;
      case "s32":
        w.dv.setInt32(o, v, true);
        o += 4;
        break;
    }
  }
}

/** Reads a struct from `dv` at `off`. */
export function decodeStruct(
  dv: DataView,
  off: number,
  codec: StructCodec,
): Record<string, number> {
  if (off + codec.size > dv.byteLength) {
    throw new NetlinkDecodeError(
      codec.name,
      `needs ${codec.size} bytes, ${dv.byteLength - off} left`,
    );
  }
  const out: Record<string, number> = {};
  let o = off;
  for (const [name, kind] of codec.fields) {
    switch (kind) {
      case "u8":
        out[name] = dv.getUint8(o);
        o += 1;
        break;
      case "u16":
        out[name] = dv.getUint16(o, true);
        o += 2;
        break;
      case "u32":
        out[name] = dv.getUint32(o, true);
        o += 4;
        break;
      case "s32":
        out[name] = dv.getInt32(o, true);
        o += 4;
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Appends attributes (each padded to 4 bytes). */
export function encodeAttrs(
  w: Writer,
  attrs: readonly Attr[],
  schema: Schema,
  ctx: CodecContext,
): void {
  for (const a of attrs) encodeAttr(w, a, schema, attrs, ctx);
}

function encodeAttr(
  w: Writer,
  a: Attr,
  schema: Schema,
  siblings: readonly Attr[],
  ctx: CodecContext,
): void {
  const spec = schema.attrs[a.type & NLA_TYPE_MASK];
  const start = w.beginAttr(a.type);
  const v = a.value;
  if (v instanceof Uint8Array) {
    w.bytes(v);
  } else if (!spec) {
    throw new TypeError(
      `Cannot encode attribute ${a.type} of ${schema.name}: unknown type needs a Uint8Array value`,
    );
  } else {
    encodeValue(w, v, spec[1], spec[0], siblings, ctx);
  }
  w.endAttr(start);
}

const LIMITS: Readonly<Record<string, readonly [number, number]>> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffffffff],
  s32: [-0x80000000, 0x7fffffff],
  u16be: [0, 0xffff],
  u32be: [0, 0xffffffff],
};

function badValue(what: string, want: string, v: unknown): TypeError {
  const shown = typeof v === "object" ? "object" : `${typeof v} ${String(v)}`;
  return new TypeError(`Cannot encode ${what}: expected ${want}, got ${shown}`);
}

/** Writes an address given as text, in network order (IPv4 without allocating). */
export function writeIp(w: Writer, text: string): void {
  const v4 = parseV4(text);
  if (v4 >= 0) w.u32be(v4);
  else w.bytes(ipToBytes(parseIp(text)));
}

function encodeValue(
  w: Writer,
  v: AttrValue,
  codec: Codec,
  what: string,
  siblings: readonly Attr[],
  ctx: CodecContext,
): void {
  if (typeof codec === "string") {
    switch (codec) {
      case "u8":
      case "u16":
      case "u32":
      case "s32":
      case "u16be":
      case "u32be": {
        if (typeof v !== "number" || !Number.isInteger(v)) throw badValue(what, "an integer", v);
        const [lo, hi] = LIMITS[codec]!;
        if (v < lo || v > hi) {
          throw new RangeError(`Cannot encode ${what}: ${v} is outside ${lo}..${hi}`);
        }
        if (codec === "u32") w.u32(v);
        else if (codec === "u8") w.u8(v);
        else if (codec === "u16") w.u16(v);
        else if (codec === "s32") w.s32(v);
        else if (codec === "u16be") w.u16be(v);
        else w.u32be(v);
        return;
      }
      case "u64": {
        if (typeof v !== "bigint" && typeof v !== "number") throw badValue(what, "a bigint", v);
        w.u64(BigInt(v));
        return;
      }
      case "string":
        if (typeof v !== "string") throw badValue(what, "a string", v);
        w.bytes(utf8e.encode(v));
        w.u8(0);
        return;
      case "ip":
        if (typeof v !== "string") throw badValue(what, "an IP address string", v);
        writeIp(w, v);
        return;
      case "lladdr": {
        if (typeof v !== "string") {
          throw badValue(what, 'a link-layer address like "aa:bb:cc:dd:ee:ff"', v);
        }
        w.bytes(parseLladdr(v, what));
        return;
      }
      case "flag":
        if (v !== true) throw badValue(what, "true", v);
        return;
      case "bytes":
        throw badValue(what, "a Uint8Array", v);
    }
  }
  if ("struct" in codec) {
    if (typeof v !== "object" || v instanceof Uint8Array || Array.isArray(v) || !("header" in v)) {
      throw badValue(what, "{ header, attrs }", v);
    }
    encodeStruct(w, codec.struct, v.header);
    encodeAttrs(w, v.attrs, codec.nested, { family: v.header["family"] ?? ctx.family });
    return;
  }
  if (!Array.isArray(v)) throw badValue(what, "a nested attribute list", v);
  encodeAttrs(w, v, chooseSchema(codec, siblings, ctx) ?? RAW_SCHEMA, ctx);
}

/** Parses "aa:bb:cc" hex-colon text of any length into bytes. */
export function parseLladdr(v: string, what = "link-layer address"): Uint8Array {
  const parts = v.split(":");
  if (!parts.length || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new TypeError(`Cannot encode ${what}: "${v}" is not like "aa:bb:cc:dd:ee:ff"`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

function formatLladdr(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Bytes as text, with or without a trailing NUL; undefined when not printable. */
export function textOf(b: Uint8Array): string | undefined {
  const z = b.indexOf(0);
  const body = z >= 0 ? b.subarray(0, z) : b;
  if (z >= 0 && z !== b.length - 1) return undefined;
  try {
    return utf8.decode(body);
  } catch {
    return undefined;
  }
}

/** A schema that knows nothing: every attribute stays raw. */
export const RAW_SCHEMA: Schema = { name: "raw", attrs: {} };

function chooseSchema(
  codec: Codec,
  siblings: readonly Attr[],
  ctx: CodecContext,
): Schema | undefined {
  if (typeof codec === "string") return undefined;
  if ("nestedBy" in codec) {
    // iproute2 sends IFLA_INFO_KIND without its NUL (it then stays raw bytes); the kernel adds one.
    let kind = getAttr(siblings, codec.nestedBy);
    if (kind instanceof Uint8Array) kind = textOf(kind);
    return typeof kind === "string" ? codec.schemas[kind] : undefined;
  }
  if ("nestedByFamily" in codec) return codec.nestedByFamily[ctx.family];
  return codec.nested;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Decodes the attributes in `bytes` (a view of exactly the attribute area). */
export function decodeAttrs(bytes: Uint8Array, schema: Schema, ctx: CodecContext): Attr[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Attr[] = [];
  let off = 0;
  while (off + 4 <= bytes.length) {
    const len = dv.getUint16(off, true);
    const type = dv.getUint16(off + 2, true);
    if (len < 4 || off + len > bytes.length) {
      throw new NetlinkDecodeError(
        `attribute ${type & NLA_TYPE_MASK} of ${schema.name}`,
        `length ${len} at offset ${off} does not fit in ${bytes.length} bytes`,
      );
    }
    const payload = bytes.subarray(off + 4, off + len);
    out.push({ type, value: decodeValue(payload, type, schema, out, ctx) });
    off += align4(len);
  }
  if (off < bytes.length && bytes.subarray(off).some((b) => b !== 0)) {
    throw new NetlinkDecodeError(
      schema.name,
      `${bytes.length - off} stray bytes after the last attribute`,
    );
  }
  return out;
}

function decodeValue(
  p: Uint8Array,
  type: number,
  schema: Schema,
  siblings: readonly Attr[],
  ctx: CodecContext,
): AttrValue {
  const spec = schema.attrs[type & NLA_TYPE_MASK];
  if (!spec) return p.slice();
  const codec = spec[1];
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (typeof codec === "string") {
    switch (codec) {
      case "u8":
        return p.length === 1 ? p[0]! : p.slice();
      case "u16":
        return p.length === 2 ? dv.getUint16(0, true) : p.slice();
      case "u32":
        return p.length === 4 ? dv.getUint32(0, true) : p.slice();
      case "s32":
        return p.length === 4 ? dv.getInt32(0, true) : p.slice();
      case "u64":
        return p.length === 8 ? dv.getBigUint64(0, true) : p.slice();
      case "u16be":
        return p.length === 2 ? dv.getUint16(0, false) : p.slice();
      case "u32be":
        return p.length === 4 ? dv.getUint32(0, false) : p.slice();
      case "string": {
        if (p.length === 0 || p[p.length - 1] !== 0 || p.indexOf(0) !== p.length - 1) {
          return p.slice();
        }
        try {
          return utf8.decode(p.subarray(0, p.length - 1));
        } catch {
          return p.slice();
        }
      }
      case "ip":
        if (p.length === 4) return formatV4(p);
        return p.length === 16 ? formatIp(ipFromBytes(p)) : p.slice();
      case "lladdr":
        return p.length > 0 ? formatLladdr(p) : p.slice();
      case "flag":
        return p.length === 0 ? true : p.slice();
      case "bytes":
        return p.slice();
    }
  }
  if ("struct" in codec) {
    if (p.length < codec.struct.size) return p.slice();
    const header = decodeStruct(dv, 0, codec.struct);
    return {
      header,
      attrs: decodeAttrs(p.subarray(codec.struct.size), codec.nested, {
        family: header["family"] ?? ctx.family,
      }),
    };
  }
  const nested = chooseSchema(codec, siblings, ctx);
  if (!nested) return p.slice();
  try {
    return decodeAttrs(p, nested, ctx);
  } catch (e) {
    if (e instanceof NetlinkDecodeError) return p.slice();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Builders used by the message constructors.

/** Builds an attribute. */
export function attr(type: number, value: AttrValue): Attr {
  return { type, value };
}

/** Builds a nested attribute (NLA_F_NESTED set when `flagNested`). */
export function nest(type: number, children: Attr[], flagNested = false): Attr {
  return { type: flagNested ? type | NLA_F_NESTED : type, value: children };
}
