import { assertEquals } from "../../testing/assert.ts";
import { nexthopsFromBytes, routeFromBytes } from "./route.ts";
import * as C from "./consts.ts";

/** struct rtnexthop (8 bytes) + RTA_GATEWAY (v6). */
function hop(ifindex: number, gw6?: number[]): number[] {
  const attrs = gw6 ? [20, 0, C.RTA_GATEWAY, 0, ...gw6] : [];
  const len = 8 + attrs.length;
  return [len, 0, 0, 0, ifindex, 0, 0, 0, ...attrs];
}
const GW_A = [0xfd, 0, 0, 0x10, 2, 0x41, 0, 0x11, 0, 0, 0, 0, 0, 0, 0, 1]; // fd00:10:241:11::1
const GW_B = [0xfd, 0, 0, 0x10, 2, 0x41, 0, 0x12, 0, 0, 0, 0, 0, 0, 0, 1]; // fd00:10:241:12::1

Deno.test("nexthopsFromBytes() reads each next hop's device and gateway", () => {
  const b = new Uint8Array([...hop(2, GW_A), ...hop(3, GW_B), ...hop(4)]);
  assertEquals(nexthopsFromBytes(b), [
    { oif: 2, gateway: "fd00:10:241:11::1" },
    { oif: 3, gateway: "fd00:10:241:12::1" },
    { oif: 4 },
  ]);
});

Deno.test("nexthopsFromBytes() stops at a malformed entry instead of reading past it", () => {
  const good = hop(2, GW_A);
  assertEquals(nexthopsFromBytes(new Uint8Array([...good, 200, 0, 0, 0, 3, 0, 0, 0])), [
    { oif: 2, gateway: "fd00:10:241:11::1" },
  ]);
  assertEquals(nexthopsFromBytes(new Uint8Array([4, 0, 0, 0, 1, 0, 0, 0])), []);
  assertEquals(nexthopsFromBytes(new Uint8Array([1, 2, 3])), []);
  // An attribute longer than its next hop is ignored, the hop itself kept.
  assertEquals(nexthopsFromBytes(new Uint8Array([12, 0, 0, 0, 5, 0, 0, 0, 40, 0, 5, 0])), [
    { oif: 5 },
  ]);
});

Deno.test("routeFromBytes() exposes RTA_MULTIPATH as nexthops (ip -6 route: default nexthop ...)", () => {
  const mp = [...hop(2, GW_A), ...hop(3, GW_B)];
  const attrs = [4 + mp.length, 0, C.RTA_MULTIPATH, 0, ...mp];
  const rtmsg = [C.AF_INET6, 0, 0, 0, 254, 3, 0, C.RTN_UNICAST, 0, 0, 0, 0];
  const len = 16 + rtmsg.length + attrs.length;
  const hdr = [len, 0, C.RTM_NEWROUTE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const b = new Uint8Array([...hdr, ...rtmsg, ...attrs]);
  const r = routeFromBytes(b, new DataView(b.buffer), 0, b.length);
  assertEquals(r.dst, "::/0");
  assertEquals(r.gateway, undefined);
  assertEquals(r.nexthops, [
    { oif: 2, gateway: "fd00:10:241:11::1" },
    { oif: 3, gateway: "fd00:10:241:12::1" },
  ]);
});
