import { assertEquals } from "../../testing/assert.ts";
import { otherMac } from "./_mac.ts";

Deno.test("otherMac(): a unicast, locally administered MAC other than the pod's", () => {
  for (
    const mac of [
      "da:82:b9:65:f7:3c",
      "0a:58:0a:f4:01:02",
      "fe:ff:ff:ff:ff:ff",
      "00:00:00:00:00:01",
    ]
  ) {
    const m = otherMac(mac);
    const first = parseInt(m.slice(0, 2), 16);
    assertEquals([m !== mac, first & 1, first & 2, m.slice(2)], [true, 0, 2, mac.slice(2)]);
  }
  assertEquals(otherMac("da:82:b9:65:f7:3c"), "de:82:b9:65:f7:3c");
});
