import { assertEquals, assertStringIncludes, assertThrows } from "../../testing/assert.ts";
import { FieldProblem } from "../../component/fields.ts";
import { BGP_FIELDS, configPeer } from "./config.ts";

Deno.test("configPeer: iBGP peers default to skein's rule; eBGP peers get none without one (RFC 8212)", () => {
  const ibgp = configPeer({ address: "192.168.77.2", asNumber: 64512 }, 0, 64512);
  assertEquals([ibgp.policy, ibgp.policyNote], [{ import: true, export: true }, undefined]);
  const bare = configPeer({ address: "192.168.77.254", asNumber: 65000 }, 1, 64512);
  assertEquals(bare.policy, { import: false, export: false });
  assertStringIncludes(bare.policyNote!, "set backend.peers[1].import / .export");
  const half = configPeer(
    { address: "192.168.77.254", asNumber: 65000, import: ["10.50.0.0/16"] },
    0,
    64512,
  );
  assertEquals(half.policy, { import: ["10.50.0.0/16"], export: false });
  assertStringIncludes(half.policyNote!, "without export rule: nothing is sent to it");
  const full = configPeer(
    { address: "192.168.77.254", asNumber: 65000, import: "all", export: "none" },
    0,
    64512,
  );
  assertEquals([full.policy, full.policyNote, full.source], [
    { import: true, export: false },
    undefined,
    "config",
  ]);
});

Deno.test("BgpBackend.reload: peers and nodeToNodeMesh apply live, other changed fields are returned", async () => {
  const { createBackend } = await import("../mod.ts");
  const { nodeHandle } = await import("../../testing/fake_daemon_deps.ts");
  const b = createBackend({
    type: "bgp",
    handle: nodeHandle(),
    uplink: { name: "eth0", index: 2, mtu: 1500 },
    publicIP: "192.168.1.10",
    node: "n1",
    sysctl: { get: () => "1", set: () => {} },
    settings: { peers: [{ address: "192.168.1.254", asNumber: 65000 }] },
  } as never) as import("./mod.ts").BgpBackend;
  const peers = [{ address: "192.168.1.254", asNumber: 65000, import: "all", export: "all" }];
  assertEquals(b.reload({ peers, nodeToNodeMesh: false }), []);
  assertEquals([b.settings.peers, b.settings.nodeToNodeMesh], [peers, false]);
  assertEquals(b.reload({ peers, nodeToNodeMesh: false, holdTime: 30, port: 1179 }), [
    "port",
    "holdTime",
  ]);
  assertEquals([b.settings.holdTime, b.settings.port], [90, 179], "not applied live");
});

Deno.test("peers[].acceptDefault: a boolean, carried into the peer's policy only when true", () => {
  const raw = { address: "192.168.77.254", asNumber: 65000, import: "all", export: "all" };
  const [on] = BGP_FIELDS.peers.parse([{ ...raw, acceptDefault: true }]);
  assertEquals(configPeer(on!, 0, 64512).policy, {
    import: true,
    export: true,
    acceptDefault: true,
  });
  const [off] = BGP_FIELDS.peers.parse([{ ...raw, acceptDefault: false }]);
  assertEquals(configPeer(off!, 0, 64512).policy, { import: true, export: true });
  const e = assertThrows(
    () => BGP_FIELDS.peers.parse([{ ...raw, acceptDefault: "yes" }]),
    FieldProblem,
  );
  assertStringIncludes(e.message, "[0].acceptDefault must be true or false");
});
