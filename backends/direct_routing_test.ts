import { assert, assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { fakeNode, lease } from "../testing/fake_node.ts";
import { SKEIN_ROUTE_PROTOCOL } from "../net/types.ts";
import { BackendConfigError } from "./_context.ts";
import { isOnLink, onLinkOf, peerPath, withDirectRouting } from "./direct_routing.ts";
import { ipipDesired } from "./ipip.ts";
import { plan } from "./plan.ts";
import { snapshot } from "./snapshot.ts";
import { VxlanBackend, vxlanDesired } from "./vxlan.ts";
import { IpipBackend } from "./ipip.ts";

const ETH0 = 2;
const DEV = 9;
/** The node's segment: 192.168.1.0/24 (lease(n) is 192.168.1.(10+n), on-link). */
const ONLINK = onLinkOf(["192.168.1.0/24", "fd00:1::/64"]);
const ctx = { publicIP: "192.168.1.11", underlayFamily: 4 as const };
const self = lease(1);
/** A peer behind a router, on the other segment. */
const far = (n: number) => lease(n, { publicIP: `192.168.2.${10 + n}` });

Deno.test("isOnLink: inside a connected prefix of the same family only; garbage is not on-link", () => {
  assert(isOnLink("192.168.1.12", ["192.168.1.0/24"]));
  assert(!isOnLink("192.168.2.12", ["192.168.1.0/24"]));
  assert(isOnLink("fd00:1::12", ["192.168.1.0/24", "fd00:1::/64"]));
  assert(!isOnLink("nonsense", ["192.168.1.0/24"]));
  assert(!isOnLink("192.168.1.12", ["bad", "10.0.0.0/8"]));
  assert(!isOnLink("192.168.1.12", []));
  assertEquals(onLinkOf([]).describe(), "none");
  assertEquals(peerPath("192.168.1.12", ONLINK), "direct");
  assertEquals(peerPath("192.168.2.12", ONLINK), "tunnel");
  assertEquals(peerPath(undefined, ONLINK), "tunnel");
});

Deno.test("vxlan directRouting: on-link peers get a host-gw route, off-link peers the vxlan entries", () => {
  const d = vxlanDesired(ctx, DEV, [self, lease(2), far(3), lease(4)], self, {
    uplink: ETH0,
    onlink: ONLINK,
  });
  assertEquals(d.skipped, []);
  assertEquals(d.ownedDevices, [DEV]);
  assertEquals(d.entries.map((e) => e.subnet), ["10.244.2.0/24", "10.244.3.0/24", "10.244.4.0/24"]);
  assertEquals(d.entries[0], {
    subnet: "10.244.2.0/24",
    node: "node2",
    neighs: [],
    fdbs: [],
    routes: [{ dst: "10.244.2.0/24", gateway: "192.168.1.12", dev: ETH0 }],
  });
  assertEquals(d.entries[1], {
    subnet: "10.244.3.0/24",
    node: "node3",
    neighs: [{ dev: DEV, ip: "10.244.3.0", mac: "0a:00:00:00:00:03" }],
    fdbs: [{ dev: DEV, mac: "0a:00:00:00:00:03", dst: "192.168.2.13" }],
    routes: [{ dst: "10.244.3.0/24", gateway: "10.244.3.0", dev: DEV, onlink: true }],
  });
  // Without directRouting every peer takes the tunnel (today's behaviour).
  const plain = vxlanDesired(ctx, DEV, [lease(2), far(3)], self);
  assert(plain.entries.every((e) => e.routes[0]!.dev === DEV && e.fdbs.length === 1));
});

Deno.test("directRouting: an on-link peer needs no VTEP MAC; bad leases are still skipped", () => {
  const d = vxlanDesired(
    ctx,
    DEV,
    [
      lease(2, { backendData: {} }),
      lease(3, { publicIP: "192.168.1.11" }),
      lease(4, { backendType: "ipip" }),
      far(5),
    ],
    self,
    { uplink: ETH0, onlink: ONLINK },
  );
  assertEquals(d.entries.map((e) => [e.subnet, e.routes[0]!.dev]), [
    ["10.244.2.0/24", ETH0],
    ["10.244.5.0/24", DEV],
  ]);
  const reasons = d.skipped.map((s) => `${s.subnet}: ${s.reason}`).join("\n");
  assertStringIncludes(reasons, "10.244.3.0/24: node node3 claims this node's public IP");
  assertStringIncludes(reasons, "10.244.4.0/24: node node4 uses backend ipip");
  assertEquals(d.skipped.length, 2);
});

Deno.test("directRouting, dual-stack: direct only when both node IPs are on-link", () => {
  const v6 = (n: number, ip6: string) =>
    lease(n, { subnet6: `fd10:${n}::/64`, publicIP6: ip6 } as Record<string, unknown>);
  const d = vxlanDesired(ctx, DEV, [v6(2, "fd00:1::12"), v6(3, "fd00:9::13")], self, {
    uplink: ETH0,
    onlink: ONLINK,
  });
  assertEquals(d.entries[0]!.routes, [
    { dst: "10.244.2.0/24", gateway: "192.168.1.12", dev: ETH0 },
    { dst: "fd10:2::/64", gateway: "fd00:1::12", dev: ETH0 },
  ]);
  // node3's IPv6 address is off-link: the whole lease takes the tunnel.
  assertEquals(d.entries[1]!.routes.map((r) => r.dev), [DEV, DEV]);
});

Deno.test("ipip directRouting: host-gw route on-link, onlink tunnel route otherwise; IPv6 skipped", () => {
  const d = ipipDesired(ctx, DEV, [lease(2, { subnet6: "fd10:2::/64" }), far(3)], self, {
    uplink: ETH0,
    onlink: ONLINK,
  });
  assertEquals(d.entries.map((e) => e.routes), [
    [{ dst: "10.244.2.0/24", gateway: "192.168.1.12", dev: ETH0 }],
    [{ dst: "10.244.3.0/24", gateway: "192.168.2.13", dev: DEV, onlink: true }],
  ]);
  assertEquals(d.skipped.map((s) => s.subnet), ["fd10:2::/64"]);
  assertStringIncludes(d.skipped[0]!.reason, "ipip carries IPv4 only");
});

Deno.test("withDirectRouting keeps lease order and hands only the rest to the tunnel builder", () => {
  const seen: string[] = [];
  const d = withDirectRouting(
    { type: "vxlan", publicIP: "192.168.1.11", uplink: ETH0, onlink: ONLINK },
    [far(4), lease(2), far(3)],
    self,
    (rest) => {
      seen.push(...rest.map((l) => l.subnet));
      return vxlanDesired(ctx, DEV, rest, self);
    },
  );
  assertEquals(seen, ["10.244.4.0/24", "10.244.3.0/24"]);
  assertEquals(d.entries.map((e) => e.subnet), ["10.244.4.0/24", "10.244.2.0/24", "10.244.3.0/24"]);
});

Deno.test("a peer moving off-link then on-link: plan() swaps its entries cleanly (fake kernel)", () => {
  const { h, ctx: c, self: me } = fakeNode("vxlan", { settings: { directRouting: true } });
  const b = new VxlanBackend(c);
  const dev = b.setup().device!.index;
  // node2 starts on-link: one host-gw route on eth0, nothing on the vxlan device.
  let r = b.reconcile([lease(2)], me);
  assertEquals(r.errors, []);
  const route = () => h.routeList({ protocol: SKEIN_ROUTE_PROTOCOL })[0]!;
  assertEquals([route().gateway, route().oif], ["192.168.1.12", c.uplink.index]);
  assertEquals(h.fdbList({ dev }).length, 0);
  // It moves behind the router: neighbour + FDB + onlink route on the vxlan device.
  r = b.reconcile([far(2)], me);
  assertEquals(r.errors, []);
  assertEquals([route().gateway, route().oif, route().onlink], ["10.244.2.0", dev, true]);
  assertEquals(h.fdbList({ dev }).map((f) => f.dst), ["192.168.2.12"]);
  assertEquals(h.neighList({ dev }).map((n) => n.ip), ["10.244.2.0"]);
  // And back: the route returns to eth0, the neighbour and FDB entry are deleted as stale.
  const moveBack = plan(
    vxlanDesired(c, dev, [lease(2)], me, { uplink: c.uplink.index, onlink: ONLINK }),
    snapshot(h, { devices: [dev] }),
  );
  assertEquals(moveBack.ops.map((o) => `${o.action} ${o.kind} ${o.reason}`).sort(), [
    "delete fdb stale",
    "delete neigh stale",
    "replace route wrong-nexthop",
  ]);
  r = b.reconcile([lease(2)], me);
  assertEquals(r.errors, []);
  assertEquals([route().gateway, route().oif], ["192.168.1.12", c.uplink.index]);
  assertEquals([h.fdbList({ dev }).length, h.neighList({ dev }).length], [0, 0]);
  // Nothing left to do.
  assertEquals(b.plan([lease(2)], me).ops, []);
});

Deno.test("ipip backend with directRouting programs an on-link peer on the uplink", () => {
  const { h, ctx: c, self: me } = fakeNode("ipip", { settings: { directRouting: true } });
  const b = new IpipBackend(c);
  const dev = b.setup().device!.index;
  const r = b.reconcile([lease(2), far(3)], me);
  assertEquals(r.errors, []);
  assertEquals(
    h.routeList({ protocol: SKEIN_ROUTE_PROTOCOL }).map((x) => [x.dst, x.gateway, x.oif]),
    [["10.244.2.0/24", "192.168.1.12", c.uplink.index], ["10.244.3.0/24", "192.168.2.13", dev]],
  );
});

Deno.test("backend.directRouting: boolean, default false, refused by host-gw naming the field", () => {
  const { ctx } = fakeNode("vxlan");
  assertEquals(ctx.settings.directRouting, false);
  assertEquals(fakeNode("ipip", { settings: { directRouting: true } }).ctx.settings, {
    directRouting: true,
  });
  const e = assertThrows(() => fakeNode("host-gw", { settings: { directRouting: true } }));
  assert(e instanceof BackendConfigError);
  assertStringIncludes(e.message, "directRouting");
  const bad = assertThrows(() => fakeNode("vxlan", { settings: { directRouting: "yes" } }));
  assertStringIncludes((bad as Error).message, "directRouting");
  assertStringIncludes((bad as Error).message, "true or false");
});
