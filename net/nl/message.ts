/**
 * Whole netlink messages: struct nlmsghdr, the rtnetlink header structs, and the attribute
 * schemas of each rtnetlink message type. `encodeMessage()`/`decodeMessage()` are exact
 * inverses on bytes the kernel or iproute2 produce.
 *
 * @module
 */
import {
  type Attr,
  type CodecContext,
  decodeAttrs,
  decodeStruct,
  encodeAttrs,
  encodeStruct,
  NetlinkDecodeError,
  RAW_SCHEMA,
  type Schema,
  type StructCodec,
} from "./attr.ts";
import * as C from "./consts.ts";
import { NLMSG_HDRLEN, type Writer } from "./writer.ts";
import { LINK_SCHEMA } from "./schemas.ts";
import {
  ADDR_SCHEMA,
  NEIGH_SCHEMA,
  NEIGHTBL_SCHEMA,
  NSID_SCHEMA,
  ROUTE_SCHEMA,
  RULE_SCHEMA,
  TC_SCHEMA,
} from "./schemas.ts";

/** A decoded rtnetlink message. `header` is the family struct (ifinfomsg, rtmsg, ...). */
export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  header: Record<string, number>;
  attrs: Attr[];
}

/** struct ifinfomsg */
export const IFINFOMSG: StructCodec = {
  name: "ifinfomsg",
  size: 16,
  fields: [["family", "u8"], ["_pad", "u8"], ["type", "u16"], ["index", "s32"], ["flags", "u32"], [
    "change",
    "u32",
  ]],
};
/** struct ifaddrmsg */
export const IFADDRMSG: StructCodec = {
  name: "ifaddrmsg",
  size: 8,
  fields: [["family", "u8"], ["prefixlen", "u8"], ["flags", "u8"], ["scope", "u8"], [
    "index",
    "u32",
  ]],
};
/** struct rtmsg */
export const RTMSG: StructCodec = {
  name: "rtmsg",
  size: 12,
  fields: [
    ["family", "u8"],
    ["dstLen", "u8"],
    ["srcLen", "u8"],
    ["tos", "u8"],
    ["table", "u8"],
    ["protocol", "u8"],
    ["scope", "u8"],
    ["type", "u8"],
    ["flags", "u32"],
  ],
};
/** struct fib_rule_hdr (RTM_*RULE) */
export const FIB_RULE_HDR: StructCodec = {
  name: "fib_rule_hdr",
  size: 12,
  fields: [
    ["family", "u8"],
    ["dstLen", "u8"],
    ["srcLen", "u8"],
    ["tos", "u8"],
    ["table", "u8"],
    ["res1", "u8"],
    ["res2", "u8"],
    ["action", "u8"],
    ["flags", "u32"],
  ],
};
/** struct ndmsg */
export const NDMSG: StructCodec = {
  name: "ndmsg",
  size: 12,
  fields: [
    ["family", "u8"],
    ["_pad1", "u8"],
    ["_pad2", "u16"],
    ["ifindex", "s32"],
    ["state", "u16"],
    ["flags", "u8"],
    ["type", "u8"],
  ],
};

/** struct tcmsg (qdisc and filter messages). */
export const TCMSG: StructCodec = {
  name: "tcmsg",
  size: 20,
  fields: [
    ["family", "u8"],
    ["_pad1", "u8"],
    ["_pad2", "u16"],
    ["ifindex", "s32"],
    ["handle", "u32"],
    ["parent", "u32"],
    ["info", "u32"],
  ],
};

/** struct rtgenmsg, padded to 4 bytes as the kernel parses it (RTM_GETNSID). */
export const RTGENMSG: StructCodec = {
  name: "rtgenmsg",
  size: 4,
  fields: [
    ["family", "u8"],
    ["_pad1", "u8"],
    ["_pad2", "u16"],
  ],
};

/** Header struct and attribute schema of an rtnetlink message type. */
export function layoutOf(type: number): { struct: StructCodec; schema: Schema } | undefined {
  switch (type) {
    case C.RTM_NEWLINK:
    case C.RTM_DELLINK:
    case C.RTM_GETLINK:
    case C.RTM_SETLINK:
      return { struct: IFINFOMSG, schema: LINK_SCHEMA };
    case C.RTM_NEWADDR:
    case C.RTM_DELADDR:
    case C.RTM_GETADDR:
      return { struct: IFADDRMSG, schema: ADDR_SCHEMA };
    case C.RTM_NEWROUTE:
    case C.RTM_DELROUTE:
    case C.RTM_GETROUTE:
      return { struct: RTMSG, schema: ROUTE_SCHEMA };
    case C.RTM_NEWRULE:
    case C.RTM_GETRULE:
      return { struct: FIB_RULE_HDR, schema: RULE_SCHEMA };
    case C.RTM_NEWNEIGH:
    case C.RTM_DELNEIGH:
    case C.RTM_GETNEIGH:
      return { struct: NDMSG, schema: NEIGH_SCHEMA };
    case C.RTM_NEWNSID:
    case C.RTM_GETNSID:
      return { struct: RTGENMSG, schema: NSID_SCHEMA };
    case C.RTM_NEWNEIGHTBL:
    case C.RTM_GETNEIGHTBL:
      // struct ndtmsg { u8 family; u8 pad1; u16 pad2 } is rtgenmsg's layout.
      return { struct: RTGENMSG, schema: NEIGHTBL_SCHEMA };
    case C.RTM_NEWQDISC:
    case C.RTM_GETQDISC:
    case C.RTM_NEWTFILTER:
    case C.RTM_GETTFILTER:
      return { struct: TCMSG, schema: TC_SCHEMA };
  }
  return undefined;
}

/** Appends one message to `w` (its seq/pid as given). Returns the message's offset. */
export function encodeMessage(w: Writer, m: NlMessage): number {
  const layout = layoutOf(m.type);
  if (!layout) {
    throw new TypeError(`Cannot encode message type ${m.type}: not an rtnetlink type skein knows`);
  }
  const off = w.beginMsg(m.type, m.flags, m.seq, m.pid);
  encodeStruct(w, layout.struct, m.header);
  const ctx: CodecContext = { family: m.header["family"] ?? 0 };
  encodeAttrs(w, m.attrs, layout.schema, ctx);
  w.endMsg(off);
  return off;
}

/** Decodes one rtnetlink message (nlmsghdr included) from exactly its bytes. */
export function decodeMessage(bytes: Uint8Array): NlMessage {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < NLMSG_HDRLEN) {
    throw new NetlinkDecodeError(
      "netlink message",
      `${bytes.length} bytes is shorter than a header`,
    );
  }
  const len = dv.getUint32(0, true);
  if (len < NLMSG_HDRLEN || len > bytes.length) {
    throw new NetlinkDecodeError(
      "netlink message",
      `nlmsg_len ${len} does not fit in ${bytes.length} bytes`,
    );
  }
  const type = dv.getUint16(4, true);
  const layout = layoutOf(type);
  const body = bytes.subarray(NLMSG_HDRLEN, len);
  const base = {
    type,
    flags: dv.getUint16(6, true),
    seq: dv.getUint32(8, true),
    pid: dv.getUint32(12, true),
  };
  if (!layout) {
    throw new NetlinkDecodeError(`message type ${type}`, "not an rtnetlink type skein knows");
  }
  const bdv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const header = decodeStruct(bdv, 0, layout.struct);
  const attrs = decodeAttrs(body.subarray(layout.struct.size), layout.schema, {
    family: header["family"] ?? 0,
  });
  return { ...base, header, attrs };
}

/** A message's place in a receive buffer, without decoding its body. */
export interface MessageSpan {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Offset of the nlmsghdr in the buffer. */
  offset: number;
  /** nlmsg_len. */
  length: number;
}

/**
 * Splits a datagram into messages. Calls `fn` for each; stops early when it returns false.
 * Throws NetlinkDecodeError on a malformed length.
 */
export function forEachMessage(
  buf: Uint8Array,
  n: number,
  fn: (span: MessageSpan) => boolean | void,
): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + NLMSG_HDRLEN <= n) {
    const length = dv.getUint32(off, true);
    if (length < NLMSG_HDRLEN || off + length > n) {
      throw new NetlinkDecodeError(
        "netlink reply",
        `nlmsg_len ${length} at offset ${off} does not fit in ${n} bytes`,
      );
    }
    const span = {
      type: dv.getUint16(off + 4, true),
      flags: dv.getUint16(off + 6, true),
      seq: dv.getUint32(off + 8, true),
      pid: dv.getUint32(off + 12, true),
      offset: off,
      length,
    };
    if (fn(span) === false) return;
    off += (length + 3) & ~3;
  }
}

/** The errno (positive) and extended-ack text of an NLMSG_ERROR message; errno 0 is an ACK. */
export interface ErrorReply {
  errno: number;
  extack?: string;
  /** NLMSGERR_ATTR_OFFS: offset of the offending attribute in the request. */
  offset?: number;
  /** nlmsg_seq of the request this answers. */
  seq: number;
  /** nlmsg_type of the request this answers. */
  requestType: number;
}

const utf8 = new TextDecoder();

/** Decodes struct nlmsgerr and its TLVs (NETLINK_EXT_ACK), given the NLMSG_ERROR message span. */
export function decodeError(buf: Uint8Array, span: MessageSpan): ErrorReply {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const body = span.offset + NLMSG_HDRLEN;
  if (span.length < NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) {
    throw new NetlinkDecodeError("NLMSG_ERROR", `${span.length} bytes is too short`);
  }
  const error = dv.getInt32(body, true);
  const reqLen = dv.getUint32(body + 4, true);
  const requestType = dv.getUint16(body + 8, true);
  const seq = dv.getUint32(body + 12, true);
  const out: ErrorReply = { errno: error === 0 ? 0 : -error, seq, requestType };
  if (span.flags & C.NLM_F_ACK_TLVS) {
    // The echoed request is only the header when NLM_F_CAPPED is set (NETLINK_CAP_ACK) or on ACK.
    const echoed = span.flags & C.NLM_F_CAPPED || error === 0 ? NLMSG_HDRLEN : ((reqLen + 3) & ~3);
    const tlvStart = body + 4 + echoed;
    const end = span.offset + span.length;
    if (tlvStart <= end) {
      const attrs = decodeAttrs(buf.subarray(tlvStart, end), RAW_SCHEMA, { family: 0 });
      for (const a of attrs) {
        const t = a.type & C.NLA_TYPE_MASK;
        const v = a.value as Uint8Array;
        if (t === C.NLMSGERR_ATTR_MSG) {
          const z = v.indexOf(0);
          const text = utf8.decode(z >= 0 ? v.subarray(0, z) : v).trim();
          if (text) out.extack = text;
        } else if (t === C.NLMSGERR_ATTR_OFFS && v.length === 4) {
          out.offset = new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);
        }
      }
    }
  }
  return out;
}
