/**
 * Integration (root): neighbours (incl. proxy entries) and bridge FDB entries applied by skein,
 * checked with `ip -j neigh` and `bridge -j fdb`, in fresh namespaces. Mirrors what the VXLAN
 * backend programs per remote node: neighbour, then FDB, then the onlink route.
 */
import { assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { NetlinkError, openHandle } from "../net/mod.ts";
import type { Handle } from "../net/mod.ts";
import { withNamespaces } from "./_netns.ts";
import { bridgej, ip, ipj, type Json } from "./net_oracle.ts";

function vxlanNode(h: Handle): void {
  h.linkAdd({ kind: "veth", name: "eth0", peer: { name: "eth0p" }, up: true });
  h.addrAdd({ dev: "eth0", cidr: "192.168.1.1/24" });
  h.linkAdd({
    kind: "vxlan",
    name: "flannel.1",
    vni: 1,
    local: "192.168.1.1",
    dev: "eth0",
    port: 8472,
    learning: false,
    up: true,
  });
}

Deno.test("neighSet() replaces, neighDel() removes, neighList() agrees with ip -j neigh", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    vxlanNode(h);
    h.neighSet({ dev: "flannel.1", ip: "10.244.2.0", mac: "0a:58:0a:f4:02:00" });
    h.neighSet({ dev: "flannel.1", ip: "10.244.2.0", mac: "0a:58:0a:f4:02:01" }); // replace
    h.neighSet({ dev: "eth0", ip: "fd00::9", mac: "0a:58:00:00:00:09", state: "reachable" });
    const [n] = ipj(ns.a!, "neigh", "show", "dev", "flannel.1");
    assertEquals([n.dst, n.lladdr, n.state], ["10.244.2.0", "0a:58:0a:f4:02:01", ["PERMANENT"]]);
    const [n6] = ipj(ns.a!, "-6", "neigh", "show", "dev", "eth0").filter((x: Json) =>
      x.dst === "fd00::9"
    );
    assertEquals(n6.lladdr, "0a:58:00:00:00:09");

    const mine = h.neighList({ dev: "flannel.1", family: 4 });
    assertEquals(mine.map((x) => [x.ip, x.mac, x.state, x.family]), [[
      "10.244.2.0",
      "0a:58:0a:f4:02:01",
      "permanent",
      4,
    ]]);
    assertEquals(h.neighList({ family: 6, dev: "eth0" }).some((x) => x.ip === "fd00::9"), true);

    h.neighDel({ dev: "flannel.1", ip: "10.244.2.0" });
    assertEquals(ipj(ns.a!, "neigh", "show", "dev", "flannel.1"), []);
    const e = assertThrows(() => h.neighDel({ dev: "flannel.1", ip: "10.244.2.0" }), NetlinkError);
    assertEquals(e.code, "ENOENT");
    assertStringIncludes(
      e.message,
      "Cannot delete neighbour 10.244.2.0 dev flannel.1: kernel returned ENOENT",
    );
    assertThrows(
      () => h.neighSet({ dev: "nosuch0", ip: "10.0.0.1", mac: "0a:58:00:00:00:01" }),
      NetlinkError,
      "ENODEV",
    );
    assertThrows(
      () => h.neighSet({ dev: "eth0", ip: "10.0.0.1", mac: "0a:58:00:00:00:01", state: "bogus" }),
      TypeError,
      "bogus",
    );
  });
});

Deno.test("neighSet({ proxy }) adds a proxy entry that neighList({ proxy }) and ip neigh show proxy both see", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    vxlanNode(h);
    h.neighSet({ dev: "eth0", ip: "192.168.1.77", proxy: true });
    const theirs = ipj(ns.a!, "neigh", "show", "proxy").map((x: Json) => `${x.dst} ${x.dev}`);
    assertEquals(theirs, ["192.168.1.77 eth0"]);
    assertEquals(h.neighList({ proxy: true }).map((x) => x.ip), ["192.168.1.77"]);
    assertEquals(
      h.neighList().some((x) => x.ip === "192.168.1.77"),
      false,
      "proxy entries are listed apart",
    );
    h.neighDel({ dev: "eth0", ip: "192.168.1.77", proxy: true });
    assertEquals(ipj(ns.a!, "neigh", "show", "proxy"), []);
  });
});

Deno.test("fdbAppend/fdbSet/fdbDel on a VXLAN device, fdbList() agrees with bridge -j fdb", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    vxlanNode(h);
    const zero = "00:00:00:00:00:00";
    h.fdbAppend({ dev: "flannel.1", mac: zero, dst: "192.168.1.2" });
    h.fdbAppend({ dev: "flannel.1", mac: zero, dst: "192.168.1.3" }); // append: a second remote
    h.fdbSet({ dev: "flannel.1", mac: "0a:58:0a:f4:02:00", dst: "192.168.1.48" });
    h.fdbSet({
      dev: "flannel.1",
      mac: "0a:58:0a:f4:02:00",
      dst: "192.168.1.49",
      vni: 7,
      port: 4789,
    }); // replace
    const theirs = bridgej(ns.a!, "fdb", "show", "dev", "flannel.1")
      .filter((f: Json) => f.dst)
      .map((f: Json) =>
        `${f.mac} ${f.dst} ${f.vni ?? "-"} ${f.port ?? "-"} ${f.flags.join(",")} ${f.state}`
      )
      .sort();
    assertEquals(theirs, [
      "00:00:00:00:00:00 192.168.1.2 - - self permanent",
      "00:00:00:00:00:00 192.168.1.3 - - self permanent",
      "0a:58:0a:f4:02:00 192.168.1.49 7 4789 self permanent",
    ]);
    const mine = h.fdbList({ dev: "flannel.1" }).filter((f) => f.dst)
      .map((f) =>
        `${f.mac} ${f.dst} ${f.vni ?? "-"} ${f.port ?? "-"} ${f.self ? "self" : ""} ${f.state}`
      ).sort();
    assertEquals(mine, theirs);

    h.fdbDel({ dev: "flannel.1", mac: zero, dst: "192.168.1.2" });
    h.fdbDel({ dev: "flannel.1", mac: "0a:58:0a:f4:02:00" });
    const left = bridgej(ns.a!, "fdb", "show", "dev", "flannel.1").filter((f: Json) => f.dst).map((
      f: Json,
    ) => f.dst);
    assertEquals(left, ["192.168.1.3"]);
    const e = assertThrows(
      () => h.fdbDel({ dev: "flannel.1", mac: "0a:58:0a:f4:09:09" }),
      NetlinkError,
    );
    assertEquals(e.code, "ENOENT");
    assertStringIncludes(
      e.message,
      "Cannot delete FDB entry 0a:58:0a:f4:09:09 dev flannel.1: kernel returned ENOENT",
    );
  });
});

Deno.test("VXLAN per-node state in flannel's order: neighbour, FDB, onlink route", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    vxlanNode(h);
    const before = ip(ns.a!, "route", "show");
    // The onlink route through the vxlan device needs no neighbour to be accepted ...
    h.neighSet({ dev: "flannel.1", ip: "10.244.2.0", mac: "0a:58:0a:f4:02:00" });
    h.fdbAppend({ dev: "flannel.1", mac: "0a:58:0a:f4:02:00", dst: "192.168.1.2" });
    h.routeReplace({
      dst: "10.244.2.0/24",
      gateway: "10.244.2.0",
      dev: "flannel.1",
      onlink: true,
      protocol: 100,
    });
    const [r] = ipj(ns.a!, "route", "show", "10.244.2.0/24");
    assertEquals([r.gateway, r.dev, r.flags], ["10.244.2.0", "flannel.1", ["onlink"]]);
    const g = h.routeGet("10.244.2.5");
    assertEquals([g.gateway, g.devName], ["10.244.2.0", "flannel.1"]);
    h.routeDel({ dst: "10.244.2.0/24", protocol: 100 });
    assertEquals(ip(ns.a!, "route", "show"), before);
  });
});

Deno.test("bridge FDB entries of a bridge port (master) are listed, sticky ones as sticky", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    h.linkAdd({ kind: "bridge", name: "br0", up: true });
    h.linkAdd({ kind: "veth", name: "p0", peer: { name: "p1" }, master: "br0", up: true });
    h.fdbAppend({ dev: "p0", mac: "0a:58:0a:f4:07:07", master: true, state: "static" });
    const theirs = bridgej(ns.a!, "fdb", "show", "dev", "p0").filter((f: Json) =>
      f.mac === "0a:58:0a:f4:07:07"
    );
    assertEquals(theirs.length, 1);
    assertEquals(theirs[0].state, "static");
    const mine = h.fdbList({ dev: "p0" }).filter((f) => f.mac === "0a:58:0a:f4:07:07");
    assertEquals(mine.map((f) => [f.master, f.state]), [[true, "static"]]);
    // A sticky one (learning does not move it), added by bridge(8): read as sticky.
    const sticky = new Deno.Command("ip", {
      args: ["netns", "exec", ns.a!.split("/").pop()!, "bridge", "fdb", "add"].concat(
        "0a:58:0a:f4:07:08 dev p0 master static sticky".split(" "),
      ),
    }).outputSync();
    assertEquals(sticky.success, true, new TextDecoder().decode(sticky.stderr));
    assertEquals(
      bridgej(ns.a!, "fdb", "show", "dev", "p0").find((f: Json) => f.mac === "0a:58:0a:f4:07:08")
        ?.flags,
      ["sticky"],
    );
    assertEquals(
      h.fdbList({ dev: "p0" }).filter((f) => f.mac.startsWith("0a:58:0a:f4:07:0"))
        .map((f) => [f.mac, f.state, f.sticky]).sort((a, b) =>
          String(a[0]) < String(b[0]) ? -1 : 1
        ),
      [["0a:58:0a:f4:07:07", "static", undefined], ["0a:58:0a:f4:07:08", "static", true]],
    );
    h.fdbDel({ dev: "p0", mac: "0a:58:0a:f4:07:08", master: true, state: "static" });
    h.fdbDel({ dev: "p0", mac: "0a:58:0a:f4:07:07", master: true, state: "static" });
    assertEquals(
      bridgej(ns.a!, "fdb", "show", "dev", "p0").filter((f: Json) => f.mac === "0a:58:0a:f4:07:07"),
      [],
    );
  });
});

Deno.test("neighTables() agrees with ip -s ntable show: thresholds, entries, table_fulls", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    const [arp] = h.neighTables().filter((t) => t.name === "arp_cache");
    const [j] = ipj(ns.a!, "-4", "ntable", "show", "name", "arp_cache").filter((x: Json) =>
      x.dev === undefined
    );
    assertEquals([arp?.family, arp?.thresh1, arp?.thresh2, arp?.thresh3], [
      4,
      j.thresh1,
      j.thresh2,
      j.thresh3,
    ]);
    // The table is the machine's (every namespace's entries): other tests move `entries`.
    const text = ip(ns.a!, "-s", "-4", "ntable", "show", "name", "arp_cache");
    const entries = Number(/ entries (\d+)/.exec(text)![1]);
    const fulls = Number(/ table_fulls (\d+)/.exec(text)![1]);
    assertEquals(arp!.tableFulls, fulls);
    assertEquals(Math.abs(arp!.entries - entries) < 100, true, `${arp!.entries} vs ${entries}`);
    assertEquals(h.neighTables(6).map((t) => [t.family, t.name]), [[6, "ndisc_cache"]]);
  });
});
