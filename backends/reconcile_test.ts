import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { SKEIN_ROUTE_PROTOCOL } from "../net/types.ts";
import { fakeNode, lease } from "../testing/fake_node.ts";
import { HostGwBackend, hostGwDesired } from "./hostgw.ts";
import { OnLink } from "./_lease.ts";
import { reconcileState } from "./reconcile.ts";
import { VxlanBackend, vxlanDesired } from "./vxlan.ts";

Deno.test("host-gw reconcile adds one route per on-link lease, tagged proto 100", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  const r = new HostGwBackend(ctx).reconcile([self, lease(2), lease(3)], self);
  assertEquals(r.errors, []);
  assertEquals([r.added, r.removed, r.unchanged, r.routes], [2, 0, 0, 2]);
  const routes = h.routeList({ protocol: SKEIN_ROUTE_PROTOCOL }).map((
    x,
  ) => [x.dst, x.gateway, x.oif]);
  assertEquals(routes, [["10.244.2.0/24", "192.168.1.12", ctx.uplink.index], [
    "10.244.3.0/24",
    "192.168.1.13",
    ctx.uplink.index,
  ]]);
});

Deno.test("a second reconcile with the same leases changes nothing", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  const b = new HostGwBackend(ctx);
  b.reconcile([lease(2), lease(3)], self);
  const before = JSON.stringify(h.routes);
  h.ops.length = 0;
  const r = b.reconcile([lease(2), lease(3)], self);
  assertEquals([r.added, r.removed, r.unchanged], [0, 0, 2]);
  assertEquals(h.ops, []);
  assertEquals(JSON.stringify(h.routes), before);
});

Deno.test("host-gw skips a peer that is not on-link, with the reason, and programs the rest", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  const far = lease(4, { publicIP: "10.9.9.9" });
  const r = new HostGwBackend(ctx).reconcile([lease(2), far], self);
  assertEquals(r.errors, []);
  assertEquals(r.skipped.length, 1);
  assertEquals(r.skipped[0]?.subnet, "10.244.4.0/24");
  assertStringIncludes(r.skipped[0]!.reason, "10.9.9.9 is not on a network connected to eth0");
  assertStringIncludes(r.skipped[0]!.reason, "192.168.1.0/24");
  assertEquals(h.routeList({ protocol: 100 }).map((x) => x.dst), ["10.244.2.0/24"]);
});

Deno.test("a link-scope route on the uplink makes a peer on-link too", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  h.routeAdd({ dst: "172.16.0.0/16", dev: "eth0", scope: "link" });
  const onlink = new OnLink(h, ctx.uplink.index);
  assert(onlink.has("172.16.3.4"));
  assert(!onlink.has("172.17.0.1"));
  const d = hostGwDesired(ctx, [lease(5, { publicIP: "172.16.3.4" })], self, onlink);
  assertEquals(d.entries.length, 1);
});

Deno.test("stale routes of deleted nodes are removed; foreign and CNI routes are not", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  const b = new HostGwBackend(ctx);
  b.reconcile([lease(2), lease(3)], self);
  // A foreign static route and a CNI routed-mode pod route (proto 100 but no gateway).
  h.routeAdd({ dst: "10.99.0.0/16", gateway: "192.168.1.1", dev: "eth0", protocol: 4 });
  h.linkAdd({ kind: "dummy", name: "cali1", up: true });
  h.routeAdd({ dst: "10.244.1.5/32", dev: "cali1", scope: "link", protocol: SKEIN_ROUTE_PROTOCOL });
  const r = b.reconcile([lease(3)], self);
  assertEquals([r.added, r.removed, r.unchanged], [0, 1, 1]);
  assertEquals(h.routeList().map((x) => x.dst).sort(), [
    "10.244.1.5/32",
    "10.244.3.0/24",
    "10.99.0.0/16",
  ]);
  const r2 = b.reconcile([], self);
  assertEquals(r2.removed, 1);
  assertEquals(h.routeList().map((x) => x.dst).sort(), ["10.244.1.5/32", "10.99.0.0/16"]);
});

Deno.test("a route skein does not own for the same subnet is left alone and reported", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  h.routeAdd({ dst: "10.244.2.0/24", gateway: "192.168.1.1", dev: "eth0", protocol: 4 });
  const r = new HostGwBackend(ctx).reconcile([lease(2), lease(3)], self);
  assertEquals(r.skipped.map((s) => s.subnet), ["10.244.2.0/24"]);
  assertStringIncludes(r.skipped[0]!.reason, "does not own");
  const foreign = h.routeList().find((x) => x.dst === "10.244.2.0/24");
  assertEquals([foreign?.protocol, foreign?.gateway], [4, "192.168.1.1"]);
});

Deno.test("a wrong skein route is replaced; a changed node IP moves the route", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  const b = new HostGwBackend(ctx);
  b.reconcile([lease(2)], self);
  const r = b.reconcile([lease(2, { publicIP: "192.168.1.99" })], self);
  assertEquals([r.added, r.removed, r.unchanged], [1, 0, 0]);
  assertEquals(h.routeList({ protocol: 100 }).map((x) => x.gateway), ["192.168.1.99"]);
});

Deno.test("one failing lease does not block the others; its error names the subnet", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  h.failOn(/^route\.replace 10\.244\.3\.0/, "ENOBUFS");
  const r = new HostGwBackend(ctx).reconcile([lease(2), lease(3), lease(4)], self);
  assertEquals(r.errors.length, 1);
  assertStringIncludes(r.errors[0]!, "10.244.3.0/24 (node node3)");
  assertEquals(h.routeList({ protocol: 100 }).map((x) => x.dst), [
    "10.244.2.0/24",
    "10.244.4.0/24",
  ]);
});

Deno.test("a kernel refusal of one lease's route skips that lease: no error, no drift, the rest programmed", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  h.failOn(/^route\.replace 10\.244\.3\.0/, "EINVAL");
  const b = new HostGwBackend(ctx);
  for (let run = 0; run < 2; run++) {
    const r = b.reconcile([lease(2), lease(3), lease(4)], self);
    assertEquals(r.errors, []);
    assertEquals(r.driftLeft, {});
    assertEquals(r.drift, run === 0 ? { route: 2 } : {});
    assertEquals(r.skipped.length, 1);
    assertEquals(r.skipped[0]!.subnet, "10.244.3.0/24");
    assertStringIncludes(
      r.skipped[0]!.reason,
      "node node3's entries were refused by the kernel: Cannot route.replace 10.244.3.0/24",
    );
    assertStringIncludes(r.skipped[0]!.reason, "EINVAL");
  }
  assertEquals(h.routeList({ protocol: 100 }).map((x) => x.dst), [
    "10.244.2.0/24",
    "10.244.4.0/24",
  ]);
});

Deno.test("vxlan: an FDB entry the kernel refuses (EOPNOTSUPP) skips the lease; its route is not added", () => {
  const { h, ctx, self } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  b.setup();
  h.failOn(/^fdb\.set 0a:00:00:00:00:02/, "EOPNOTSUPP");
  const r = b.reconcile([lease(2), lease(3)], self);
  assertEquals(r.errors, []);
  assertEquals(r.skipped.map((s) => s.subnet), ["10.244.2.0/24"]);
  assertStringIncludes(r.skipped[0]!.reason, "EOPNOTSUPP");
  assertEquals(h.routeList({ protocol: 100 }).map((x) => x.dst), ["10.244.3.0/24"]);
});

Deno.test("every lease refused is the node's failure (its uplink is down): errors, not skips", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  h.failOn(/^route\.replace 10\.244\./, "ENETUNREACH");
  const r = new HostGwBackend(ctx).reconcile([lease(2), lease(3)], self);
  assertEquals(r.skipped, []);
  assertEquals(r.errors.length, 2);
  assertEquals(r.driftLeft, { route: 2 });
});

Deno.test("node-wide failures stay errors: a stale entry that cannot go, ENOBUFS", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  const b = new HostGwBackend(ctx);
  b.reconcile([lease(2), lease(3)], self);
  h.failOn(/^route\.del 10\.244\.2\.0/, "EINVAL"); // a stale route: no lease owns it
  h.failOn(/^route\.replace 10\.244\.4\.0/, "ENOBUFS");
  const r = b.reconcile([lease(3), lease(4)], self);
  assertEquals(r.skipped, []);
  assertEquals(r.errors.length, 2);
  assertEquals(r.driftLeft, { route: 2 });
});

Deno.test("bad leases are skipped with reasons: self IP, bad subnet, other backend, duplicate", () => {
  const { ctx, self, h } = fakeNode("host-gw");
  const r = new HostGwBackend(ctx).reconcile([
    lease(2, { publicIP: "192.168.1.11" }),
    lease(3, { subnet: "nonsense" }),
    lease(4, { backendType: "vxlan" }),
    lease(5),
    lease(6, { subnet: "10.244.5.0/24" }),
    lease(7, { node: "other", subnet: self.subnet }),
  ], self);
  const reasons = Object.fromEntries(r.skipped.map((s) => [s.subnet, s.reason]));
  assertStringIncludes(reasons["10.244.2.0/24"]!, "this node's public IP");
  assertStringIncludes(reasons["nonsense"]!, "not a CIDR");
  assertStringIncludes(reasons["10.244.4.0/24"]!, "uses backend vxlan");
  assertStringIncludes(reasons["10.244.5.0/24"]!, "duplicate lease");
  assertStringIncludes(reasons["10.244.1.0/24"]!, "own subnet");
  assertEquals(h.routeList({ protocol: 100 }).map((x) => x.dst), ["10.244.5.0/24"]);
});

Deno.test("dual-stack host-gw routes the IPv6 subnet via publicIP6 when on-link", () => {
  const { h, ctx, self, sysctl } = fakeNode("host-gw");
  const l = lease(2, { subnet6: "fd00:10:0:2::/64", publicIP6: "fd00:1::12" });
  const far = lease(3, { subnet6: "fd00:10:0:3::/64", publicIP6: "fd00:9::13" });
  const r = new HostGwBackend(ctx).reconcile([l, far], { ...self, subnet6: "fd00:10:0:1::/64" });
  assertEquals(r.errors, []);
  assertEquals(r.skipped.map((s) => s.subnet), ["fd00:10:0:3::/64"]);
  assertEquals(h.routeList({ family: 6 }).map((x) => [x.dst, x.gateway]), [[
    "fd00:10:0:2::/64",
    "fd00:1::12",
  ]]);
  assertEquals(sysctl.get("net.ipv6.conf.all.forwarding"), "1");
  const again = new HostGwBackend(ctx).reconcile([l, far], {
    ...self,
    subnet6: "fd00:10:0:1::/64",
  });
  assertEquals([again.added, again.removed, again.unchanged], [0, 0, 3]);
});

Deno.test("vxlan applies neighbour, then FDB, then route per lease; removes in reverse", () => {
  const { h, ctx, self } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  b.setup();
  h.ops.length = 0;
  const r = b.reconcile([lease(2)], self);
  assertEquals(r.errors, []);
  assertEquals(h.ops, [
    "addr.add 10.244.1.0/32 " + h.linkFind("skein.1")!.index,
    "neigh.set 10.244.2.0",
    "fdb.set 0a:00:00:00:00:02 192.168.1.12",
    "route.replace 10.244.2.0/24",
  ]);
  h.ops.length = 0;
  const r2 = b.reconcile([], self);
  assertEquals([r2.added, r2.removed, r2.unchanged], [0, 3, 1]);
  assertEquals(h.ops, [
    "route.del 10.244.2.0/24",
    "fdb.del 0a:00:00:00:00:02 192.168.1.12",
    "neigh.del 10.244.2.0",
  ]);
});

Deno.test("vxlan: a failed neighbour keeps that lease's FDB entry and route out", () => {
  const { h, ctx, self } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  b.setup();
  h.failOn(/^neigh\.set 10\.244\.2\.0/, "ENOBUFS");
  const r = b.reconcile([lease(2), lease(3)], self);
  assertEquals(r.errors.length, 1);
  assertStringIncludes(r.errors[0]!, "10.244.2.0/24 (node node2)");
  assertEquals(h.routeList({ protocol: 100 }).map((x) => x.dst), ["10.244.3.0/24"]);
  assertEquals(h.fdbs.map((f) => f.dst), ["192.168.1.13"]);
});

Deno.test("vxlan: a changed VTEP MAC or node IP is corrected in place", () => {
  const { h, ctx, self } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  b.setup();
  b.reconcile([lease(2)], self);
  const moved = lease(2, {
    publicIP: "192.168.1.50",
    backendData: { VtepMAC: "0A:00:00:00:00:99" },
  });
  const r = b.reconcile([moved], self);
  assertEquals(r.errors, []);
  assertEquals(h.neighs.map((n) => [n.ip, n.mac]), [["10.244.2.0", "0a:00:00:00:00:99"]]);
  assertEquals(h.fdbs.map((f) => [f.mac, f.dst]), [["0a:00:00:00:00:99", "192.168.1.50"]]);
  assertEquals(h.routeList({ protocol: 100 }).length, 1);
  const r2 = b.reconcile([moved], self);
  assertEquals([r2.added, r2.removed], [0, 0]);
});

Deno.test("vxlan: leases without a VTEP MAC or with a duplicate MAC are skipped", () => {
  const { ctx, self } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  b.setup();
  const r = b.reconcile([
    lease(2, { backendData: {} }),
    lease(3),
    lease(4, { backendData: { vtepMAC: "0a:00:00:00:00:03" } }),
  ], self);
  const reasons = Object.fromEntries(r.skipped.map((s) => [s.subnet, s.reason]));
  assertStringIncludes(reasons["10.244.2.0/24"]!, "no valid VTEP MAC");
  assertStringIncludes(reasons["10.244.4.0/24"]!, "duplicate MAC");
  assertEquals(r.routes, 1);
});

Deno.test("vxlan: a deleted device is recreated and its entries come back", () => {
  const { h, ctx, self } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  const mac = b.setup().backendData.vtepMAC;
  b.reconcile([lease(2), lease(3)], self);
  h.linkDel("skein.1");
  assertEquals(h.routeList({ protocol: 100 }).length, 0);
  assertEquals(b.setup().backendData.vtepMAC, mac);
  const r = b.reconcile([lease(2), lease(3)], self);
  assertEquals(r.errors, []);
  assertEquals(r.added, 7); // address + 2 × (neighbour, FDB, route)
  assertEquals(h.linkFind("skein.1")?.mac, mac);
  assertEquals(h.routeList({ protocol: 100 }).length, 2);
});

Deno.test("vxlan dual-stack: one device carries both families, one FDB entry per node", () => {
  const { h, ctx, self } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  b.setup();
  const me = { ...self, subnet6: "fd00:10:0:1::/64" };
  const r = b.reconcile([lease(2, { subnet6: "fd00:10:0:2::/64" })], me);
  assertEquals(r.errors, []);
  const dev = h.linkFind("skein.1")!.index;
  assertEquals(h.addrList({ dev }).map((a) => a.cidr).sort(), [
    "10.244.1.0/32",
    "fd00:10:0:1::/128",
  ]);
  assertEquals(h.neighs.map((n) => n.ip), ["10.244.2.0", "fd00:10:0:2::"]);
  assertEquals(h.fdbs.length, 1);
  assertEquals(h.routeList({ protocol: 100 }).map((x) => [x.dst, x.gateway, x.onlink]), [
    ["10.244.2.0/24", "10.244.2.0", true],
    ["fd00:10:0:2::/64", "fd00:10:0:2::", true],
  ]);
});

Deno.test("vxlanDesired is pure: same leases, same state", () => {
  const { ctx, self } = fakeNode("vxlan");
  const a = vxlanDesired(ctx, 7, [lease(2), lease(3)], self);
  const b = vxlanDesired(ctx, 7, [lease(2), lease(3)], self);
  assertEquals(a, b);
  assertEquals(a.ownedDevices, [7]);
});

Deno.test("reconcileState leaves kernel-learned (non-permanent) neighbours alone", () => {
  const { h, ctx, self } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  b.setup();
  const dev = h.linkFind("skein.1")!.index;
  h.neighSet({ dev, ip: "10.244.77.0", mac: "0a:00:00:00:00:77", state: "stale" });
  const r = reconcileState(h, vxlanDesired(ctx, dev, [], self));
  assertEquals(r.removed, 0);
  assertEquals(h.neighs.length, 1);
});

Deno.test("switching host-gw → vxlan moves IPv6 routes (old one deleted first, like the kernel needs)", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  const me = { ...self, subnet6: "fd00:10:0:1::/64" };
  const peer = lease(2, { subnet6: "fd00:10:0:2::/64", publicIP6: "fd00:1::12" });
  new HostGwBackend({ ...ctx, publicIP6: "fd00:1::11" }).reconcile([peer], me);
  assertEquals(h.routeList({ family: 6 }).map((r) => r.gateway), ["fd00:1::12"]);
  const vx = new VxlanBackend({ ...ctx, type: "vxlan", deviceName: "skein.1", mtu: 1450 });
  vx.setup();
  h.ops.length = 0;
  const r = vx.reconcile([peer], me);
  assertEquals(r.errors, []);
  assertEquals(h.ops.filter((o) => o.startsWith("route")), [
    "route.replace 10.244.2.0/24",
    "route.del fd00:10:0:2::/64",
    "route.replace fd00:10:0:2::/64",
  ]);
  assertEquals(h.routeList({ family: 6 }).map((x) => [x.gateway, x.onlink]), [[
    "fd00:10:0:2::",
    true,
  ]]);
});

Deno.test("every proto-100 route is the daemon's, except pod routes of older CNI plugins", () => {
  const { h, ctx, self } = fakeNode("host-gw");
  h.linkAdd({ kind: "dummy", name: "sk0123", up: true });
  // Pod routes: an older plugin's (100) and today's (101); a gateway-less subnet route tagged 100.
  h.routeAdd({ dst: "10.244.1.5/32", dev: "sk0123", scope: "link", protocol: 100 });
  h.routeAdd({ dst: "fd00:10:0:1::5/128", dev: "sk0123", protocol: 100 });
  h.routeAdd({ dst: "10.244.1.6/32", dev: "sk0123", scope: "link", protocol: 101 });
  h.routeAdd({ dst: "10.244.9.0/24", dev: "eth0", protocol: 100 });
  const r = new HostGwBackend(ctx).reconcile([], self);
  assertEquals([r.added, r.removed, r.errors], [0, 1, []]);
  assertEquals(h.routeList({ family: 4 }).map((x) => x.dst).sort(), [
    "10.244.1.5/32",
    "10.244.1.6/32",
  ]);
  assertEquals(h.routeList({ family: 6 }).map((x) => x.dst), ["fd00:10:0:1::5/128"]);
});

Deno.test("the report counts drift by kind: what the snapshot found different, and what is left", () => {
  const { h, ctx, self } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  b.setup();
  const first = b.reconcile([lease(2)], self);
  assertEquals(first.drift, { addr: 1, neigh: 1, fdb: 1, route: 1 });
  assertEquals(first.driftLeft, { addr: 0 });
  const dev = h.linkFind("skein.1")!.index;
  h.routeDel({ dst: "10.244.2.0/24", gateway: "10.244.2.0", dev, protocol: 100 });
  const again = b.reconcile([lease(2)], self);
  assertEquals(again.drift, { addr: 0, route: 1 });
  assertEquals(b.reconcile([lease(2)], self).drift, { addr: 0 });
});
