import { assertEquals } from "../testing/assert.ts";
import { ENCAP_OVERHEAD, isMtu } from "./mtu.ts";

Deno.test("isMtu() takes integers 68-65535", () => {
  assertEquals([68, 1500, 65535].map(isMtu), [true, true, true]);
  assertEquals([67, 65536, 1450.5, "1500", undefined].map(isMtu), [
    false,
    false,
    false,
    false,
    false,
  ]);
});

Deno.test("ENCAP_OVERHEAD: header arithmetic (outer IP + UDP + VXLAN + inner Ethernet)", () => {
  const ip = { 4: 20, 6: 40 } as const;
  assertEquals(ENCAP_OVERHEAD.vxlan, { 4: ip[4] + 8 + 8 + 14, 6: ip[6] + 8 + 8 + 14 });
  assertEquals(ENCAP_OVERHEAD.udp, { 4: ip[4] + 8, 6: ip[6] + 8 });
  assertEquals(ENCAP_OVERHEAD.ipip, { 4: ip[4] });
  assertEquals(ENCAP_OVERHEAD.none, { 4: 0, 6: 0 });
});
