import { assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { MasqueradeError, masqueradeScript } from "./masquerade.ts";

Deno.test("masqueradeScript() replaces skein-masq's table in one transaction", () => {
  const s = masqueradeScript({
    clusterNetworks: ["10.244.0.0/16"],
    podSubnets: ["10.244.1.0/24"],
    enabled: true,
  });
  const lines = s.trim().split("\n");
  assertEquals(lines.slice(0, 3), [
    "add table inet skein-masq",
    "delete table inet skein-masq",
    "table inet skein-masq {",
  ]);
  assertStringIncludes(s, "elements = { 10.244.0.0/16 }");
  assertStringIncludes(s, "elements = { 10.244.1.0/24 }");
  assertStringIncludes(s, "ip saddr @cluster4 ip daddr @cluster4 return");
  assertStringIncludes(s, "ip saddr @cluster4 ip daddr != 224.0.0.0/4 masquerade fully-random");
  assertEquals(s.includes("ip6"), false);
});

Deno.test("masqueradeScript() handles IPv6 and canonicalises prefixes", () => {
  const s = masqueradeScript({
    clusterNetworks: ["10.244.0.0/16", "FD00:10::5/48"],
    podSubnets: ["fd00:10:0:1::/64"],
    enabled: true,
  });
  assertStringIncludes(s, "type ipv6_addr; flags interval;");
  assertStringIncludes(s, "elements = { fd00:10::/48 }");
  assertStringIncludes(s, "ip6 saddr != @cluster6 ip6 daddr @pods6 return");
  assertStringIncludes(s, "ip6 saddr @cluster6 ip6 daddr != ff00::/8 masquerade fully-random");
  // No IPv4 pod subnet: no pods4 set, no rule using it.
  assertEquals(s.includes("@pods4"), false);
});

Deno.test("masqueradeScript({ enabled: false }) only deletes the table", () => {
  const s = masqueradeScript({ clusterNetworks: [], podSubnets: [], enabled: false });
  assertEquals(s, "add table inet skein-masq\ndelete table inet skein-masq\n");
});

Deno.test("masqueradeScript() refuses bad input before anything runs", () => {
  assertThrows(
    () => masqueradeScript({ clusterNetworks: ["10.244.0.0/33"], podSubnets: [], enabled: true }),
    MasqueradeError,
    'clusterNetworks entry "10.244.0.0/33"',
  );
  assertThrows(
    () => masqueradeScript({ clusterNetworks: ["10.244.0.0"], podSubnets: [], enabled: true }),
    MasqueradeError,
    "needs a /prefix",
  );
  assertThrows(
    () => masqueradeScript({ clusterNetworks: [], podSubnets: ["10.244.1.0/24"], enabled: true }),
    MasqueradeError,
    "at least one CIDR",
  );
  assertThrows(
    () =>
      masqueradeScript({ clusterNetworks: ["x; flush ruleset"], podSubnets: [], enabled: true }),
    MasqueradeError,
  );
});
