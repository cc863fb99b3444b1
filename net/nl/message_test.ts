import { assertEquals, assertThrows } from "../../testing/assert.ts";
import * as C from "./consts.ts";
import {
  decodeError,
  decodeMessage,
  encodeMessage,
  forEachMessage,
  type MessageSpan,
} from "./message.ts";
import { NetlinkDecodeError } from "./attr.ts";
import { Writer } from "./writer.ts";

/** An NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK + NETLINK_EXT_ACK. */
function errorReply(errno: number, seq: number, extack?: string): Uint8Array {
  const w = new Writer();
  const off = w.beginMsg(
    C.NLMSG_ERROR,
    extack ? C.NLM_F_CAPPED | C.NLM_F_ACK_TLVS : C.NLM_F_CAPPED,
    seq,
    1234,
  );
  w.s32(-errno);
  // The request's header (capped: no payload).
  const req = w.beginMsg(C.RTM_NEWROUTE, C.NLM_F_REQUEST | C.NLM_F_ACK, seq, 0);
  w.dv.setUint32(req, 60, true); // original nlmsg_len
  if (extack) {
    const a = w.beginAttr(C.NLMSGERR_ATTR_MSG);
    w.bytes(new TextEncoder().encode(extack));
    w.u8(0);
    w.endAttr(a);
    const o = w.beginAttr(C.NLMSGERR_ATTR_OFFS);
    w.u32(32);
    w.endAttr(o);
  }
  w.endMsg(off);
  return w.view().slice();
}

function spans(b: Uint8Array): MessageSpan[] {
  const out: MessageSpan[] = [];
  forEachMessage(b, b.length, (s) => {
    out.push(s);
  });
  return out;
}

Deno.test("decodeError() reads errno, request seq/type and the extended-ack text", () => {
  const b = errorReply(101, 77, "Nexthop has invalid gateway");
  const [s] = spans(b);
  assertEquals(decodeError(b, s!), {
    errno: 101,
    seq: 77,
    requestType: C.RTM_NEWROUTE,
    extack: "Nexthop has invalid gateway",
    offset: 32,
  });
});

Deno.test("decodeError() reads a plain ACK as errno 0", () => {
  const b = errorReply(0, 5);
  const [s] = spans(b);
  assertEquals(decodeError(b, s!), { errno: 0, seq: 5, requestType: C.RTM_NEWROUTE });
});

Deno.test("forEachMessage() walks several messages in one datagram and stops when asked", () => {
  const a = errorReply(0, 1);
  const b = errorReply(17, 2, "File exists");
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  assertEquals(spans(both).map((s) => s.seq), [1, 2]);
  const seen: number[] = [];
  forEachMessage(both, both.length, (s) => {
    seen.push(s.seq);
    return false;
  });
  assertEquals(seen, [1]);
});

Deno.test("forEachMessage() refuses a length running past the datagram", () => {
  const a = errorReply(0, 1);
  new DataView(a.buffer).setUint32(0, a.length + 8, true);
  assertThrows(() => spans(a), NetlinkDecodeError, "does not fit");
});

Deno.test("RTM_GETNSID with NETNSA_FD encodes as iproute2 sends it; RTM_NEWNSID decodes its id", () => {
  const w = new Writer();
  encodeMessage(w, {
    type: C.RTM_GETNSID,
    flags: C.NLM_F_REQUEST,
    seq: 7,
    pid: 0,
    header: { family: C.AF_UNSPEC },
    attrs: [{ type: C.NETNSA_FD, value: 5 }],
  });
  // nlmsghdr (len 28, type 90, flags 1, seq 7, pid 0), rtgenmsg padded to 4, NETNSA_FD u32 5.
  assertEquals([...w.view()], [
    28,
    0,
    0,
    0,
    90,
    0,
    1,
    0,
    7,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    8,
    0,
    3,
    0,
    5,
    0,
    0,
    0,
  ]);
  const reply = new Uint8Array([
    28,
    0,
    0,
    0,
    88,
    0,
    0,
    0,
    7,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    8,
    0,
    1,
    0,
    3,
    0,
    0,
    0,
  ]);
  const m = decodeMessage(reply);
  assertEquals(m.attrs.find((a) => a.type === C.NETNSA_NSID)?.value, 3);
});
