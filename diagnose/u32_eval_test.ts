import { assertEquals } from "../testing/assert.ts";
import { u32Matches } from "./u32_eval.ts";

const echo = { src: "10.244.1.2", dst: "10.244.2.2", proto: 1, icmp: { type: 8, code: 0 } };
const vxlan = { src: "192.168.77.11", dst: "192.168.77.12", proto: 17, dport: 8472 };
// Keys as `tc filter add ... u32 match ...` writes them (tc -j filter show, mask/val in hex).
const dst16 = { mask: 0xffff0000, value: 0x0af40000, offset: 16, offmask: 0 }; // ip dst 10.244.0.0/16
const dst24 = { mask: 0xffffff00, value: 0x0af40300, offset: 16, offmask: 0 }; // ip dst 10.244.3.0/24
const udp = { mask: 0x00ff0000, value: 0x00110000, offset: 8, offmask: 0 }; // ip protocol 17 0xff
const dport = { mask: 0x0000ffff, value: 8472, offset: 20, offmask: 0 }; // ip dport 8472 0xffff
const ttl = { mask: 0xff000000, value: 0x40000000, offset: 8, offmask: 0 }; // ip ttl 64

Deno.test("u32Matches(): address, protocol and port keys are judged; others are unknown", () => {
  assertEquals(u32Matches([], false, echo), true);
  assertEquals(u32Matches([{ ...dst16, mask: 0 }], false, echo), true);
  assertEquals(u32Matches([dst16], false, echo), true);
  assertEquals(u32Matches([dst24], false, echo), false);
  assertEquals(u32Matches([udp, dport], false, vxlan), true);
  assertEquals(u32Matches([udp, { ...dport, value: 4789 }], false, vxlan), false);
  assertEquals(u32Matches([udp], false, echo), false);
  assertEquals(u32Matches([ttl], false, echo), "unknown");
  assertEquals(u32Matches([ttl, dst24], false, echo), false, "one key that fails decides");
  assertEquals(u32Matches([dst16], true, echo), "unknown");
  assertEquals(u32Matches([{ ...dst16, offmask: 0xff }], false, echo), "unknown");
});
