/**
 * Integration (root): link verbs applied by skein, checked with `ip -j -d link`.
 * Every test works in fresh namespaces that are deleted afterwards.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { isIfname, isNetlinkError, NetlinkError, netnsList, openHandle } from "../net/mod.ts";
import { testPrefix, withNamespaces } from "./_netns.ts";
import { ip, ipj, linkOf, nsNameOf } from "./net_oracle.ts";
import { attachXdpDrop, detachXdp } from "./_xdp.ts";

Deno.test("linkAdd() veth creates the peer directly in another namespace", async () => {
  await withNamespaces(["a", "b"], (ns) => {
    using h = openHandle({ netns: ns.a });
    const l = h.linkAdd({
      kind: "veth",
      name: "v0",
      mtu: 1400,
      up: true,
      peer: { name: "v1", netns: ns.b!, mtu: 1400 },
    });
    assertEquals([l.name, l.kind, l.mtu, l.up], ["v0", "veth", 1400, true]);
    const a = linkOf(ns.a!, "v0");
    assertEquals([a.linkinfo.info_kind, a.mtu, a.flags.includes("UP")], ["veth", 1400, true]);
    assertEquals(a.ifindex, l.index);
    assertEquals(a.address, l.mac);
    assertEquals(linkOf(ns.a!, "v1"), undefined);
    const b = linkOf(ns.b!, "v1");
    assertEquals([b.linkinfo.info_kind, b.mtu], ["veth", 1400]);
    // The handle's socket stays in namespace a: linkList() sees a's links only.
    assertEquals(h.linkList().map((x) => x.name).sort(), ["lo", "v0"]);
    assertEquals(ipj(ns.a!, "link", "show").map((x: { ifname: string }) => x.ifname).sort(), [
      "lo",
      "v0",
    ]);
  });
});

Deno.test("linkAdd() bridge, then linkSet() master/nomaster, hairpin, promisc, mtu, mac, txqlen, name, down", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    const br = h.linkAdd({ kind: "bridge", name: "br0", up: true });
    assertEquals(linkOf(ns.a!, "br0").linkinfo.info_kind, "bridge");
    h.linkAdd({ kind: "veth", name: "p0", peer: { name: "p1" } });

    h.linkSet("p0", {
      master: "br0",
      hairpin: true,
      promisc: true,
      up: true,
      mtu: 1450,
      mac: "0a:58:0a:f4:01:01",
      txqlen: 500,
    });
    let p = linkOf(ns.a!, "p0");
    assertEquals(p.master, "br0");
    assertEquals(p.linkinfo.info_slave_kind, "bridge");
    assertEquals(p.linkinfo.info_slave_data.hairpin, true);
    assert(p.promiscuity >= 1, "promiscuity counted");
    assert(p.flags.includes("PROMISC"));
    assertEquals([p.mtu, p.address, p.txqlen, p.flags.includes("UP")], [
      1450,
      "0a:58:0a:f4:01:01",
      500,
      true,
    ]);
    h.linkSet("p1", { up: true }); // a port without carrier is "disabled"
    const got = h.linkGet("p0");
    assertEquals([got.masterIndex, got.hairpin, got.mac, got.mtu, got.portState], [
      br.index,
      true,
      "0a:58:0a:f4:01:01",
      1450,
      3, // forwarding: no STP on br0
    ]);
    const set = new Deno.Command("nsenter", {
      args: [`--net=${ns.a}`, "bridge", "link", "set", "dev", "p0", "state", "0"],
    }).outputSync();
    assert(set.success, new TextDecoder().decode(set.stderr));
    assertEquals(h.linkGet("p0").portState, 0); // `bridge link show`: state disabled
    // The port flags, as `bridge -d link show` prints them, default and after `bridge link set`.
    assertEquals(h.linkGet("p0").portFlags, {
      learning: true,
      flood: true,
      bcastFlood: true,
      mcastFlood: true,
      isolated: false,
      proxyArp: false,
    });
    const flags = ["learning", "off", "flood", "off", "bcast_flood", "off", "isolated", "on"];
    const set2 = new Deno.Command("nsenter", {
      args: [`--net=${ns.a}`, "bridge", "link", "set", "dev", "p0", ...flags],
    }).outputSync();
    assert(set2.success, new TextDecoder().decode(set2.stderr));
    const set3 = new Deno.Command("nsenter", {
      args: [`--net=${ns.a}`, "ip", "link", "set", "p0", "type", "bridge_slave", "proxy_arp", "on"],
    }).outputSync();
    assert(set3.success, new TextDecoder().decode(set3.stderr));
    const ipr = linkOf(ns.a!, "p0").linkinfo.info_slave_data;
    assertEquals([ipr.learning, ipr.flood, ipr.bcast_flood, ipr.isolated, ipr.proxy_arp], [
      false,
      false,
      false,
      true,
      true,
    ]);
    assertEquals(h.linkGet("p0").portFlags, {
      learning: false,
      flood: false,
      bcastFlood: false,
      mcastFlood: true,
      isolated: true,
      proxyArp: true,
    });

    h.linkSet("p0", { hairpin: false, promisc: false });
    p = linkOf(ns.a!, "p0");
    assertEquals(p.linkinfo.info_slave_data.hairpin, false);
    assert(!p.flags.includes("PROMISC"));

    h.linkSet("p0", { master: null, up: false, name: "p0new" });
    p = linkOf(ns.a!, "p0new");
    assertEquals([p.master, p.flags.includes("UP")], [undefined, false]);
    assertEquals(linkOf(ns.a!, "p0"), undefined);
  });
});

Deno.test("linkAdd({ netns }) creates the link directly in another namespace and returns it", async () => {
  await withNamespaces(["a", "b"], (ns) => {
    using h = openHandle({ netns: ns.a });
    const br = h.linkAdd({ kind: "bridge", name: "brx", netns: ns.b!, up: true });
    assertEquals(linkOf(ns.a!, "brx"), undefined);
    const theirs = linkOf(ns.b!, "brx");
    assertEquals([theirs.ifindex, theirs.linkinfo.info_kind], [br.index, "bridge"]);
  });
});

Deno.test("linkSet({ netns }) moves a link; linkDel() removes it", async () => {
  await withNamespaces(["a", "b"], (ns) => {
    using h = openHandle({ netns: ns.a });
    h.linkAdd({ kind: "veth", name: "m0", peer: { name: "m1" } });
    h.linkSet("m1", { netns: ns.b! });
    assertEquals(linkOf(ns.a!, "m1"), undefined);
    assert(linkOf(ns.b!, "m1"));
    h.linkDel("m0");
    assertEquals(linkOf(ns.a!, "m0"), undefined);
    assertEquals(linkOf(ns.b!, "m1"), undefined, "deleting one veth end deletes the peer");
    assertEquals(h.linkFind("m0"), undefined);
  });
});

Deno.test("linkDelAsync() deletes a veth pair off the JS thread; ENODEV when absent", async () => {
  await withNamespaces(["a", "b"], async (ns) => {
    using h = openHandle({ netns: ns.a });
    h.linkAdd({ kind: "veth", name: "d0", peer: { name: "d1", netns: ns.b! } });
    await h.linkDelAsync("d0");
    assertEquals(linkOf(ns.a!, "d0"), undefined);
    assertEquals(linkOf(ns.b!, "d1"), undefined, "the peer went with it");
    const e = await h.linkDelAsync("d0").then(() => undefined, (e) => e);
    assert(isNetlinkError(e, "ENODEV"), String(e));
    assertEquals(h.linkFind("lo")?.name, "lo", "the handle works after an async call");
  });
});

Deno.test("linkAdd() vxlan sets VNI, local, dev, port, learning, UDP checksum and ttl", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    const up = h.linkAdd({ kind: "veth", name: "eth0", peer: { name: "eth0p" }, up: true });
    h.addrAdd({ dev: "eth0", cidr: "192.168.50.2/24" });
    const vx = h.linkAdd({
      kind: "vxlan",
      name: "flannel.1",
      vni: 4097,
      local: "192.168.50.2",
      dev: "eth0",
      port: 8472,
      learning: false,
      udpCsum: true,
      ttl: 17,
      mtu: 1450,
      up: true,
    });
    const d = linkOf(ns.a!, "flannel.1");
    const info = d.linkinfo.info_data;
    assertEquals(d.linkinfo.info_kind, "vxlan");
    assertEquals([info.id, info.local, info.link, info.port, info.learning, info.ttl], [
      4097,
      "192.168.50.2",
      "eth0",
      8472,
      false,
      17,
    ]);
    assertEquals(info.udp_csum, true);
    assertEquals(d.mtu, 1450);
    assertEquals(vx.vxlan, {
      ...vx.vxlan,
      vni: 4097,
      local: "192.168.50.2",
      dev: up.index,
      port: 8472,
      learning: false,
      udpCsum: true,
      ttl: 17,
    });
  });
});

Deno.test("linkAdd() ipip sets local, remote, dev, ttl and pmtudisc (skips when the kernel has no ipip)", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    h.linkAdd({ kind: "veth", name: "eth0", peer: { name: "eth0p" } });
    try {
      h.linkAdd({
        kind: "ipip",
        name: "tunl9",
        local: "10.0.0.1",
        remote: "10.0.0.2",
        dev: "eth0",
        ttl: 64,
      });
    } catch (e) {
      if (isNetlinkError(e, "EOPNOTSUPP")) {
        console.log(
          `  skipped: this kernel has no ipip support (${
            (e as Error).message
          }); ipip is proven by golden bytes in net/nl/golden_test.ts`,
        );
        return;
      }
      throw e;
    }
    const d = linkOf(ns.a!, "tunl9");
    assertEquals(d.linkinfo.info_kind, "ipip");
    assertEquals([
      d.linkinfo.info_data.local,
      d.linkinfo.info_data.remote,
      d.linkinfo.info_data.ttl,
    ], ["10.0.0.1", "10.0.0.2", 64]);
    assertEquals(d.linkinfo.info_data.pmtudisc, true);
    assertEquals(d.linkinfo.info_data.link, "eth0");
  });
});

Deno.test("linkAdd() dummy (skips when the kernel has no dummy driver)", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    try {
      h.linkAdd({ kind: "dummy", name: "d0", up: true });
    } catch (e) {
      if (isNetlinkError(e, "EOPNOTSUPP")) {
        console.log(`  skipped: this kernel has no dummy driver (${(e as Error).message})`);
        return;
      }
      throw e;
    }
    assertEquals(linkOf(ns.a!, "d0").linkinfo.info_kind, "dummy");
  });
});

Deno.test("link errors are NetlinkErrors that say what was attempted: EEXIST, ENODEV", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    h.linkAdd({ kind: "bridge", name: "br0" });
    const before = ip(ns.a!, "link", "show");
    const dup = assertThrows(() => h.linkAdd({ kind: "bridge", name: "br0" }), NetlinkError);
    assertEquals(dup.code, "EEXIST");
    assertStringIncludes(dup.message, "Cannot add link br0 (type bridge): kernel returned EEXIST");
    const gone = assertThrows(() => h.linkDel("nosuch0"), NetlinkError);
    assertEquals(gone.code, "ENODEV");
    assertStringIncludes(gone.message, "Cannot delete link nosuch0: kernel returned ENODEV");
    assertThrows(() => h.linkSet("nosuch0", { up: true }), NetlinkError, "ENODEV");
    assertThrows(() => h.linkGet("nosuch0"), NetlinkError, "Cannot find link nosuch0");
    // Bad input is refused before anything is sent.
    assertThrows(
      () => h.linkAdd({ kind: "veth", name: "way-too-long-ifname", peer: { name: "x" } }),
      TypeError,
      "1-15 bytes",
    );
    assertThrows(() => h.linkSet("br0", { mac: "not-a-mac" }), SyntaxError, "not-a-mac");
    assertThrows(
      () => h.linkAdd({ kind: "vxlan", name: "vx0", vni: 1, dev: "nosuch0" }),
      NetlinkError,
      "dev nosuch0",
    );
    assertEquals(ip(ns.a!, "link", "show"), before, "failed calls changed nothing");
  });
});

Deno.test("linkList() agrees with ip -j link show", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    h.linkAdd({ kind: "bridge", name: "br0" });
    h.linkAdd({ kind: "veth", name: "v0", peer: { name: "v1" } });
    const mine = h.linkList().map((l) => [l.index, l.name, l.mtu, l.mac ?? "", l.up]).sort();
    const theirs = ipj(ns.a!, "link", "show").map((
      l: { ifindex: number; ifname: string; mtu: number; address?: string; flags: string[] },
    ) => [
      l.ifindex,
      l.ifname,
      l.mtu,
      l.address ?? "",
      l.flags.includes("UP"),
    ]).sort();
    assertEquals(mine, theirs);
  });
});

Deno.test("nothing is left behind: no namespace with this run's prefix remains", () => {
  assertEquals(netnsList().filter((n) => n.startsWith(`${testPrefix()}-`)), []);
});

Deno.test("isIfname() agrees with the kernel on which names a link may have", async () => {
  // `ip link add` refuses some names itself (empty, too long, "/", ASCII spaces) and hands the
  // others to the kernel, so its exit status is the kernel's answer for every name below.
  const names = [
    "eth0",
    "abcdefghijklmno",
    "abcdefghijklmné", // 15 characters, 16 bytes
    "abcdefghijklmé", // 14 characters, 15 bytes
    "a:b",
    "à", // C3 A0: the kernel's isspace() counts 0xA0
    "a\u00a0b",
    "a\u2000b", // E2 80 80: no 0xA0 byte, taken
    "a\x01b",
    "a b",
    ".",
    "..",
  ];
  await withNamespaces(["a"], (ns) => {
    const got = names.map((n) => {
      const out = new Deno.Command("ip", {
        args: ["-n", ns.a!.replace("/run/netns/", ""), "link", "add", n, "type", "bridge"],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      return [n, out.success];
    });
    assertEquals(got, names.map((n) => [n, isIfname(n)]));
  });
});

Deno.test("linkList() reports an attached XDP program (IFLA_XDP: mode and program id)", async () => {
  await withNamespaces(["a"], async (ns) => {
    using h = openHandle({ netns: ns.a });
    h.linkAdd({ kind: "veth", name: "x0", peer: { name: "x1" } });
    assertEquals(h.linkGet("x0").xdp, undefined);
    await attachXdpDrop(nsNameOf(ns.a!), "x0");
    const x = h.linkGet("x0").xdp;
    const id = linkOf(ns.a!, "x0").xdp?.prog?.id;
    assertEquals(x, { mode: "generic", progId: id });
    await detachXdp(nsNameOf(ns.a!), "x0");
    assertEquals(h.linkGet("x0").xdp, undefined);
  });
});
