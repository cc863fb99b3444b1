import { assertEquals } from "../../testing/assert.ts";
import { invalidNextHop } from "./nexthop.ts";

Deno.test("invalidNextHop: unspecified, loopback, multicast, class E, broadcast and own addresses are refused", () => {
  const own = ["192.168.77.1", "fd00:77::1"];
  const bad = [
    "0.0.0.0",
    "0.1.2.3",
    "127.0.0.1",
    "224.0.0.5",
    "239.255.255.255",
    "240.0.0.1",
    "255.255.255.255",
    "192.168.77.1",
    "::",
    "::1",
    "ff02::1",
    "fd00:77:0::1",
    "nonsense",
  ];
  for (const nh of bad) assertEquals(typeof invalidNextHop(nh, own), "string", nh);
  for (const nh of ["192.168.77.254", "10.0.0.1", "223.255.255.254", "fd00:77::254", "fe80::1"]) {
    assertEquals(invalidNextHop(nh, own), undefined, nh);
  }
  assertEquals(invalidNextHop("224.0.0.5", []), "next hop 224.0.0.5 is a multicast address");
  assertEquals(
    invalidNextHop("192.168.77.1", own),
    "next hop 192.168.77.1 is this node's own address",
  );
});
