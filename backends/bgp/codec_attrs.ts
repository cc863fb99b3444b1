/**
 * BGP path attributes, bytes only (RFC 4271 §4.3, RFC 4456, RFC 4760, RFC 6793): decode one
 * attribute into a typed value, encode it back. AGGREGATOR is typed (its AS is 2 or 4 octets by
 * the session, like AS_PATH); attributes skein does not interpret (communities, ...) are kept as
 * `other` with their flags and bytes, so they survive a round trip.
 * Malformed attributes are reported the RFC 7606 way: `attributeOutcome()` says whether the
 * UPDATE is treated as withdraw, the attribute discarded, or the session reset.
 *
 * @module
 */

import {
  addressBytes,
  addressText,
  ByteWriter,
  get16,
  get32,
  idValue,
  readPrefix,
  v4Text,
  writePrefix,
} from "./_bytes.ts";
import { BgpEncodeError, BgpError, NOTIFY, UPDATE_ERR } from "./errors.ts";

/** Attribute flag bits (RFC 4271 §4.3). */
export const ATTR_FLAG = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED: 0x10,
} as const;

/** Attribute type codes skein interprets. */
export const ATTR = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MED: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH: 14,
  MP_UNREACH: 15,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
} as const;

/** AS_TRANS (RFC 6793): the 2-octet stand-in for a 4-octet AS. */
export const AS_TRANS = 23456;

/** Address family identifiers (RFC 4760) and the one SAFI skein speaks. */
export const AFI = { IPV4: 1, IPV6: 2 } as const;
/** SAFI 1: unicast. */
export const SAFI_UNICAST = 1;

/** ORIGIN values: IGP 0, EGP 1, INCOMPLETE 2. */
export type Origin = 0 | 1 | 2;

/** AS_PATH segment types: AS_SET 1, AS_SEQUENCE 2, AS_CONFED_SEQUENCE 3, AS_CONFED_SET 4. */
export interface AsPathSegment {
  type: 1 | 2 | 3 | 4;
  asns: number[];
}

/** A path attribute. `flags` is kept from the wire (default per type when building). */
export type PathAttribute =
  | { type: "origin"; value: Origin; flags?: number }
  | { type: "as-path"; segments: AsPathSegment[]; flags?: number }
  | { type: "as4-path"; segments: AsPathSegment[]; flags?: number }
  | { type: "next-hop"; address: string; flags?: number }
  | { type: "med"; value: number; flags?: number }
  | { type: "local-pref"; value: number; flags?: number }
  | { type: "originator-id"; id: string; flags?: number }
  | { type: "cluster-list"; ids: string[]; flags?: number }
  | { type: "aggregator"; asNumber: number; address: string; flags?: number }
  | { type: "as4-aggregator"; asNumber: number; address: string; flags?: number }
  | {
    type: "mp-reach";
    afi: number;
    safi: number;
    nextHops: string[];
    nlri: string[];
    flags?: number;
  }
  | { type: "mp-unreach"; afi: number; safi: number; withdrawn: string[]; flags?: number }
  | { type: "other"; code: number; flags: number; data: Uint8Array };

/** What the session does with an UPDATE carrying a malformed attribute (RFC 7606 §2). */
export type AttributeOutcome = "treat-as-withdraw" | "discard" | "reset";

/** Decoding options: the session's AS number width (4 octets once both sides sent RFC 6793's capability). */
export interface CodecOptions {
  as4: boolean;
  /**
   * The session is eBGP: LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST are dropped unread, before
   * any flags or length check (RFC 7606 §7.5, §7.9, §7.10; RFC 4271 §5.1.5). Default false.
   */
  ebgp?: boolean;
}

/** Attributes only an internal peer may send: from an external one they are ignored unread. */
export const IBGP_ONLY: ReadonlySet<number> = new Set([
  ATTR.LOCAL_PREF,
  ATTR.ORIGINATOR_ID,
  ATTR.CLUSTER_LIST,
]);

const TYPE_CODE: Record<Exclude<PathAttribute["type"], "other">, number> = {
  "origin": ATTR.ORIGIN,
  "as-path": ATTR.AS_PATH,
  "next-hop": ATTR.NEXT_HOP,
  "med": ATTR.MED,
  "local-pref": ATTR.LOCAL_PREF,
  "originator-id": ATTR.ORIGINATOR_ID,
  "cluster-list": ATTR.CLUSTER_LIST,
  "mp-reach": ATTR.MP_REACH,
  "mp-unreach": ATTR.MP_UNREACH,
  "as4-path": ATTR.AS4_PATH,
  "aggregator": ATTR.AGGREGATOR,
  "as4-aggregator": ATTR.AS4_AGGREGATOR,
};

/** Optional and transitive bits each interpreted attribute must carry. */
const WELL_KNOWN = ATTR_FLAG.TRANSITIVE;
const OPT_NON_TRANSITIVE = ATTR_FLAG.OPTIONAL;
const OPT_TRANSITIVE = ATTR_FLAG.OPTIONAL | ATTR_FLAG.TRANSITIVE;
const EXPECTED_FLAGS: Readonly<Record<number, number>> = {
  [ATTR.ORIGIN]: WELL_KNOWN,
  [ATTR.AS_PATH]: WELL_KNOWN,
  [ATTR.NEXT_HOP]: WELL_KNOWN,
  [ATTR.MED]: OPT_NON_TRANSITIVE,
  [ATTR.LOCAL_PREF]: WELL_KNOWN,
  [ATTR.ATOMIC_AGGREGATE]: WELL_KNOWN,
  [ATTR.AGGREGATOR]: OPT_TRANSITIVE,
  [ATTR.ORIGINATOR_ID]: OPT_NON_TRANSITIVE,
  [ATTR.CLUSTER_LIST]: OPT_NON_TRANSITIVE,
  [ATTR.MP_REACH]: OPT_NON_TRANSITIVE,
  [ATTR.MP_UNREACH]: OPT_NON_TRANSITIVE,
  [ATTR.AS4_PATH]: OPT_TRANSITIVE,
  [ATTR.AS4_AGGREGATOR]: OPT_TRANSITIVE,
};

/**
 * RFC 7606's handling of a malformed attribute of type `code`: MP_REACH/MP_UNREACH reset the
 * session (§7.3); ATOMIC_AGGREGATE, AGGREGATOR and AS4_* are discarded (§7.6, §7.7, RFC 6793
 * §6); an unrecognized well-known attribute resets (RFC 4271); everything that decides a
 * route (ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST) withdraws it.
 */
export function attributeOutcome(code: number): AttributeOutcome {
  switch (code) {
    case ATTR.MP_REACH:
    case ATTR.MP_UNREACH:
      return "reset";
    case ATTR.ATOMIC_AGGREGATE:
    case ATTR.AGGREGATOR:
    case ATTR.AS4_PATH:
    case ATTR.AS4_AGGREGATOR:
      return "discard";
    default:
      return "treat-as-withdraw";
  }
}

/** The type code of an attribute value. */
export function attributeCode(a: PathAttribute): number {
  return a.type === "other" ? a.code : TYPE_CODE[a.type];
}

/** Wire bytes of one attribute header + value, for NOTIFICATION data. */
function wire(flags: number, code: number, value: Uint8Array): Uint8Array {
  const w = new ByteWriter().u8(flags).u8(code);
  if (flags & ATTR_FLAG.EXTENDED) w.u16(value.length);
  else w.u8(value.length);
  return w.bytes(value).finish();
}

function malformed(sub: number, reason: string, data: Uint8Array): BgpError {
  return new BgpError(NOTIFY.UPDATE, sub, reason, data);
}

/** The family an AFI carries, if skein speaks it. */
export function afiFamily(afi: number, safi: number): 4 | 6 | undefined {
  if (safi !== SAFI_UNICAST) return undefined;
  return afi === AFI.IPV4 ? 4 : afi === AFI.IPV6 ? 6 : undefined;
}

/**
 * Decodes one attribute's value (`flags`, `code` and the value bytes already split by the
 * caller). Throws BgpError with the RFC's subcode; the caller applies attributeOutcome().
 */
export function decodeAttribute(
  flags: number,
  code: number,
  v: Uint8Array,
  opts: CodecOptions,
): PathAttribute {
  const expected = EXPECTED_FLAGS[code];
  if (expected === undefined) {
    if (!(flags & ATTR_FLAG.OPTIONAL)) {
      throw malformed(
        UPDATE_ERR.UNRECOGNIZED_WELL_KNOWN,
        `unknown well-known attribute ${code}`,
        wire(flags, code, v),
      );
    }
    return { type: "other", code, flags, data: v.slice() };
  }
  if ((flags & OPT_TRANSITIVE) !== expected) {
    throw malformed(
      UPDATE_ERR.ATTRIBUTE_FLAGS,
      `attribute ${code} has flags 0x${flags.toString(16)}`,
      wire(flags, code, v),
    );
  }
  const lengthError = (want: string) =>
    malformed(
      UPDATE_ERR.ATTRIBUTE_LENGTH,
      `attribute ${code} is ${v.length} octets, not ${want}`,
      wire(flags, code, v),
    );
  switch (code) {
    case ATTR.ORIGIN:
      if (v.length !== 1) throw lengthError("1");
      if (v[0]! > 2) {
        throw malformed(UPDATE_ERR.INVALID_ORIGIN, `ORIGIN ${v[0]}`, wire(flags, code, v));
      }
      return { type: "origin", value: v[0] as Origin, flags };
    case ATTR.AS_PATH:
      return { type: "as-path", segments: decodeAsPath(v, opts.as4 ? 4 : 2), flags };
    case ATTR.AS4_PATH:
      return { type: "as4-path", segments: decodeAsPath(v, 4), flags };
    case ATTR.NEXT_HOP:
      if (v.length !== 4) throw lengthError("4");
      return { type: "next-hop", address: v4Text(v, 0), flags };
    case ATTR.MED:
    case ATTR.LOCAL_PREF:
      if (v.length !== 4) throw lengthError("4");
      return { type: code === ATTR.MED ? "med" : "local-pref", value: get32(v, 0), flags };
    case ATTR.ORIGINATOR_ID:
      if (v.length !== 4) throw lengthError("4");
      return { type: "originator-id", id: v4Text(v, 0), flags };
    case ATTR.CLUSTER_LIST:
      if (v.length === 0 || v.length % 4 !== 0) throw lengthError("a non-zero multiple of 4");
      return {
        type: "cluster-list",
        ids: Array.from({ length: v.length / 4 }, (_, i) => v4Text(v, i * 4)),
        flags,
      };
    case ATTR.MP_REACH:
      return decodeMpReach(flags, v);
    case ATTR.MP_UNREACH:
      return decodeMpUnreach(flags, v);
    case ATTR.ATOMIC_AGGREGATE:
      if (v.length !== 0) throw lengthError("0");
      return { type: "other", code, flags, data: v.slice() };
    case ATTR.AGGREGATOR: {
      if (v.length !== (opts.as4 ? 8 : 6)) throw lengthError(opts.as4 ? "8" : "6");
      const a: PathAttribute = opts.as4
        ? { type: "aggregator", asNumber: get32(v, 0), address: v4Text(v, 4), flags }
        : { type: "aggregator", asNumber: get16(v, 0), address: v4Text(v, 2), flags };
      if (a.asNumber === 0) throw asZero(code, flags, v);
      return a;
    }
    default: // AS4_AGGREGATOR
      if (v.length !== 8) throw lengthError("8");
      if (get32(v, 0) === 0) throw asZero(code, flags, v);
      return { type: "as4-aggregator", asNumber: get32(v, 0), address: v4Text(v, 4), flags };
  }
}

/** RFC 7607: AS 0 in AGGREGATOR / AS4_AGGREGATOR makes it malformed (discarded). */
function asZero(code: number, flags: number, v: Uint8Array): BgpError {
  return malformed(
    UPDATE_ERR.OPTIONAL_ATTRIBUTE,
    `attribute ${code} names AS 0 (RFC 7607)`,
    wire(flags, code, v),
  );
}

function decodeAsPath(v: Uint8Array, width: 2 | 4): AsPathSegment[] {
  const segments: AsPathSegment[] = [];
  const bad = (why: string) =>
    malformed(UPDATE_ERR.MALFORMED_AS_PATH, `AS_PATH ${why}`, new Uint8Array(0));
  let at = 0;
  while (at < v.length) {
    if (at + 2 > v.length) throw bad("segment header truncated");
    const type = v[at]!;
    const count = v[at + 1]!;
    if (type < 1 || type > 4) throw bad(`segment type ${type}`);
    if (count === 0) throw bad("segment of length 0");
    if (at + 2 + count * width > v.length) throw bad("segment overruns the attribute");
    const asns: number[] = [];
    for (let i = 0; i < count; i++) {
      const p = at + 2 + i * width;
      const asn = width === 4 ? get32(v, p) : get16(v, p);
      if (asn === 0) throw bad("contains AS 0 (RFC 7607)");
      asns.push(asn);
    }
    segments.push({ type: type as AsPathSegment["type"], asns });
    at += 2 + count * width;
  }
  return segments;
}

function readNlri(v: Uint8Array, at: number, family: 4 | 6, err: () => BgpError): string[] {
  const out: string[] = [];
  while (at < v.length) {
    const p = readPrefix(v, at, v.length, family);
    if (!p) throw err();
    out.push(p.prefix);
    at = p.next;
  }
  return out;
}

function decodeMpReach(flags: number, v: Uint8Array): PathAttribute {
  const bad = (why: string) =>
    malformed(UPDATE_ERR.OPTIONAL_ATTRIBUTE, `MP_REACH_NLRI ${why}`, wire(flags, ATTR.MP_REACH, v));
  if (v.length < 5) throw bad("shorter than 5 octets");
  const afi = get16(v, 0), safi = v[2]!, nhLen = v[3]!;
  const family = afiFamily(afi, safi);
  if (family === undefined) return { type: "other", code: ATTR.MP_REACH, flags, data: v.slice() };
  if (4 + nhLen + 1 > v.length) throw bad("next hop overruns the attribute");
  // RFC 4760 §3 / RFC 7606 §7.11: the next hop length must fit the family. IPv4: 4 octets
  // (RFC 8950's IPv6 next hop for IPv4 NLRI is not negotiated); IPv6: 16, or 32 with a link-local.
  const step = family === 4 ? (nhLen === 4 ? 4 : 0) : nhLen === 16 || nhLen === 32 ? 16 : 0;
  if (step === 0) throw bad(`next hop length ${nhLen} for IPv${family}`);
  const nextHops: string[] = [];
  for (let p = 4; p < 4 + nhLen; p += step) nextHops.push(addressText(v.subarray(p, p + step)));
  const nlri = readNlri(v, 4 + nhLen + 1, family, () => bad("has a malformed prefix"));
  return { type: "mp-reach", afi, safi, nextHops, nlri, flags };
}

function decodeMpUnreach(flags: number, v: Uint8Array): PathAttribute {
  const bad = (why: string) =>
    malformed(
      UPDATE_ERR.OPTIONAL_ATTRIBUTE,
      `MP_UNREACH_NLRI ${why}`,
      wire(flags, ATTR.MP_UNREACH, v),
    );
  if (v.length < 3) throw bad("shorter than 3 octets");
  const afi = get16(v, 0), safi = v[2]!;
  const family = afiFamily(afi, safi);
  if (family === undefined) return { type: "other", code: ATTR.MP_UNREACH, flags, data: v.slice() };
  const withdrawn = readNlri(v, 3, family, () => bad("has a malformed prefix"));
  return { type: "mp-unreach", afi, safi, withdrawn, flags };
}

const DEFAULT_FLAGS: Readonly<Record<number, number>> = {
  ...EXPECTED_FLAGS,
  [ATTR.MP_REACH]: OPT_NON_TRANSITIVE | ATTR_FLAG.EXTENDED,
};

/** Encodes one attribute (flags, type, length, value) onto `w`. */
export function encodeAttribute(w: ByteWriter, a: PathAttribute, opts: CodecOptions): void {
  const code = attributeCode(a);
  const value = a.type === "other" ? a.data : attributeValue(a, opts);
  let flags = a.flags ?? DEFAULT_FLAGS[code] ?? OPT_TRANSITIVE;
  if (value.length > 255) flags |= ATTR_FLAG.EXTENDED;
  if (value.length > 0xffff) {
    throw new BgpEncodeError(`attribute ${code} is ${value.length} octets`);
  }
  w.u8(flags).u8(code);
  if (flags & ATTR_FLAG.EXTENDED) w.u16(value.length);
  else w.u8(value.length);
  w.bytes(value);
}

function familyOf(afi: number, safi: number): 4 | 6 {
  const f = afiFamily(afi, safi);
  if (f === undefined) throw new BgpEncodeError(`AFI ${afi} SAFI ${safi} is not spoken`);
  return f;
}

function attributeValue(
  a: Exclude<PathAttribute, { type: "other" }>,
  opts: CodecOptions,
): Uint8Array {
  const w = new ByteWriter();
  switch (a.type) {
    case "origin":
      return w.u8(a.value).finish();
    case "as-path":
    case "as4-path": {
      const width = a.type === "as4-path" || opts.as4 ? 4 : 2;
      for (const s of a.segments) {
        if (s.asns.length === 0 || s.asns.length > 255) {
          throw new BgpEncodeError(`AS_PATH segment of ${s.asns.length} ASNs`);
        }
        w.u8(s.type).u8(s.asns.length);
        for (const n of s.asns) width === 4 ? w.u32(n) : w.u16(n > 0xffff ? AS_TRANS : n);
      }
      return w.finish();
    }
    case "next-hop":
      return addressBytes(a.address, 4);
    case "med":
    case "local-pref":
      return w.u32(a.value).finish();
    case "originator-id":
      return w.u32(idValue(a.id)).finish();
    case "aggregator":
      if (opts.as4) w.u32(a.asNumber);
      else w.u16(a.asNumber > 0xffff ? AS_TRANS : a.asNumber);
      return w.u32(idValue(a.address)).finish();
    case "as4-aggregator":
      return w.u32(a.asNumber).u32(idValue(a.address)).finish();
    case "cluster-list":
      for (const id of a.ids) w.u32(idValue(id));
      return w.finish();
    case "mp-reach": {
      const family = familyOf(a.afi, a.safi);
      const hops = a.nextHops.map((h) => addressBytes(h));
      w.u16(a.afi).u8(a.safi).u8(hops.reduce((n, h) => n + h.length, 0));
      for (const h of hops) w.bytes(h);
      w.u8(0);
      for (const p of a.nlri) writePrefix(w, p, family);
      return w.finish();
    }
    case "mp-unreach": {
      const family = familyOf(a.afi, a.safi);
      w.u16(a.afi).u8(a.safi);
      for (const p of a.withdrawn) writePrefix(w, p, family);
      return w.finish();
    }
  }
}
