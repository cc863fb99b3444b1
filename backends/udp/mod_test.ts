import { assertEquals } from "../../testing/assert.ts";
import { fakeNode, lease } from "../../testing/fake_node.ts";
import { plan } from "../plan.ts";
import { snapshot } from "../snapshot.ts";
import { udpDesired, unknownSendersJson } from "./mod.ts";

Deno.test("udpDesired(): one gateway-less route for the cluster network, every IPv4 lease a peer", () => {
  const { ctx, self } = fakeNode("udp");
  assertEquals(ctx.mtu, 1500 - 28);
  assertEquals(ctx.settings.port, 8285);
  const d = udpDesired(ctx, 7, [lease(2), lease(3, { subnet6: "fd00:3::/64" }), self], self, {
    network: "10.244.0.0/16",
    port: 8285,
  });
  assertEquals(d.entries.map((e) => e.routes), [[{ dst: "10.244.0.0/16", dev: 7 }]]);
  assertEquals(d.peers, [
    { subnet: "10.244.2.0/24", publicIP: "192.168.1.12", port: 8285, node: "node2" },
    { subnet: "10.244.3.0/24", publicIP: "192.168.1.13", port: 8285, node: "node3" },
  ]);
  assertEquals(d.skipped.map((s) => s.subnet), ["fd00:3::/64"]);
});

Deno.test("udpDesired(): without the cluster network there is no route, and it says why", () => {
  const { ctx, self } = fakeNode("udp");
  const d = udpDesired(ctx, 7, [lease(2, { publicIP: "fd00:1::12" })], self, { port: 9000 });
  assertEquals(d.entries, []);
  assertEquals(d.peers, []);
  assertEquals(d.skipped.length, 2);
});

Deno.test("plan(): a gateway-less route already in place is unchanged; a gatewayed one is fixed", () => {
  const { h, ctx, self } = fakeNode("udp");
  const tun = h.linkAdd({ kind: "dummy", name: "skein-udp", mtu: 1472, up: true });
  const d = udpDesired(ctx, tun.index, [lease(2)], self, { network: "10.244.0.0/16", port: 8285 });
  const first = plan(d, snapshot(h, { devices: [] }));
  assertEquals(first.ops.map((o) => `${o.action} ${o.key} ${o.reason}`), [
    "replace 10.244.0.0/16|0 missing",
  ]);
  h.routeReplace({ dst: "10.244.0.0/16", dev: tun.index, protocol: 100 });
  assertEquals(plan(d, snapshot(h, { devices: [] })).ops, []);
  h.routeReplace({
    dst: "10.244.0.0/16",
    dev: tun.index,
    gateway: "10.244.9.9",
    onlink: true,
    protocol: 100,
  });
  assertEquals(plan(d, snapshot(h, { devices: [] })).ops.map((o) => o.reason), ["wrong-nexthop"]);
});

Deno.test("unknownSendersJson(): addresses as text, the inner pair only when known, ISO times", () => {
  const ip = (v: number) => ({ family: 4 as const, value: BigInt(v) });
  assertEquals(
    unknownSendersJson({
      replaced: 3,
      senders: [
        {
          source: ip(0xc0a84d62),
          port: 8285,
          inner: { source: ip(0x0af40202), destination: ip(0x0af40102) },
          count: 5,
          lastSeen: new Date(Date.UTC(2026, 0, 1)),
        },
        { source: ip(0x01020304), port: 9, count: 1, lastSeen: new Date(Date.UTC(2026, 0, 2)) },
      ],
    }),
    {
      replaced: 3,
      senders: [
        {
          source: "192.168.77.98",
          port: 8285,
          innerSource: "10.244.2.2",
          innerDestination: "10.244.1.2",
          count: 5,
          lastSeen: "2026-01-01T00:00:00.000Z",
        },
        { source: "1.2.3.4", port: 9, count: 1, lastSeen: "2026-01-02T00:00:00.000Z" },
      ],
    },
  );
});
