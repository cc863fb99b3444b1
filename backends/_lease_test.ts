import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { fakeNode, lease } from "../testing/fake_node.ts";
import { checkLeases, OnLink } from "./_lease.ts";
import { onLinkOf } from "./direct_routing.ts";
import { hostGwDesired } from "./hostgw.ts";
import { IpipBackend, ipipDesired } from "./ipip.ts";
import { vtepMacOf, vtepMacProblem, VxlanBackend, vxlanDesired } from "./vxlan.ts";

const self = lease(1);
const opts = { type: "vxlan", publicIP: "192.168.1.11" };
const reasons = (s: { subnet: string; reason: string }[]) =>
  s.map((x) => `${x.subnet}: ${x.reason}`).join("\n");

Deno.test("checkLeases() skips a lease whose public IP no node can have, with the reason", () => {
  const bad = ["0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "240.0.0.9"];
  const leases = [lease(2), ...bad.map((ip, i) => lease(3 + i, { publicIP: ip }))];
  const c = checkLeases(leases, self, opts);
  assertEquals(c.leases.map((l) => l.subnet), ["10.244.2.0/24"]);
  assertEquals(c.skipped.map((s) => s.subnet), bad.map((_, i) => `10.244.${3 + i}.0/24`));
  const text = reasons(c.skipped);
  assertStringIncludes(text, "10.244.4.0/24: node node4's public IP 127.0.0.1 is a loopback");
  assertStringIncludes(text, "node node5's public IP 224.0.0.1 is a multicast address");
  assertStringIncludes(text, "255.255.255.255 is the limited broadcast address");
  assertStringIncludes(text, "no node can be reached there");
});

Deno.test("checkLeases() skips a lease whose IPv6 public IP no node can have; garbage stays as none", () => {
  const c = checkLeases(
    [
      lease(2, { publicIP6: "ff02::1" }),
      lease(3, { publicIP6: "fd00:1::13" }),
      lease(4, {
        publicIP6: "garbage",
      }),
    ],
    self,
    opts,
  );
  assertEquals(c.leases.map((l) => l.node), ["node3", "node4"]);
  assertStringIncludes(reasons(c.skipped), "node node2's IPv6 public IP ff02::1 is a multicast");
});

Deno.test("vxlan refuses a lease whose VTEP MAC the kernel refuses, saying which", () => {
  const macs = ["00:00:00:00:00:00", "01:00:5e:00:00:01", "FF:FF:FF:FF:FF:FF", "nonsense"];
  const leases = [lease(2), ...macs.map((m, i) => lease(3 + i, { backendData: { VtepMAC: m } }))];
  const d = vxlanDesired({ publicIP: "192.168.1.11", underlayFamily: 4 }, 9, leases, self);
  assertEquals(d.entries.map((e) => e.subnet), ["10.244.2.0/24"]);
  const text = reasons(d.skipped);
  assertStringIncludes(
    text,
    "10.244.3.0/24: node node3 published the VTEP MAC 00:00:00:00:00:00, the all-zero MAC: the kernel takes no FDB entry for it",
  );
  assertStringIncludes(
    text,
    "10.244.4.0/24: node node4 published the VTEP MAC 01:00:5e:00:00:01, a multicast MAC",
  );
  assertStringIncludes(
    text,
    "10.244.5.0/24: node node5 published the VTEP MAC ff:ff:ff:ff:ff:ff, the broadcast MAC",
  );
  assertStringIncludes(
    text,
    '10.244.6.0/24: node node6 published a VTEP MAC that is not a MAC: "nonsense"',
  );
  assertEquals(vtepMacOf(leases[1]!), undefined);
  assertEquals(
    vtepMacProblem(lease(7, { backendData: {} })),
    "published no valid VTEP MAC (backendData.vtepMAC)",
  );
  assertEquals(
    vtepMacOf(lease(7, { backendData: { VtepMAC: "0A:00:00:00:00:07" } })),
    "0a:00:00:00:00:07",
  );
});

Deno.test("host-gw refuses a public IP that is the network or broadcast address of the uplink's prefix", () => {
  const ctx = { uplink: { name: "eth0", index: 2, mtu: 1500 }, publicIP: "192.168.1.11" };
  const onlink = onLinkOf(["192.168.1.0/24"]);
  const leases = [
    lease(2),
    lease(3, { publicIP: "192.168.1.255" }),
    lease(4, { publicIP: "192.168.1.0" }),
  ];
  const d = hostGwDesired(ctx, leases, self, onlink);
  assertEquals(d.entries.map((e) => e.subnet), ["10.244.2.0/24"]);
  assertEquals(reasons(d.skipped).split("\n"), [
    "10.244.3.0/24: node node3's public IP 192.168.1.255 is the broadcast address of 192.168.1.0/24, the uplink's network: no node has it, and the kernel refuses it as a next hop",
    "10.244.4.0/24: node node4's public IP 192.168.1.0 is the network address of 192.168.1.0/24, the uplink's network: no node has it, and the kernel refuses it as a next hop",
  ]);
});

Deno.test("OnLink.edge() reads the uplink's address prefixes (not /31, not IPv6)", () => {
  const { h, ctx } = fakeNode("host-gw");
  h.addrAdd({ dev: "eth0", cidr: "10.0.0.0/31" });
  const o = new OnLink(h, ctx.uplink.index);
  assertEquals(o.edge("192.168.1.255"), "the broadcast address of 192.168.1.0/24");
  assertEquals(o.edge("192.168.1.0"), "the network address of 192.168.1.0/24");
  assertEquals(o.edge("192.168.1.12"), undefined);
  assertEquals(o.edge("10.0.0.1"), undefined);
  assertEquals(o.edge("fd00:1::"), undefined);
  assertEquals(o.edge("garbage"), undefined);
});

Deno.test("directRouting refuses an on-link broadcast public IP instead of tunnelling to it", () => {
  const direct = { uplink: 2, onlink: onLinkOf(["192.168.1.0/24"]) };
  const leases = [lease(2), lease(3, { publicIP: "192.168.1.255" })];
  for (
    const d of [
      vxlanDesired({ publicIP: "192.168.1.11", underlayFamily: 4 }, 9, leases, self, direct),
      ipipDesired({ publicIP: "192.168.1.11" }, 9, leases, self, direct),
    ]
  ) {
    assertEquals(d.entries.map((e) => e.subnet), ["10.244.2.0/24"]);
    assertEquals(d.skipped.map((s) => s.subnet), ["10.244.3.0/24"]);
    assertStringIncludes(d.skipped[0]!.reason, "is the broadcast address of 192.168.1.0/24");
  }
});

Deno.test("vxlan and ipip refuse a tunnel endpoint at the uplink's network or broadcast address", () => {
  for (const type of ["vxlan", "ipip"] as const) {
    const { h, ctx, self } = fakeNode(type);
    const b = type === "vxlan" ? new VxlanBackend(ctx) : new IpipBackend(ctx);
    b.setup();
    const leases = [
      lease(2),
      lease(3, { publicIP: "192.168.1.255" }),
      lease(4, { publicIP: "192.168.1.0" }),
    ];
    const r = b.reconcile(leases, self);
    assertEquals(r.errors, []);
    assertEquals(r.skipped.map((s) => s.subnet), ["10.244.3.0/24", "10.244.4.0/24"], type);
    assertStringIncludes(
      r.skipped[0]!.reason,
      "192.168.1.255 is the broadcast address of 192.168.1.0/24",
    );
    assertEquals(h.routeList({ protocol: 100 }).map((x) => x.dst), ["10.244.2.0/24"]);
    assertEquals(b.plan(leases, self).skipped.map((s) => s.subnet), [
      "10.244.3.0/24",
      "10.244.4.0/24",
    ]);
  }
});
