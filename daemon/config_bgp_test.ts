import { assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { buildConfig, ConfigError } from "./config.ts";

const H = { hostname: "n1" };

function bad(yaml: string): string {
  return assertThrows(() => buildConfig(yaml, {}, H), ConfigError).message;
}

Deno.test("bgp config: the issue's fields with their defaults", () => {
  const c = buildConfig("backend: {type: bgp}\n", {}, H).backend;
  assertEquals(c, { type: "bgp" });
  const full = buildConfig(
    [
      "backend:",
      "  type: bgp",
      "  asNumber: 4200000001",
      "  nodeToNodeMesh: false",
      "  peers:",
      "    - { address: 192.168.77.254, asNumber: 65000, password: s3cret, holdTime: 9 }",
      "  routeReflector: { clusterId: 1.0.0.1 }",
      "  port: 1179",
      "  holdTime: 30",
      "  gracefulRestart: { restartTime: 60 }",
      "  encapsulation: ipip",
      "  crossSubnet: true",
      "",
    ].join("\n"),
    {},
    H,
  ).backend;
  assertEquals(full.asNumber, 4200000001);
  assertEquals(full.peers, [{
    address: "192.168.77.254",
    asNumber: 65000,
    password: "s3cret",
    holdTime: 9,
  }]);
  assertEquals([full.routeReflector, full.gracefulRestart, full.encapsulation], [
    { clusterId: "1.0.0.1" },
    { restartTime: 60 },
    "ipip",
  ]);
});

Deno.test("bgp config: bad values are refused naming the field", () => {
  assertStringIncludes(
    bad("backend: {type: bgp, asNumber: 0}\n"),
    "config.backend.asNumber: must be an integer from 1 to 4294967295, got 0",
  );
  assertStringIncludes(
    bad("backend: {type: bgp, peers: [{address: tor, asNumber: 65000}]}\n"),
    "config.backend.peers: [0].address must be an IP address",
  );
  assertStringIncludes(
    bad("backend: {type: bgp, peers: [{address: 10.0.0.1, asNumber: 65000, color: red}]}\n"),
    "config.backend.peers: [0].color: unknown field",
  );
  assertStringIncludes(
    bad("backend: {type: bgp, holdTime: 2}\n"),
    "config.backend.holdTime: must be 0 or from 3 to 65535",
  );
  assertStringIncludes(
    bad("backend: {type: bgp, encapsulation: gre}\n"),
    "config.backend.encapsulation",
  );
  assertStringIncludes(bad("backend: {type: bgp, bogus: 1}\n"), "bogus");
  assertStringIncludes(
    bad("backend: {type: vxlan, asNumber: 65000}\n"),
    "only applies to the bgp backend",
  );
});

Deno.test("bgp config: per-peer import/export rules (all, none, CIDRs); anything else names the field", () => {
  const c = buildConfig(
    "backend: {type: bgp, peers: [{address: 192.168.77.254, asNumber: 65000, import: [0.0.0.0/0, 10.50.0.0/16], export: all}, {address: 192.168.77.253, asNumber: 65001, import: none}]}\n",
    {},
    H,
  ).backend;
  const peers = c.peers as { import?: unknown; export?: unknown }[];
  assertEquals(peers.map((p) => [p.import, p.export]), [
    [["0.0.0.0/0", "10.50.0.0/16"], "all"],
    ["none", undefined],
  ]);
  assertStringIncludes(
    bad("backend: {type: bgp, peers: [{address: 10.0.0.1, asNumber: 65000, import: some}]}\n"),
    "config.backend.peers: [0].import must be all, none or a list of CIDRs",
  );
  assertStringIncludes(
    bad(
      "backend: {type: bgp, peers: [{address: 10.0.0.1, asNumber: 65000, export: [10.0.0.0]}]}\n",
    ),
    "config.backend.peers: [0].export must be all, none or a list of CIDRs",
  );
});
