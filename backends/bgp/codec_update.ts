/**
 * The BGP UPDATE message body, bytes only (RFC 4271 §4.3, RFC 7606, RFC 4724 End-of-RIB).
 *
 * @module
 */

import { type ByteWriter, get16, readPrefix, writePrefix } from "./_bytes.ts";
import {
  AFI,
  ATTR,
  ATTR_FLAG,
  attributeCode,
  attributeOutcome,
  type CodecOptions,
  decodeAttribute,
  encodeAttribute,
  IBGP_ONLY,
  type PathAttribute,
  SAFI_UNICAST,
} from "./codec_attrs.ts";
import { BgpError, NOTIFY, UPDATE_ERR } from "./errors.ts";
import { withAs4Attributes } from "./as4.ts";

/** An UPDATE: IPv4 withdrawn routes, path attributes (in wire order), IPv4 NLRI. */
export interface UpdateMessage {
  type: "update";
  withdrawn: string[];
  attributes: PathAttribute[];
  nlri: string[];
  /**
   * RFC 7606: a malformed attribute that turns this UPDATE into a withdrawal of every prefix it
   * carries (NLRI and MP_REACH_NLRI). Set only on decoding; the session logs it, never resets.
   */
  treatAsWithdraw?: BgpError;
  /** RFC 7606 attribute discard: malformed attributes dropped from `attributes`. */
  discarded?: BgpError[];
}

function resetError(sub: number, reason: string): BgpError {
  return new BgpError(NOTIFY.UPDATE, sub, reason);
}

function readPrefixes(b: Uint8Array, at: number, end: number, what: string): string[] {
  const out: string[] = [];
  while (at < end) {
    const p = readPrefix(b, at, end, 4);
    if (!p) throw resetError(UPDATE_ERR.INVALID_NETWORK_FIELD, `${what} has a malformed prefix`);
    out.push(p.prefix);
    at = p.next;
  }
  return out;
}

/**
 * Decodes an UPDATE body (the bytes after the 19-octet header). Errors that leave the message
 * unparseable (withdrawn or attribute lengths that overrun the message, malformed NLRI, a
 * malformed MP attribute, a duplicate MP attribute) throw BgpError; a malformed route attribute,
 * or one that overruns the attributes (RFC 7606 §4), sets `treatAsWithdraw`, unless the UPDATE
 * has no NLRI to withdraw (§5.2: then it throws).
 */
export function decodeUpdate(body: Uint8Array, opts: CodecOptions): UpdateMessage {
  if (body.length < 4) {
    throw resetError(UPDATE_ERR.MALFORMED_ATTRIBUTE_LIST, "shorter than 4 octets");
  }
  const wLen = get16(body, 0);
  if (2 + wLen + 2 > body.length) {
    throw resetError(
      UPDATE_ERR.MALFORMED_ATTRIBUTE_LIST,
      `withdrawn routes length ${wLen} overruns the message`,
    );
  }
  const withdrawn = readPrefixes(body, 2, 2 + wLen, "withdrawn routes");
  const aStart = 2 + wLen + 2;
  const aLen = get16(body, 2 + wLen);
  if (aStart + aLen > body.length) {
    throw resetError(
      UPDATE_ERR.MALFORMED_ATTRIBUTE_LIST,
      `path attribute length ${aLen} overruns the message`,
    );
  }
  const msg: UpdateMessage = { type: "update", withdrawn, attributes: [], nlri: [] };
  decodeAttributes(body.subarray(aStart, aStart + aLen), opts, msg);
  msg.nlri = readPrefixes(body, aStart + aLen, body.length, "NLRI");
  checkWithdrawable(msg);
  checkMandatory(msg);
  return msg;
}

function decodeAttributes(b: Uint8Array, opts: CodecOptions, msg: UpdateMessage): void {
  const seen = new Set<number>();
  let at = 0;
  while (at < b.length) {
    const flags = b[at]!, code = b[at + 1] ?? 0;
    const ext = (flags & ATTR_FLAG.EXTENDED) !== 0;
    const start = at + (ext ? 4 : 3);
    const len = start > b.length ? 0 : ext ? get16(b, at + 2) : b[at + 2]!;
    if (start > b.length || start + len > b.length) {
      // RFC 7606 §4: a framing error inside the Total Path Attribute Length is treat-as-withdraw;
      // that length still locates the NLRI. What follows cannot be parsed.
      msg.treatAsWithdraw ??= resetError(
        UPDATE_ERR.MALFORMED_ATTRIBUTE_LIST,
        start > b.length
          ? `${b.length - at} octets left for an attribute header`
          : `attribute ${code} length ${len} overruns the attributes`,
      );
      return;
    }
    at = start + len;
    // RFC 7606 §7.5, §7.9, §7.10: from an external peer these are discarded whatever their
    // flags or length (a bad one must not withdraw the route); not an error (RFC 4271 §5.1.5).
    if (opts.ebgp && IBGP_ONLY.has(code)) continue;
    if (seen.has(code)) {
      if (code === ATTR.MP_REACH || code === ATTR.MP_UNREACH) {
        throw resetError(UPDATE_ERR.MALFORMED_ATTRIBUTE_LIST, `attribute ${code} appears twice`);
      }
      continue; // RFC 7606 §3(g): keep the first, discard the others
    }
    seen.add(code);
    try {
      msg.attributes.push(decodeAttribute(flags, code, b.subarray(start, start + len), opts));
    } catch (e) {
      if (!(e instanceof BgpError)) throw e;
      const outcome = e.subcode === UPDATE_ERR.UNRECOGNIZED_WELL_KNOWN
        ? "reset"
        : attributeOutcome(code);
      if (outcome === "reset") throw e;
      if (outcome === "discard") (msg.discarded ??= []).push(e);
      else msg.treatAsWithdraw ??= e;
    }
  }
}

/**
 * RFC 7606 §5.2: treat-as-withdraw needs routes to withdraw. An UPDATE whose error would be
 * treat-as-withdraw but that carries no reachable NLRI (no NLRI field, no MP_REACH_NLRI) resets
 * the session with that error's NOTIFICATION, as BIRD and ExaBGP do.
 */
function checkWithdrawable(msg: UpdateMessage): void {
  const err = msg.treatAsWithdraw;
  if (!err || msg.nlri.length > 0) return;
  const mpReach = msg.attributes.some((a) =>
    (a.type === "mp-reach" && a.nlri.length > 0) || (a.type === "other" && a.code === ATTR.MP_REACH)
  );
  if (mpReach) return;
  throw new BgpError(
    err.code,
    err.subcode,
    `${err.message.replace(/^[^:]*: /, "")}, and no NLRI to withdraw (RFC 7606 §5.2)`,
    err.data,
  );
}

/** RFC 4271 §6.3 / RFC 7606 §3(d): reachable routes need ORIGIN, AS_PATH (and NEXT_HOP for IPv4 NLRI). */
function checkMandatory(msg: UpdateMessage): void {
  if (msg.treatAsWithdraw) return;
  const has = (code: number) => msg.attributes.some((a) => attributeCode(a) === code);
  const mpReach = msg.attributes.some((a) => a.type === "mp-reach" && a.nlri.length > 0);
  if (msg.nlri.length === 0 && !mpReach) return;
  const need = [ATTR.ORIGIN, ATTR.AS_PATH, ...(msg.nlri.length > 0 ? [ATTR.NEXT_HOP] : [])];
  for (const code of need) {
    if (!has(code)) {
      msg.treatAsWithdraw = new BgpError(
        NOTIFY.UPDATE,
        UPDATE_ERR.MISSING_WELL_KNOWN,
        `missing well-known attribute ${code}`,
        Uint8Array.of(code),
      );
      return;
    }
  }
}

/**
 * Encodes an UPDATE body (without the header). For a 2-octet session (`opts.as4` false) an AS
 * above 65535 goes out as AS_TRANS with AS4_PATH / AS4_AGGREGATOR added (RFC 6793, as4.ts).
 */
export function encodeUpdate(w: ByteWriter, msg: UpdateMessage, opts: CodecOptions): void {
  const wAt = w.length;
  w.u16(0);
  for (const p of msg.withdrawn) writeV4(w, p);
  w.patch16(wAt, w.length - wAt - 2);
  const aAt = w.length;
  w.u16(0);
  const attrs = opts.as4 ? msg.attributes : withAs4Attributes(msg.attributes);
  for (const a of attrs) encodeAttribute(w, a, opts);
  w.patch16(aAt, w.length - aAt - 2);
  for (const p of msg.nlri) writeV4(w, p);
}

function writeV4(w: ByteWriter, p: string): void {
  writePrefix(w, p, 4);
}

/** The End-of-RIB marker for a family (RFC 4724 §2): an empty UPDATE, or an empty MP_UNREACH. */
export function endOfRib(afi: number, safi = SAFI_UNICAST): UpdateMessage {
  if (afi === AFI.IPV4 && safi === SAFI_UNICAST) {
    return { type: "update", withdrawn: [], attributes: [], nlri: [] };
  }
  return {
    type: "update",
    withdrawn: [],
    attributes: [{ type: "mp-unreach", afi, safi, withdrawn: [] }],
    nlri: [],
  };
}

/** The family an UPDATE marks as End-of-RIB, or undefined when it is a normal UPDATE. */
export function endOfRibFamily(msg: UpdateMessage): { afi: number; safi: number } | undefined {
  if (msg.withdrawn.length > 0 || msg.nlri.length > 0) return undefined;
  if (msg.attributes.length === 0) return { afi: AFI.IPV4, safi: SAFI_UNICAST };
  const [a] = msg.attributes;
  if (msg.attributes.length !== 1 || !a) return undefined;
  if (a.type === "mp-unreach" && a.withdrawn.length === 0) return { afi: a.afi, safi: a.safi };
  if (a.type === "other" && a.code === ATTR.MP_UNREACH && a.data.length === 3) {
    return { afi: get16(a.data, 0), safi: a.data[2]! };
  }
  return undefined;
}
