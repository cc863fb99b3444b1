import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { parseIp } from "../net/cidr.ts";
import { nodeIpProblem, prefixEdgeProblem, vtepMacTextProblem } from "./_peer_addr.ts";

const why = (ip: string) => nodeIpProblem(parseIp(ip));

Deno.test("nodeIpProblem(): IPv4 this-network, loopback, multicast, reserved and broadcast are refused", () => {
  for (const ip of ["0.0.0.0", "0.255.255.255"]) assertStringIncludes(why(ip)!, "0.0.0.0/8");
  for (const ip of ["127.0.0.1", "127.255.0.9"]) assertStringIncludes(why(ip)!, "loopback");
  for (const ip of ["224.0.0.1", "239.255.255.255"]) assertStringIncludes(why(ip)!, "multicast");
  for (const ip of ["240.0.0.1", "254.1.2.3"]) assertStringIncludes(why(ip)!, "240.0.0.0/4");
  assertEquals(why("255.255.255.255"), "the limited broadcast address 255.255.255.255");
});

Deno.test("nodeIpProblem(): ordinary, private, CGNAT and link-local IPv4 addresses are usable", () => {
  for (
    const ip of [
      "1.0.0.0",
      "10.0.0.1",
      "126.255.255.255",
      "128.0.0.0",
      "169.254.1.1", // link-local: the kernel takes it, unnumbered underlays use it
      "172.16.0.1",
      "192.168.97.255", // a broadcast address only on a /24: OnLink.edge() judges that
      "223.255.255.255",
      "100.64.0.1",
    ]
  ) assertEquals(why(ip), undefined, ip);
});

Deno.test("nodeIpProblem(): IPv6 unspecified, loopback, multicast and IPv4-mapped are refused", () => {
  assertStringIncludes(why("::")!, "unspecified");
  assertStringIncludes(why("::1")!, "loopback");
  assertStringIncludes(why("ff02::1")!, "multicast");
  assertStringIncludes(why("::ffff:192.168.1.1")!, "IPv4-mapped");
  for (const ip of ["fd00:1::12", "2001:db8::1", "fe80::1", "::2"]) {
    assertEquals(why(ip), undefined, ip);
  }
});

Deno.test("vtepMacTextProblem(): all-zero, broadcast and multicast MACs are refused", () => {
  assertEquals(vtepMacTextProblem("00:00:00:00:00:00"), "the all-zero MAC");
  assertEquals(vtepMacTextProblem("ff:ff:ff:ff:ff:ff"), "the broadcast MAC");
  assertStringIncludes(vtepMacTextProblem("01:00:5e:00:00:01")!, "multicast");
  assertStringIncludes(vtepMacTextProblem("33:33:00:00:00:01")!, "multicast");
  for (const m of ["0a:00:00:00:00:03", "02:42:ac:11:00:02", "fe:ff:ff:ff:ff:ff"]) {
    assertEquals(vtepMacTextProblem(m), undefined, m);
  }
});

Deno.test("prefixEdgeProblem(): the network and broadcast addresses of a prefix up to /30", () => {
  const n = (ip: string) => Number(parseIp(ip).value);
  const net = n("192.168.97.0");
  assertEquals(prefixEdgeProblem(n("192.168.97.255"), net, 24), "the broadcast address");
  assertEquals(prefixEdgeProblem(n("192.168.97.0"), net, 24), "the network address");
  assertEquals(prefixEdgeProblem(n("192.168.97.1"), net, 24), undefined);
  assertEquals(prefixEdgeProblem(n("192.168.98.255"), net, 24), undefined); // another network
  // The host bits of `network` do not matter (an address's prefix).
  assertEquals(
    prefixEdgeProblem(n("192.168.97.255"), n("192.168.97.1"), 24),
    "the broadcast address",
  );
  assertEquals(prefixEdgeProblem(n("10.0.0.3"), n("10.0.0.0"), 30), "the broadcast address");
  // /31 (RFC 3021) and /32 have neither.
  assertEquals(prefixEdgeProblem(n("10.0.0.1"), n("10.0.0.0"), 31), undefined);
  assertEquals(prefixEdgeProblem(n("10.0.0.0"), n("10.0.0.0"), 31), undefined);
  assertEquals(prefixEdgeProblem(n("10.0.0.0"), n("10.0.0.0"), 32), undefined);
  assertEquals(prefixEdgeProblem(n("255.255.255.255"), 0, 0), "the broadcast address");
});
