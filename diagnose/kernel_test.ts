import { assertEquals } from "../testing/assert.ts";
import { confKey } from "./kernel.ts";

Deno.test("confKey(): the dotted sysctl key, or the slash form for a device name with a dot", () => {
  assertEquals(confKey("cni0", "arp_ignore"), "net.ipv4.conf.cni0.arp_ignore");
  // `sysctl -w net.ipv4.conf.skein.1.rp_filter=2` would look for conf/skein/1/rp_filter.
  assertEquals(confKey("skein.1", "rp_filter"), "net/ipv4/conf/skein.1/rp_filter");
});
