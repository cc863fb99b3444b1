import { assertEquals, assertThrows } from "../../testing/assert.ts";
import { NetlinkDecodeError } from "./attr.ts";
import { netconfFromBytes, RTM_NEWNETCONF } from "./netconf.ts";

/** RTM_NEWNETCONF for `sysctl -w net.ipv4.ip_forward=0` (conf/all), as `ip monitor netconf` gets it. */
function msg(family: number, attrs: [number, number][]): Uint8Array {
  const len = 20 + attrs.length * 8;
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, RTM_NEWNETCONF, true);
  b[16] = family;
  attrs.forEach(([t, v], i) => {
    dv.setUint16(20 + i * 8, 8, true);
    dv.setUint16(22 + i * 8, t, true);
    dv.setInt32(24 + i * 8, v, true);
  });
  return b;
}

Deno.test("netconfFromBytes() reads family, ifindex and forwarding", () => {
  const b = msg(2, [[1, -1], [2, 0]]);
  assertEquals(netconfFromBytes(b, new DataView(b.buffer), 0, b.length), {
    family: 4,
    ifindex: -1,
    forwarding: false,
  });
  const b6 = msg(10, [[1, 3], [2, 1], [7, 1]]);
  assertEquals(netconfFromBytes(b6, new DataView(b6.buffer), 0, b6.length), {
    family: 6,
    ifindex: 3,
    forwarding: true,
  });
});

Deno.test("netconfFromBytes() refuses an attribute that overruns the message", () => {
  const b = msg(2, [[1, -1]]);
  new DataView(b.buffer).setUint16(20, 40, true);
  assertThrows(
    () => netconfFromBytes(b, new DataView(b.buffer), 0, b.length),
    NetlinkDecodeError,
  );
});
