import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { echoRequest, inetChecksum, isEchoReply, pingOnce } from "./probe.ts";

Deno.test("echoRequest() carries a valid Internet checksum, id and sequence", () => {
  const b = echoRequest(0x1234, 1);
  assertEquals([b[0], b[1], b[4], b[5], b[7]], [8, 0, 0x12, 0x34, 1]);
  assertEquals(inetChecksum(b), 0, "a packet with its checksum sums to zero");
  assertEquals(inetChecksum(new Uint8Array([0x45, 0x00, 0x00, 0x1c])), ~(0x4500 + 0x001c) & 0xffff);
});

Deno.test("isEchoReply() matches type 0, the identifier and the source only", () => {
  const p = new Uint8Array(28);
  p[0] = 0x45;
  p.set([10, 0, 0, 2], 12);
  p[20] = 0;
  p[24] = 0x12;
  p[25] = 0x34;
  const src = new Uint8Array([10, 0, 0, 2]);
  assert(isEchoReply(p, src, 0x1234));
  assert(!isEchoReply(p, new Uint8Array([10, 0, 0, 3]), 0x1234), "another source");
  assert(!isEchoReply(p, src, 0x1235), "another identifier");
  p[20] = 8;
  assert(!isEchoReply(p, src, 0x1234), "a request, not a reply");
  assert(!isEchoReply(p.subarray(0, 24), src, 0x1234), "truncated");
});

Deno.test("pingOnce() refuses what is not an IPv4 address", async () => {
  await assertRejects(() => pingOnce({ ip: "fd00::1" }), TypeError, "IPv4");
  await assertRejects(() => pingOnce({ ip: "nope" }), TypeError);
});
