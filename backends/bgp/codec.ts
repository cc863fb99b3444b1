/**
 * BGP-4 messages, bytes only (no I/O), like net/nl: the 19-octet header and framing, and
 * OPEN, UPDATE, NOTIFICATION, KEEPALIVE and ROUTE-REFRESH as typed values (RFC 4271 §4,
 * RFC 2918, RFC 7313). Every decoding error is a BgpError carrying the NOTIFICATION code and
 * subcode the RFC prescribes; nothing else escapes a decoder.
 *
 * ```ts
 * const bytes = encodeMessage({ type: "keepalive" });            // 19 octets
 * const n = frameLength(buf);                                      // a whole message buffered?
 * const msg = decodeMessage(buf.subarray(0, n!), { as4: true });   // typed, or throws BgpError
 * ```
 *
 * @module
 */

import { ByteWriter, get16 } from "./_bytes.ts";
import type { CodecOptions } from "./codec_attrs.ts";
import { decodeOpen, encodeOpen, type OpenMessage } from "./codec_open.ts";
import { decodeUpdate, encodeUpdate, type UpdateMessage } from "./codec_update.ts";
import { BgpEncodeError, BgpError, HEADER_ERR, NOTIFY } from "./errors.ts";

export type { CodecOptions } from "./codec_attrs.ts";
export type { OpenMessage } from "./codec_open.ts";
export type { UpdateMessage } from "./codec_update.ts";

/** Message type codes (RFC 4271 §4.1, RFC 2918). */
export const MSG = { OPEN: 1, UPDATE: 2, NOTIFICATION: 3, KEEPALIVE: 4, ROUTE_REFRESH: 5 } as const;

/** Header length and the RFC 4271 maximum message length. */
export const HEADER_LEN = 19;
/** RFC 4271 maximum message size (RFC 8654 extended messages are not negotiated). */
export const MAX_MESSAGE_LEN = 4096;

/** A NOTIFICATION (RFC 4271 §4.5). */
export interface NotificationMessage {
  type: "notification";
  code: number;
  subcode: number;
  data: Uint8Array;
}

/** A ROUTE-REFRESH (RFC 2918; `subtype` is RFC 7313's: 0 normal, 1 BoRR, 2 EoRR). */
export interface RouteRefreshMessage {
  type: "route-refresh";
  afi: number;
  subtype: number;
  safi: number;
}

/** Any BGP message. */
export type BgpMessage =
  | OpenMessage
  | UpdateMessage
  | NotificationMessage
  | { type: "keepalive" }
  | RouteRefreshMessage;

const MIN_LEN: Readonly<Record<number, number>> = { 1: 29, 2: 23, 3: 21, 4: 19, 5: 23 };

function badLength(len: number): BgpError {
  return new BgpError(
    NOTIFY.HEADER,
    HEADER_ERR.BAD_LENGTH,
    `message length ${len}`,
    Uint8Array.of(len >> 8, len & 0xff),
  );
}

/**
 * How long the message at the start of `buf` is, once its header is buffered (undefined
 * before). Checks the header: marker (1/1), length (1/2), type (1/3).
 */
export function frameLength(buf: Uint8Array): number | undefined {
  if (buf.length < HEADER_LEN) return undefined;
  for (let i = 0; i < 16; i++) {
    if (buf[i] !== 0xff) {
      throw new BgpError(NOTIFY.HEADER, HEADER_ERR.NOT_SYNCHRONIZED, "marker is not all ones");
    }
  }
  const len = get16(buf, 16);
  const type = buf[18]!;
  const min = MIN_LEN[type];
  if (min === undefined) {
    throw new BgpError(
      NOTIFY.HEADER,
      HEADER_ERR.BAD_TYPE,
      `message type ${type}`,
      Uint8Array.of(type),
    );
  }
  if (
    len < min || len > MAX_MESSAGE_LEN ||
    ((type === MSG.KEEPALIVE || type === MSG.ROUTE_REFRESH) && len !== min)
  ) {
    if (type === MSG.ROUTE_REFRESH && len >= HEADER_LEN && len <= MAX_MESSAGE_LEN) {
      throw new BgpError(
        NOTIFY.ROUTE_REFRESH,
        1,
        `ROUTE-REFRESH length ${len}`,
        buf.slice(HEADER_LEN, Math.min(len, buf.length)),
      );
    }
    throw badLength(len);
  }
  return len;
}

/** Decodes one whole message (header included; `frameLength()` bytes). Throws BgpError. */
export function decodeMessage(bytes: Uint8Array, opts: CodecOptions = { as4: true }): BgpMessage {
  const len = frameLength(bytes);
  if (len === undefined || len !== bytes.length) throw badLength(bytes.length);
  const body = bytes.subarray(HEADER_LEN, len);
  switch (bytes[18]) {
    case MSG.OPEN:
      return decodeOpen(body);
    case MSG.UPDATE:
      return decodeUpdate(body, opts);
    case MSG.NOTIFICATION:
      return { type: "notification", code: body[0]!, subcode: body[1]!, data: body.slice(2) };
    case MSG.KEEPALIVE:
      return { type: "keepalive" };
    default:
      return { type: "route-refresh", afi: get16(body, 0), subtype: body[2]!, safi: body[3]! };
  }
}

const TYPE_OF: Record<BgpMessage["type"], number> = {
  "open": MSG.OPEN,
  "update": MSG.UPDATE,
  "notification": MSG.NOTIFICATION,
  "keepalive": MSG.KEEPALIVE,
  "route-refresh": MSG.ROUTE_REFRESH,
};

/** Encodes one message with its header. Throws BgpEncodeError past 4,096 octets. */
export function encodeMessage(
  msg: BgpMessage,
  opts: CodecOptions = { as4: true },
): Uint8Array<ArrayBuffer> {
  const w = new ByteWriter();
  for (let i = 0; i < 16; i++) w.u8(0xff);
  w.u16(0).u8(TYPE_OF[msg.type]);
  switch (msg.type) {
    case "open":
      encodeOpen(w, msg);
      break;
    case "update":
      encodeUpdate(w, msg, opts);
      break;
    case "notification":
      w.u8(msg.code).u8(msg.subcode).bytes(msg.data);
      break;
    case "route-refresh":
      w.u16(msg.afi).u8(msg.subtype).u8(msg.safi);
      break;
    case "keepalive":
      break;
  }
  if (w.length > MAX_MESSAGE_LEN) {
    throw new BgpEncodeError(`${msg.type} of ${w.length} octets exceeds ${MAX_MESSAGE_LEN}`);
  }
  w.patch16(16, w.length);
  return w.finish();
}

/** The NOTIFICATION a session sends for `err`. */
export function notificationFor(err: BgpError): NotificationMessage {
  return { type: "notification", code: err.code, subcode: err.subcode, data: err.data };
}
