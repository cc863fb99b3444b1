/**
 * The BGP OPEN message body and its capabilities, bytes only (RFC 4271 §4.2, RFC 5492
 * capabilities, RFC 4760 multiprotocol, RFC 2918 route refresh, RFC 4724 graceful restart,
 * RFC 6793 4-octet AS, RFC 9072 extended optional parameters on decode). Unknown capabilities
 * are kept as `other`.
 *
 * @module
 */

import { ByteWriter, get16, get32, idValue, v4Text } from "./_bytes.ts";
import { BgpEncodeError, BgpError, HEADER_ERR, NOTIFY, OPEN_ERR } from "./errors.ts";

export { AS_TRANS } from "./codec_attrs.ts";

/** Capability codes skein interprets. */
export const CAP = {
  MULTIPROTOCOL: 1,
  ROUTE_REFRESH: 2,
  GRACEFUL_RESTART: 64,
  AS4: 65,
} as const;

/** One family in a graceful-restart capability: `forwarding` = state preserved across the restart. */
export interface GrFamily {
  afi: number;
  safi: number;
  forwarding: boolean;
}

/** A capability (RFC 5492) as a typed value. */
export type Capability =
  | { type: "multiprotocol"; afi: number; safi: number }
  | { type: "route-refresh" }
  | {
    type: "graceful-restart";
    /** R bit: the sender has restarted. */
    restarting: boolean;
    /** N bit (RFC 8538): NOTIFICATIONs keep graceful restart too. */
    notification: boolean;
    /** Seconds the peer keeps our routes when the session drops (12 bits). */
    restartTime: number;
    families: GrFamily[];
  }
  | { type: "as4"; asNumber: number }
  | { type: "other"; code: number; data: Uint8Array };

/** An OPEN message. `asNumber` is the 2-octet field on the wire (AS_TRANS for a 4-octet AS). */
export interface OpenMessage {
  type: "open";
  version: number;
  asNumber: number;
  holdTime: number;
  routerId: string;
  capabilities: Capability[];
}

function openError(sub: number, reason: string, data?: Uint8Array): BgpError {
  return new BgpError(NOTIFY.OPEN, sub, reason, data);
}

/**
 * Decodes an OPEN body (the bytes after the header). Wrong version → 2/1 (data: version 4);
 * an optional parameter other than capabilities → 2/4; lengths that do not add up → 1/2 or 2/0.
 */
export function decodeOpen(body: Uint8Array): OpenMessage {
  if (body.length < 10) {
    throw new BgpError(
      NOTIFY.HEADER,
      HEADER_ERR.BAD_LENGTH,
      "OPEN shorter than 29 octets",
      Uint8Array.of(0, 19 + body.length),
    );
  }
  const version = body[0]!;
  if (version !== 4) {
    throw openError(
      OPEN_ERR.UNSUPPORTED_VERSION,
      `version ${version}, only 4 is spoken`,
      Uint8Array.of(0, 4),
    );
  }
  const msg: OpenMessage = {
    type: "open",
    version,
    asNumber: get16(body, 1),
    holdTime: get16(body, 3),
    routerId: v4Text(body, 5),
    capabilities: [],
  };
  let optLen = body[9]!;
  let at = 10;
  let wide = false;
  if (optLen === 255 && body[10] === 255) { // RFC 9072 extended optional parameters
    if (body.length < 13) {
      throw openError(OPEN_ERR.UNSPECIFIC, "extended optional parameters truncated");
    }
    optLen = get16(body, 11);
    at = 13;
    wide = true;
  }
  if (at + optLen !== body.length) {
    throw openError(
      OPEN_ERR.UNSPECIFIC,
      `optional parameters length ${optLen} does not match the message`,
    );
  }
  const end = at + optLen;
  while (at < end) {
    const hdr = wide ? 3 : 2;
    if (at + hdr > end) throw openError(OPEN_ERR.UNSPECIFIC, "optional parameter header truncated");
    const type = body[at]!;
    const len = wide ? get16(body, at + 1) : body[at + 1]!;
    if (at + hdr + len > end) {
      throw openError(OPEN_ERR.UNSPECIFIC, "optional parameter overruns the message");
    }
    if (type !== 2) {
      throw openError(OPEN_ERR.UNSUPPORTED_OPTIONAL_PARAMETER, `optional parameter type ${type}`);
    }
    decodeCapabilities(body.subarray(at + hdr, at + hdr + len), msg.capabilities);
    at += hdr + len;
  }
  return msg;
}

function decodeCapabilities(b: Uint8Array, out: Capability[]): void {
  let at = 0;
  while (at < b.length) {
    if (at + 2 > b.length) throw openError(OPEN_ERR.UNSPECIFIC, "capability header truncated");
    const code = b[at]!, len = b[at + 1]!;
    if (at + 2 + len > b.length) {
      throw openError(OPEN_ERR.UNSPECIFIC, `capability ${code} overruns its parameter`);
    }
    out.push(decodeCapability(code, b.subarray(at + 2, at + 2 + len)));
    at += 2 + len;
  }
}

function decodeCapability(code: number, v: Uint8Array): Capability {
  const other = (): Capability => ({ type: "other", code, data: v.slice() });
  switch (code) {
    case CAP.MULTIPROTOCOL:
      return v.length === 4 && v[2] === 0
        ? { type: "multiprotocol", afi: get16(v, 0), safi: v[3]! }
        : other();
    case CAP.ROUTE_REFRESH:
      return v.length === 0 ? { type: "route-refresh" } : other();
    case CAP.AS4:
      return v.length === 4 ? { type: "as4", asNumber: get32(v, 0) } : other();
    case CAP.GRACEFUL_RESTART: {
      if (v.length < 2 || (v.length - 2) % 4 !== 0 || (v[0]! & 0x30) !== 0) return other();
      const families: GrFamily[] = [];
      for (let p = 2; p < v.length; p += 4) {
        if ((v[p + 3]! & 0x7f) !== 0) return other();
        families.push({ afi: get16(v, p), safi: v[p + 2]!, forwarding: (v[p + 3]! & 0x80) !== 0 });
      }
      return {
        type: "graceful-restart",
        restarting: (v[0]! & 0x80) !== 0,
        notification: (v[0]! & 0x40) !== 0,
        restartTime: get16(v, 0) & 0x0fff,
        families,
      };
    }
    default:
      return other();
  }
}

/** Encodes an OPEN body: all capabilities in one optional parameter, as BIRD and FRR do. */
export function encodeOpen(w: ByteWriter, msg: OpenMessage): void {
  const caps = new ByteWriter();
  for (const c of msg.capabilities) encodeCapability(caps, c);
  const capBytes = caps.finish();
  if (capBytes.length > 253) {
    throw new BgpEncodeError(`capabilities take ${capBytes.length} octets`);
  }
  w.u8(msg.version).u16(msg.asNumber).u16(msg.holdTime).u32(idValue(msg.routerId));
  if (capBytes.length === 0) w.u8(0);
  else w.u8(capBytes.length + 2).u8(2).u8(capBytes.length).bytes(capBytes);
}

function encodeCapability(w: ByteWriter, c: Capability): void {
  switch (c.type) {
    case "multiprotocol":
      w.u8(CAP.MULTIPROTOCOL).u8(4).u16(c.afi).u8(0).u8(c.safi);
      return;
    case "route-refresh":
      w.u8(CAP.ROUTE_REFRESH).u8(0);
      return;
    case "as4":
      w.u8(CAP.AS4).u8(4).u32(c.asNumber);
      return;
    case "graceful-restart": {
      if (c.restartTime < 0 || c.restartTime > 4095) {
        throw new BgpEncodeError(`restart time ${c.restartTime} s (0-4095)`);
      }
      w.u8(CAP.GRACEFUL_RESTART).u8(2 + c.families.length * 4);
      w.u16((c.restarting ? 0x8000 : 0) | (c.notification ? 0x4000 : 0) | c.restartTime);
      for (const f of c.families) w.u16(f.afi).u8(f.safi).u8(f.forwarding ? 0x80 : 0);
      return;
    }
    case "other":
      if (c.data.length > 255) {
        throw new BgpEncodeError(`capability ${c.code} is ${c.data.length} octets`);
      }
      w.u8(c.code).u8(c.data.length).bytes(c.data);
  }
}

/** The sender's AS: the 4-octet capability's value when present, else the 2-octet field. */
export function openAsNumber(msg: OpenMessage): number {
  for (const c of msg.capabilities) if (c.type === "as4") return c.asNumber;
  return msg.asNumber;
}
