import { assertEquals } from "../testing/assert.ts";
import { parsePodMac } from "./_pod_mac.ts";

Deno.test("parsePodMac() normalizes unicast MACs and refuses what the kernel refuses for a veth", () => {
  assertEquals(parsePodMac("0A-58-0a-F4-01-05"), { mac: "0a:58:0a:f4:01:05" });
  assertEquals(parsePodMac("02:00:00:00:00:01"), { mac: "02:00:00:00:00:01" });
  for (const bad of ["", "x", "0a:58:0a:f4:01", "0a:58:0a:f4:01:05:06", "0a:58:0a:f4:01:5g"]) {
    assertEquals("problem" in parsePodMac(bad), true, bad);
  }
  for (
    const bad of [
      "00:00:00:00:00:00",
      "01:00:5e:00:00:01",
      "ff:ff:ff:ff:ff:ff",
      "33:33:00:00:00:01",
    ]
  ) {
    assertEquals("problem" in parsePodMac(bad), true, bad);
  }
});
