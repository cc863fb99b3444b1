/**
 * The reconciler against the real kernel, one node namespace per test: synthetic leases in,
 * `ip -j route show proto 100`, `ip -j neigh`, `bridge -j fdb` as the oracle (flannel's
 * route_network_test.go idea, plus the healing and no-flap cases flannel lacks).
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { openHandle } from "../net/mod.ts";
import { createBackend, ensureMasquerade } from "../backends/mod.ts";
import { withNamespaces } from "./_netns.ts";
import {
  fdbOf,
  inNamespaces,
  inNs,
  ipJson,
  ipn,
  type Json,
  mkLease,
  sh,
  skeinRoutes,
} from "./backends_helpers.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

/** A node namespace with an uplink eth0 = 192.168.0.1/16 (and fd00:1::1/64). */
function makeNode(ns: string): { name: string; index: number; mtu: number } {
  ipn(
    ns,
    // No dummy module in this kernel: a veth pair whose peer stays in the namespace.
    ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"],
    ["link", "set", "eth0p", "up"],
    ["link", "set", "eth0", "up"],
    ["link", "set", "lo", "up"],
    ["addr", "add", "192.168.0.1/16", "dev", "eth0"],
    ["addr", "add", "fd00:1::1/64", "dev", "eth0", "nodad"],
  );
  const [l] = ipJson<{ ifindex: number; mtu: number }>(ns, "link", "show", "eth0");
  return { name: "eth0", index: l!.ifindex, mtu: l!.mtu };
}

/** `ip monitor route neigh link address` while fn runs: every change announced (minus IPv6 autoconf). */
async function monitor(ns: string, fn: () => void): Promise<string> {
  const child = new Deno.Command("ip", {
    args: ["-n", ns.slice(ns.lastIndexOf("/") + 1), "monitor", "route", "neigh", "link", "address"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    await new Promise((r) => setTimeout(r, 300));
    fn();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    child.kill("SIGTERM");
  }
  const out = await child.output();
  // IPv6 address autoconfiguration of the test's links (link-local addresses finishing DAD, their
  // local-table routes) is the kernel's own doing, not skein's: leave it out.
  const kernelOwn = /fe80:|ff00::|proto kernel|table local|valid_lft|preferred_lft/;
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) =>
    l.trim() && !kernelOwn.test(l)
  )
    .join("\n");
}

Deno.test(
  "host-gw: routes per lease, foreign routes kept, no flap, healing, stale removal",
  opts,
  async () => {
    await withNamespaces(["hg"], async ({ hg }) => {
      const ns = hg!;
      const uplink = makeNode(ns);
      using handle = openHandle({ netns: ns });
      const self = mkLease(1, "192.168.0.1");
      const leases = [
        self,
        mkLease(2, "192.168.0.2"),
        mkLease(3, "192.168.0.3"),
        mkLease(4, "10.9.9.9"),
      ];
      // Routes skein does not own: a static route and a CNI routed-mode pod route (proto 100, no gateway).
      ipn(
        ns,
        ["link", "add", "cali1", "type", "veth", "peer", "name", "cali1p"],
        ["link", "set", "cali1p", "up"],
        ["link", "set", "cali1", "up"],
      );
      ipn(ns, ["route", "add", "10.99.0.0/16", "via", "192.168.0.254", "proto", "static"]);
      ipn(ns, ["route", "add", "10.244.1.5/32", "dev", "cali1", "proto", "100", "scope", "link"]);
      const b = createBackend({
        type: "host-gw",
        handle,
        netns: ns,
        uplink,
        publicIP: "192.168.0.1",
        node: "node1",
      });
      // A new namespace copies the host's ip_forward (devconf_inherit_init_net=0): turn it off,
      // then setup() says it repaired it.
      inNs(ns, "sysctl", "-qw", "net.ipv4.ip_forward=0");
      assertEquals(b.setup(), { backendData: {}, mtu: 1500, repaired: ["sysctl"] });
      assertEquals(inNs(ns, "cat", "/proc/sys/net/ipv4/ip_forward").trim(), "1");

      const r1 = b.reconcile(leases, self);
      assertEquals(r1.errors, []);
      assertEquals([r1.added, r1.removed, r1.routes], [2, 0, 2]);
      assertEquals(r1.skipped.map((s) => s.subnet), ["10.244.4.0/24"]);
      assertStringIncludes(r1.skipped[0]!.reason, "10.9.9.9 is not on a network connected to eth0");
      assertEquals(skeinRoutes(ns), [
        "10.244.2.0/24 via 192.168.0.2 dev eth0",
        "10.244.3.0/24 via 192.168.0.3 dev eth0",
      ]);

      // A second reconcile (a restarted daemon: a new backend object) changes nothing at all.
      const before = sh("ip", "-n", ns.split("/").pop()!, "-j", "route", "show", "table", "all");
      const b2 = createBackend({
        type: "host-gw",
        handle,
        netns: ns,
        uplink,
        publicIP: "192.168.0.1",
        node: "node1",
      });
      let r2 = b2.reconcile(leases, self);
      const events = await monitor(ns, () => {
        b2.setup();
        r2 = b2.reconcile(leases, self);
      });
      assertEquals(events, "");
      assertEquals([r2.added, r2.removed, r2.unchanged], [0, 0, 2]);
      assertEquals(
        sh("ip", "-n", ns.split("/").pop()!, "-j", "route", "show", "table", "all"),
        before,
      );

      // A route deleted by hand comes back.
      ipn(ns, ["route", "del", "10.244.2.0/24"]);
      let r3 = r2;
      // The monitor does report a change when there is one, so its silence above means something.
      const healed = await monitor(ns, () => (r3 = b2.reconcile(leases, self)));
      assertStringIncludes(healed, "10.244.2.0/24");
      assertEquals([r3.added, r3.removed], [1, 0]);
      assertEquals(skeinRoutes(ns).length, 2);

      // A node that leaves disappears; a node that moves is re-pointed.
      const r4 = b2.reconcile([self, mkLease(3, "192.168.0.33")], self);
      assertEquals([r4.added, r4.removed], [1, 1]);
      assertEquals(skeinRoutes(ns), ["10.244.3.0/24 via 192.168.0.33 dev eth0"]);

      // The foreign routes were never touched.
      const all = ipJson<{ dst: string; protocol?: string }>(ns, "route", "show");
      assert(all.some((r) => r.dst === "10.99.0.0/16" && r.protocol === "static"));
      assert(all.some((r) => r.dst === "10.244.1.5"));
    });
  },
);

Deno.test(
  "host-gw: a route skein does not own for a lease's subnet is left alone",
  opts,
  async () => {
    await inNamespaces(["hgf"], ({ hgf }) => {
      const ns = hgf!;
      const uplink = makeNode(ns);
      using handle = openHandle({ netns: ns });
      ipn(ns, ["route", "add", "10.244.2.0/24", "via", "192.168.0.254", "proto", "static"]);
      const b = createBackend({
        type: "host-gw",
        handle,
        netns: ns,
        uplink,
        publicIP: "192.168.0.1",
        node: "node1",
      });
      const r = b.reconcile([mkLease(2, "192.168.0.2")], mkLease(1, "192.168.0.1"));
      assertEquals(r.skipped.length, 1);
      assertStringIncludes(r.skipped[0]!.reason, "skein does not own");
      const [route] = ipJson<{ gateway: string; protocol: string }>(
        ns,
        "route",
        "show",
        "10.244.2.0/24",
      );
      assertEquals([route?.gateway, route?.protocol], ["192.168.0.254", "static"]);
    });
  },
);

Deno.test(
  "vxlan: device, neighbour/FDB/route per lease, restart keeps MAC, deleted device heals",
  opts,
  async () => {
    await withNamespaces(["vx"], async ({ vx }) => {
      const ns = vx!;
      const uplink = makeNode(ns);
      const stateDir = Deno.makeTempDirSync({ prefix: "skein-backends-" });
      try {
        using handle = openHandle({ netns: ns });
        const self = mkLease(1, "192.168.0.1");
        const mac2 = "0a:00:00:00:00:02", mac3 = "0a:00:00:00:00:03";
        const leases = [
          mkLease(2, "192.168.0.2", { backendData: { vtepMAC: mac2 } }),
          mkLease(3, "10.20.0.3", { backendData: { VtepMAC: mac3 } }), // routed underlay is fine
          mkLease(4, "192.168.0.4", { backendData: {} }),
        ];
        const mk = () =>
          createBackend({
            type: "vxlan",
            handle,
            netns: ns,
            uplink,
            publicIP: "192.168.0.1",
            node: "node1",
            stateDir,
          });
        const b = mk();
        const s = b.setup();
        assertEquals(s.mtu, 1450);
        const mac = s.backendData.vtepMAC as string;
        const [dev] = ipJson<Json>(ns, "-d", "link", "show", "skein.1");
        assertEquals(dev?.address, mac);
        assertEquals(dev?.mtu, 1450);
        assertEquals(dev?.linkinfo?.info_kind, "vxlan");
        const d = dev?.linkinfo?.info_data;
        assertEquals([d?.id, d?.port, d?.learning, d?.local, d?.link], [
          1,
          8472,
          false,
          "192.168.0.1",
          "eth0",
        ]);
        assertEquals(Deno.readTextFileSync(`${stateDir}/skein.1.mac`).trim(), mac);

        const r1 = b.reconcile(leases, self);
        assertEquals(r1.errors, []);
        assertEquals(r1.skipped.map((x) => x.subnet), ["10.244.4.0/24"]);
        assertEquals(skeinRoutes(ns), [
          "10.244.2.0/24 via 10.244.2.0 dev skein.1 onlink",
          "10.244.3.0/24 via 10.244.3.0 dev skein.1 onlink",
        ]);
        const neigh = ipJson<{ dst: string; lladdr: string; state: string[] }>(
          ns,
          "neigh",
          "show",
          "dev",
          "skein.1",
        )
          .map((n) => `${n.dst} ${n.lladdr} ${n.state.join(",")}`).sort();
        assertEquals(neigh, [`10.244.2.0 ${mac2} PERMANENT`, `10.244.3.0 ${mac3} PERMANENT`]);
        const fdb = fdbOf(ns, "skein.1").map((f) => `${f.mac} ${f.dst} ${f.state ?? ""}`).sort();
        assertEquals(fdb, [`${mac2} 192.168.0.2 permanent`, `${mac3} 10.20.0.3 permanent`]);
        const addrs = ipJson<{ addr_info: { local: string; prefixlen: number }[] }>(
          ns,
          "-4",
          "addr",
          "show",
          "skein.1",
        );
        assertEquals(addrs[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`), [
          "10.244.1.0/32",
        ]);

        // Restart: a new backend object with the same stateDir: same MAC, nothing changes.
        const b2 = mk();
        let r2 = b2.reconcile(leases, self);
        const events = await monitor(ns, () => {
          assertEquals(b2.setup().backendData.vtepMAC, mac);
          r2 = b2.reconcile(leases, self);
        });
        assertEquals(events, "");
        assertEquals([r2.added, r2.removed], [0, 0]);

        // The device deleted by hand: setup() recreates it with the same MAC, reconcile refills it.
        ipn(ns, ["link", "del", "skein.1"]);
        assertEquals(b2.setup().backendData.vtepMAC, mac);
        const r3 = b2.reconcile(leases, self);
        assertEquals(r3.errors, []);
        assertEquals(r3.added, 7);
        assertEquals(skeinRoutes(ns).length, 2);
        assertEquals(fdbOf(ns, "skein.1").length, 2);

        // Node 2 leaves: its route, FDB entry and neighbour go, in that order.
        const r4 = b2.reconcile(leases.slice(1), self);
        assertEquals([r4.added, r4.removed], [0, 3]);
        assertEquals(skeinRoutes(ns), ["10.244.3.0/24 via 10.244.3.0 dev skein.1 onlink"]);
        assertEquals(fdbOf(ns, "skein.1").map((f) => f.mac), [mac3]);
        assertEquals(ipJson(ns, "neigh", "show", "dev", "skein.1").length, 1);

        // Node 3 comes back with a new IP and a new MAC: FDB and neighbour corrected in place.
        const mac3b = "0a:00:00:00:00:33";
        const moved = mkLease(3, "192.168.0.33", { backendData: { vtepMAC: mac3b } });
        const r5 = b2.reconcile([moved], self);
        assertEquals(r5.errors, []);
        assertEquals(fdbOf(ns, "skein.1").map((f) => `${f.mac} ${f.dst}`), [
          `${mac3b} 192.168.0.33`,
        ]);
        const n5 = ipJson<{ dst: string; lladdr: string }>(ns, "neigh", "show", "dev", "skein.1");
        assertEquals(n5.map((n) => `${n.dst} ${n.lladdr}`), [`10.244.3.0 ${mac3b}`]);
        // Only the IP changes (same MAC): the FDB entry is replaced, still one entry.
        b2.reconcile([mkLease(3, "192.168.0.34", { backendData: { vtepMAC: mac3b } })], self);
        assertEquals(fdbOf(ns, "skein.1").map((f) => `${f.mac} ${f.dst}`), [
          `${mac3b} 192.168.0.34`,
        ]);
      } finally {
        Deno.removeSync(stateDir, { recursive: true });
      }
    });
  },
);

Deno.test("ipip: live device creation, or a skip with the kernel's reason", opts, async () => {
  await inNamespaces(["ii"], ({ ii }) => {
    const ns = ii!;
    const uplink = makeNode(ns);
    using handle = openHandle({ netns: ns });
    const b = createBackend({
      type: "ipip",
      handle,
      netns: ns,
      uplink,
      publicIP: "192.168.0.1",
      node: "node1",
    });
    let mtu: number;
    try {
      mtu = b.setup().mtu;
    } catch (e) {
      const msg = (e as Error).message;
      assertStringIncludes(msg, "Cannot create ipip device skein-ipip");
      console.log(`  skipped live ipip: ${msg}`);
      return;
    }
    assertEquals(mtu, 1480);
    const r = b.reconcile([mkLease(2, "10.30.0.2")], mkLease(1, "192.168.0.1"));
    assertEquals(r.errors, []);
    assertEquals(skeinRoutes(ns), ["10.244.2.0/24 via 10.30.0.2 dev skein-ipip onlink"]);
  });
});

Deno.test(
  "vxlan -> host-gw: setup() removes skein.1 with its address and routes, foreign links stay",
  opts,
  async () => {
    await inNamespaces(["sw"], ({ sw }) => {
      const ns = sw!;
      const uplink = makeNode(ns);
      const stateDir = Deno.makeTempDirSync({ prefix: "skein-backends-" });
      try {
        using handle = openHandle({ netns: ns });
        const self = mkLease(1, "192.168.0.1");
        const leases = [
          self,
          mkLease(2, "192.168.0.2", { backendData: { vtepMAC: "0a:00:00:00:00:02" } }),
        ];
        const base = { handle, netns: ns, uplink, publicIP: "192.168.0.1", node: "node1" };
        const vx = createBackend({ type: "vxlan", ...base, stateDir });
        vx.setup();
        assertEquals(vx.reconcile(leases, self).errors, []);
        assertEquals(skeinRoutes(ns), ["10.244.2.0/24 via 10.244.2.0 dev skein.1 onlink"]);
        // Not skein's: another vxlan device, and a veth that happens to be named skein-ipip.
        ipn(
          ns,
          [
            "link",
            "add",
            "flannel.1",
            "type",
            "vxlan",
            "id",
            "7",
            "dev",
            "eth0",
            "dstport",
            "4789",
          ],
          ["link", "add", "skein-ipip", "type", "veth", "peer", "name", "skein-ipp"],
        );
        const names = () => ipJson<{ ifname: string }>(ns, "link", "show").map((l) => l.ifname);
        assert(names().includes("skein.1"));

        // The node restarts with host-gw.
        const hg = createBackend({ type: "host-gw", ...base });
        // Removing vxlan's skein.1 is a device repair (forwarding was already on).
        assertEquals(hg.setup(), { backendData: {}, mtu: 1500, repaired: ["device"] });
        assertEquals(names().filter((n) => n !== "lo").sort(), [
          "eth0",
          "eth0p",
          "flannel.1",
          "skein-ipip",
          "skein-ipp",
        ]);
        assertEquals(
          ipJson<Json>(ns, "-4", "addr", "show").flatMap((l) =>
            l.addr_info.map((a: Json) => `${a.local}/${a.prefixlen} ${l.ifname}`)
          ).sort(),
          ["127.0.0.1/8 lo", "192.168.0.1/16 eth0"],
        );
        const r = hg.reconcile(leases, self);
        assertEquals(r.errors, []);
        assertEquals(skeinRoutes(ns), ["10.244.2.0/24 via 192.168.0.2 dev eth0"]);
        // Running setup() again finds nothing left to remove.
        hg.setup();
        assert(names().includes("flannel.1") && names().includes("skein-ipip"));
      } finally {
        Deno.removeSync(stateDir, { recursive: true });
      }
    });
  },
);

Deno.test("masquerade: one skein table, idempotent, removable", opts, async () => {
  await inNamespaces(["mq"], ({ mq }) => {
    const ns = mq!;
    const list = () => JSON.parse(inNs(ns, "nft", "-j", "list", "ruleset")).nftables as Json[];
    // Someone else's table, and the CNI plugin's ipMasq table, must survive.
    inNs(ns, "nft", "add", "table", "ip", "other");
    inNs(
      ns,
      "nft",
      "add table inet skein; add chain inet skein postrouting { type nat hook postrouting priority srcnat; }; add rule inet skein postrouting ip saddr 10.244.1.9 masquerade",
    );
    const o = {
      netns: ns,
      clusterNetworks: ["10.244.0.0/16", "fd00:10::/48"],
      podSubnets: ["10.244.1.0/24"],
      enabled: true,
    };
    ensureMasquerade(o);
    const first = list();
    const tables = first.filter((x) => x.table).map((x) => `${x.table.family} ${x.table.name}`)
      .sort();
    assertEquals(tables, ["inet skein", "inet skein-masq", "ip other"]);
    const rules = first.filter((x) => x.rule?.table === "skein-masq").map((x) => x.rule);
    assertEquals(rules.length, 7);
    assert(rules.every((r) => r.table === "skein-masq" && r.chain === "postrouting"));
    const chain = first.find((x) => x.chain?.table === "skein-masq")?.chain;
    assertEquals([chain?.type, chain?.hook], ["nat", "postrouting"]);
    const masq = rules.filter((r) =>
      r.expr.some((e: Record<string, unknown>) => "masquerade" in e)
    );
    assertEquals(masq.length, 4);
    // Applying again gives the same ruleset (handles aside); a change replaces it atomically.
    ensureMasquerade(o);
    const strip = (v: unknown) => JSON.stringify(v, (k, x) => (k === "handle" ? undefined : x));
    assertEquals(strip(list()), strip(first));
    ensureMasquerade({ ...o, clusterNetworks: ["10.244.0.0/16"] });
    assertEquals(list().filter((x) => x.rule?.table === "skein-masq").length, 4);
    // Disabled: the table goes, twice is fine, the other table stays.
    ensureMasquerade({ ...o, enabled: false });
    ensureMasquerade({ ...o, enabled: false });
    assertEquals(list().filter((x) => x.table).map((x) => x.table.name).sort(), ["other", "skein"]);
    assertEquals(list().filter((x) => x.rule).length, 1); // the CNI plugin's rule is intact
  });
});

Deno.test(
  "dual-stack: IPv6 routes (metric 1024) and neighbours are programmed once, then left alone",
  opts,
  async () => {
    await withNamespaces(["ds"], async ({ ds }) => {
      const ns = ds!;
      const uplink = makeNode(ns);
      using handle = openHandle({ netns: ns });
      const self = mkLease(1, "192.168.0.1", {
        subnet6: "fd00:10:0:1::/64",
        publicIP6: "fd00:1::1",
      });
      const peer = (n: number) =>
        mkLease(n, `192.168.0.${n}`, {
          subnet6: `fd00:10:0:${n}::/64`,
          publicIP6: `fd00:1::${n}`,
          backendData: { vtepMAC: `0a:00:00:00:00:0${n}` },
        });
      const leases = [peer(2), peer(3)];

      const hg = createBackend({
        type: "host-gw",
        handle,
        netns: ns,
        uplink,
        publicIP: "192.168.0.1",
        publicIP6: "fd00:1::1",
        node: "node1",
      });
      hg.setup();
      const r1 = hg.reconcile(leases, self);
      assertEquals([r1.errors, r1.skipped, r1.routes], [[], [], 4]);
      assertEquals(skeinRoutes(ns, "-6"), [
        "fd00:10:0:2::/64 via fd00:1::2 dev eth0",
        "fd00:10:0:3::/64 via fd00:1::3 dev eth0",
      ]);
      assertEquals(inNs(ns, "cat", "/proc/sys/net/ipv6/conf/all/forwarding").trim(), "1");
      let r2 = r1;
      assertEquals(await monitor(ns, () => (r2 = hg.reconcile(leases, self))), "");
      assertEquals([r2.added, r2.removed, r2.unchanged], [0, 0, 4]);
      // Switching the node to vxlan: host-gw's routes are replaced by the tunnel's.
      const vx = createBackend({
        type: "vxlan",
        handle,
        netns: ns,
        uplink,
        publicIP: "192.168.0.1",
        node: "node1",
      });
      vx.setup();
      const r3 = vx.reconcile(leases, self);
      assertEquals(r3.errors, []);
      assertEquals(skeinRoutes(ns, "-6"), [
        "fd00:10:0:2::/64 via fd00:10:0:2:: dev skein.1 onlink",
        "fd00:10:0:3::/64 via fd00:10:0:3:: dev skein.1 onlink",
      ]);
      const n6 = ipJson<{ dst: string; lladdr: string }>(
        ns,
        "-6",
        "neigh",
        "show",
        "dev",
        "skein.1",
      )
        .filter((n) => n.dst.startsWith("fd00")).map((n) => `${n.dst} ${n.lladdr}`).sort();
      assertEquals(n6, ["fd00:10:0:2:: 0a:00:00:00:00:02", "fd00:10:0:3:: 0a:00:00:00:00:03"]);
      let r4 = r3;
      assertEquals(await monitor(ns, () => (r4 = vx.reconcile(leases, self))), "");
      assertEquals([r4.added, r4.removed], [0, 0]);
    });
  },
);

Deno.test(
  "vxlan: a device with the wrong VNI/port/learning is replaced; wrong MTU fixed in place",
  opts,
  async () => {
    await inNamespaces(["vxw"], ({ vxw }) => {
      const ns = vxw!;
      const uplink = makeNode(ns);
      using handle = openHandle({ netns: ns });
      ipn(ns, [
        "link",
        "add",
        "skein.1",
        "type",
        "vxlan",
        "id",
        "5",
        "dstport",
        "4789",
        "local",
        "192.168.0.1",
        "dev",
        "eth0",
      ]);
      const b = createBackend({
        type: "vxlan",
        handle,
        netns: ns,
        uplink,
        publicIP: "192.168.0.1",
        node: "node1",
      });
      const mac = b.setup().backendData.vtepMAC;
      const show = () => ipJson<Json>(ns, "-d", "link", "show", "skein.1")[0]!;
      let d = show();
      assertEquals(
        [
          d.linkinfo.info_data.id,
          d.linkinfo.info_data.port,
          d.linkinfo.info_data.learning,
          d.address,
        ],
        [1, 8472, false, mac],
      );
      ipn(ns, ["link", "set", "skein.1", "mtu", "1300", "down"]);
      const ifindex = d.ifindex;
      b.setup();
      d = show();
      assertEquals([d.ifindex, d.mtu, d.flags.includes("UP")], [ifindex, 1450, true]);
    });
  },
);

Deno.test(
  "vxlan over an IPv6 underlay: MTU uplink − 70, FDB to the node's IPv6 address",
  opts,
  async () => {
    await inNamespaces(["vx6"], ({ vx6 }) => {
      const ns = vx6!;
      const uplink = makeNode(ns);
      using handle = openHandle({ netns: ns });
      const mk = () =>
        createBackend({
          type: "vxlan",
          handle,
          netns: ns,
          uplink,
          publicIP: "fd00:1::1",
          node: "node1",
        });
      assertEquals(mk().setup().mtu, 1430);
      const d = ipJson<Json>(ns, "-d", "link", "show", "skein.1")[0]!;
      assertEquals([d.mtu, d.linkinfo.info_data.local6], [1430, "fd00:1::1"]);
      const self = mkLease(1, "fd00:1::1");
      const peer = mkLease(2, "fd00:1::2", { backendData: { vtepMAC: "0a:00:00:00:00:02" } });
      const r = mk().reconcile([peer], self);
      assertEquals([r.errors, r.routes], [[], 1]);
      assertEquals(fdbOf(ns, "skein.1").map((f) => `${f.mac} ${f.dst}`), [
        "0a:00:00:00:00:02 fd00:1::2",
      ]);
      const again = mk().reconcile([peer], self);
      assertEquals([again.added, again.removed], [0, 0]);
    });
  },
);
