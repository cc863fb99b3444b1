import { assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { NetlinkError } from "../net/errors.ts";
import { BackendSetupError } from "./_context.ts";
import { fakeNode, lease } from "../testing/fake_node.ts";
import { HostGwBackend } from "./hostgw.ts";
import { IpipBackend } from "./ipip.ts";
import { VxlanBackend } from "./vxlan.ts";

Deno.test("host-gw setup() turns on forwarding once and returns the uplink MTU", () => {
  const { h, ctx, sysctl } = fakeNode("host-gw");
  const b = new HostGwBackend(ctx);
  assertEquals(b.setup(), { backendData: {}, mtu: 1500, repaired: ["sysctl"] });
  assertEquals(sysctl.get("net.ipv4.ip_forward"), "1");
  assertEquals(h.ops, []);
  assertEquals(b.setup().repaired, [], "nothing to repair the second time");
});

Deno.test("vxlan setup() creates the device as flannel does and is a no-op the second time", () => {
  const { h, ctx } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  const r = b.setup();
  assertEquals(r.mtu, 1450);
  const l = h.linkFind("skein.1")!;
  assertEquals([l.kind, l.mtu, l.up, l.mac], ["vxlan", 1450, true, r.backendData.vtepMAC]);
  assertEquals(l.vxlan, {
    vni: 1,
    local: "192.168.1.11",
    dev: ctx.uplink.index,
    port: 8472,
    learning: false,
  });
  assertEquals(r.repaired, ["device", "sysctl"]);
  h.ops.length = 0;
  assertEquals(b.setup(), { ...r, repaired: [] });
  assertEquals(h.ops, []);
});

Deno.test("vxlan setup() recreates a device with wrong VNI and fixes MTU/MAC/up in place", () => {
  const { h, ctx } = fakeNode("vxlan");
  const b = new VxlanBackend(ctx);
  const mac = b.setup().backendData.vtepMAC as string;
  const l = h.linkFind("skein.1")!;
  h.linkSet(l.index, { mtu: 1500, mac: "02:00:00:00:00:99", up: false });
  h.ops.length = 0;
  assertEquals(b.setup().repaired, ["device"]);
  assertEquals(h.ops, [
    `link.set ${l.index} {"mtu":1450,"mac":"${mac}","up":true}`,
  ]);
  h.links.find((x) => x.name === "skein.1")!.vxlan!.vni = 42;
  h.ops.length = 0;
  b.setup();
  assertEquals(h.ops[0], `link.del ${l.index}`);
  assertEquals(h.linkFind("skein.1")?.vxlan?.vni, 1);
});

Deno.test("vxlan and ipip setup() recreate a tunnel given a TTL by hand (1 dies at a router)", () => {
  for (const kind of ["vxlan", "ipip"] as const) {
    const { h, ctx } = fakeNode(kind);
    const b = kind === "vxlan" ? new VxlanBackend(ctx) : new IpipBackend(ctx);
    b.setup();
    const name = kind === "vxlan" ? "skein.1" : "skein-ipip";
    const l = h.links.find((x) => x.name === name)!;
    if (kind === "vxlan") l.vxlan!.ttl = 1;
    else l.ipip = { ...l.ipip, ttl: 1 };
    h.ops.length = 0;
    assertEquals(b.setup().repaired, ["device"], kind);
    assertEquals(h.ops[0], `link.del ${l.index}`, kind);
    const again = h.linkFind(name)!;
    assertEquals(kind === "vxlan" ? again.vxlan?.ttl : again.ipip?.ttl, undefined, kind);
  }
});

Deno.test("vxlan keeps its MAC across restarts through stateDir", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const a = fakeNode("vxlan", { stateDir: dir });
    const mac = new VxlanBackend(a.ctx).setup().backendData.vtepMAC;
    // A fresh machine (no device) with the same stateDir gets the same MAC.
    const b = fakeNode("vxlan", { stateDir: dir });
    b.ctx.node = "renamed"; // the derived seed changes, the stored MAC wins
    assertEquals(new VxlanBackend(b.ctx).setup().backendData.vtepMAC, mac);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ipip setup() on a kernel without ipip says so; reconcile reports it", () => {
  const { h, ctx, self } = fakeNode("ipip");
  h.unsupportedKinds.add("ipip");
  const b = new IpipBackend(ctx);
  const e = assertThrows(() => b.setup(), BackendSetupError);
  assertStringIncludes(e.message, "Cannot create ipip device skein-ipip");
  assertStringIncludes(e.message, "no ipip support");
  const r = b.reconcile([lease(2)], self);
  assertEquals(r.routes, 0);
  assertStringIncludes(r.errors[0]!, "no ipip support");
});

Deno.test("ipip routes every lease onlink through the tunnel; IPv6 subnets are skipped", () => {
  const { h, ctx, self } = fakeNode("ipip");
  const b = new IpipBackend(ctx);
  assertEquals(b.setup().mtu, 1480);
  const far = lease(3, { publicIP: "10.9.9.9", subnet6: "fd00:10:0:3::/64" });
  const r = b.reconcile([lease(2), far], self);
  assertEquals(r.errors, []);
  assertEquals(r.skipped.map((s) => s.subnet), ["fd00:10:0:3::/64"]);
  const dev = h.linkFind("skein-ipip")!.index;
  assertEquals(h.routeList({ protocol: 100 }).map((x) => [x.dst, x.gateway, x.oif, x.onlink]), [
    ["10.244.2.0/24", "192.168.1.12", dev, true],
    ["10.244.3.0/24", "10.9.9.9", dev, true],
  ]);
  const again = b.reconcile([lease(2), far], self);
  assertEquals([again.added, again.removed, again.unchanged], [0, 0, 2]);
});

Deno.test("setup() of each backend removes skein's other tunnel devices, never foreign links", () => {
  // host-gw after vxlan and ipip: both skein devices go; a foreign vxlan and an ipip named
  // like the kernel's fallback device stay.
  {
    const { h, ctx } = fakeNode("host-gw");
    h.linkAdd({ kind: "vxlan", name: "skein.1", vni: 1, mtu: 1450, up: true });
    h.linkAdd({ kind: "ipip", name: "skein-ipip", local: "192.168.1.11", mtu: 1480 });
    h.linkAdd({ kind: "vxlan", name: "flannel.1", vni: 1, mtu: 1450 });
    h.linkAdd({ kind: "ipip", name: "tunl0", mtu: 1480 });
    new HostGwBackend(ctx).setup();
    assertEquals(h.links.map((l) => l.name).sort(), ["eth0", "flannel.1", "lo", "tunl0"]);
  }
  // vxlan after ipip: skein-ipip goes, skein.1 is (re)made.
  {
    const { h, ctx } = fakeNode("vxlan");
    h.linkAdd({ kind: "ipip", name: "skein-ipip", local: "192.168.1.11", mtu: 1480 });
    new VxlanBackend(ctx).setup();
    assertEquals(h.links.map((l) => `${l.name} ${l.kind}`).sort(), [
      "eth0 dummy",
      "lo undefined",
      "skein.1 vxlan",
    ]);
  }
  // ipip after vxlan: skein.1 goes.
  {
    const { h, ctx } = fakeNode("ipip");
    h.linkAdd({ kind: "vxlan", name: "skein.1", vni: 1, mtu: 1450 });
    new IpipBackend(ctx).setup();
    assertEquals(h.links.map((l) => `${l.name} ${l.kind}`).sort(), [
      "eth0 dummy",
      "lo undefined",
      "skein-ipip ipip",
    ]);
  }
  // A link with one of skein's names but another kind is not skein's: left alone.
  {
    const { h, ctx } = fakeNode("host-gw");
    h.linkAdd({ kind: "dummy", name: "skein.1", mtu: 1500 });
    h.linkAdd({ kind: "bridge", name: "skein-ipip", mtu: 1500 });
    h.ops.length = 0;
    new HostGwBackend(ctx).setup();
    assertEquals(h.ops, []);
    assertEquals(h.links.length, 4);
  }
});

Deno.test("host-gw setup() says which old device it could not remove", () => {
  const { h, ctx } = fakeNode("host-gw");
  h.linkAdd({ kind: "vxlan", name: "skein.1", vni: 1, mtu: 1450 });
  h.linkDel = () => {
    throw new NetlinkError("Cannot delete link skein.1", 1);
  };
  const e = assertThrows(() => new HostGwBackend(ctx).setup(), BackendSetupError);
  assertStringIncludes(e.message, "Cannot remove skein's old vxlan device skein.1");
  assertStringIncludes(e.message, "EPERM");
});
