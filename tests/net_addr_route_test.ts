/**
 * Integration (root): addresses and routes applied by skein, checked with `ip -j addr` and
 * `ip -j route`, in fresh namespaces.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { NetlinkError, openHandle, SKEIN_ROUTE_PROTOCOL } from "../net/mod.ts";
import type { Handle } from "../net/mod.ts";
import { withNamespaces } from "./_netns.ts";
import { ip, ipj, type Json } from "./net_oracle.ts";

/** A namespace with eth0 (192.168.1.1/24, fd00:1::1/64) up, its peer in the same namespace. */
function uplink(h: Handle): number {
  const l = h.linkAdd({ kind: "veth", name: "eth0", peer: { name: "eth0p" }, up: true });
  h.linkSet("eth0p", { up: true });
  h.addrAdd({ dev: "eth0", cidr: "192.168.1.1/24" });
  h.addrAdd({ dev: "eth0", cidr: "fd00:1::1/64", nodad: true });
  return l.index;
}

/**
 * Waits until the kernel has finished the uplink's IPv6 setup: fd00:1::1's local route appears
 * only once the veth has carrier (the kernel's link watch, later on a loaded machine), so a
 * snapshot of every table taken before that is not yet stable.
 */
async function uplinkSettled(ns: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (ip(ns, "-6", "route", "show", "table", "local").includes("local fd00:1::1 ")) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("fd00:1::1's local route did not appear within 10 s");
}

function addrsOf(ns: string, dev: string): string[] {
  const [l] = ipj(ns, "addr", "show", "dev", dev);
  return l.addr_info.filter((a: Json) => a.scope !== "link").map((a: Json) =>
    `${a.local}/${a.prefixlen}`
  ).sort();
}

Deno.test("addrAdd/addrReplace/addrDel v4 and v6, and addrList() agrees with ip -j addr", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    const idx = uplink(h);
    h.addrAdd({ dev: "eth0", cidr: "10.5.0.1/16", broadcast: "+", label: "eth0:web" });
    h.addrReplace({ dev: idx, cidr: "10.6.0.1/24" });
    h.addrReplace({ dev: idx, cidr: "10.6.0.1/24" }); // replace is idempotent
    assertEquals(addrsOf(ns.a!, "eth0"), [
      "10.5.0.1/16",
      "10.6.0.1/24",
      "192.168.1.1/24",
      "fd00:1::1/64",
    ]);
    const [l] = ipj(ns.a!, "addr", "show", "dev", "eth0");
    const web = l.addr_info.find((a: Json) => a.local === "10.5.0.1");
    assertEquals([web.broadcast, web.label], ["10.5.255.255", "eth0:web"]);

    const mine = h.addrList({ dev: "eth0" }).filter((a) => a.scope !== "link").map((a) => a.cidr)
      .sort();
    assertEquals(mine, addrsOf(ns.a!, "eth0"));
    assertEquals(h.addrList({ dev: "eth0", family: 6 }).every((a) => a.family === 6), true);

    h.addrDel({ dev: "eth0", cidr: "10.5.0.1/16" });
    h.addrDel({ dev: "eth0", cidr: "fd00:1::1/64" });
    assertEquals(addrsOf(ns.a!, "eth0"), ["10.6.0.1/24", "192.168.1.1/24"]);
    const e = assertThrows(() => h.addrAdd({ dev: "eth0", cidr: "10.6.0.1/24" }), NetlinkError);
    assertEquals(e.code, "EEXIST");
    assertStringIncludes(
      e.message,
      "Cannot add address 10.6.0.1/24 dev eth0: kernel returned EEXIST",
    );
    assertThrows(
      () => h.addrDel({ dev: "eth0", cidr: "10.99.0.1/24" }),
      NetlinkError,
      "EADDRNOTAVAIL",
    );
    assertThrows(() => h.addrAdd({ dev: "nosuch0", cidr: "10.7.0.1/24" }), NetlinkError, "ENODEV");
  });
});

Deno.test("routeAdd() with gateway, dev, metric, table, protocol, src, mtu; onlink; scope link; routeList() agrees with ip", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    const idx = uplink(h);
    h.routeAdd({
      dst: "10.244.2.0/24",
      gateway: "192.168.1.48",
      dev: "eth0",
      metric: 10,
      protocol: SKEIN_ROUTE_PROTOCOL,
      src: "192.168.1.1",
      mtu: 1400,
    });
    h.routeAdd({
      dst: "10.244.3.0/24",
      gateway: "10.244.3.0",
      dev: "eth0",
      onlink: true,
      table: 1000,
    });
    h.routeAdd({ dst: "10.244.4.0/24", dev: "eth0", protocol: SKEIN_ROUTE_PROTOCOL });
    h.routeAdd({ dst: "fd10::/64", gateway: "fd00:1::2", dev: "eth0" });
    h.routeAdd({ dst: "default", gateway: "192.168.1.254", dev: "eth0" });

    const [r1] = ipj(ns.a!, "route", "show", "10.244.2.0/24");
    assertEquals([r1.gateway, r1.dev, r1.metric, r1.protocol, r1.prefsrc], [
      "192.168.1.48",
      "eth0",
      10,
      "100",
      "192.168.1.1",
    ]);
    assertEquals(r1.metrics, [{ mtu: 1400 }]);
    const [r2] = ipj(ns.a!, "route", "show", "table", "1000");
    assertEquals([r2.dst, r2.gateway, r2.flags], ["10.244.3.0/24", "10.244.3.0", ["onlink"]]);
    const [r3] = ipj(ns.a!, "route", "show", "10.244.4.0/24");
    assertEquals([r3.scope, r3.dev], ["link", "eth0"]);
    const [r6] = ipj(ns.a!, "-6", "route", "show", "fd10::/64");
    assertEquals([r6.gateway, r6.dev], ["fd00:1::2", "eth0"]);

    const mine = h.routeList({ family: 4 }).map((r) => `${r.dst} ${r.gateway ?? "-"} ${r.oif}`)
      .sort();
    const theirs = ipj(ns.a!, "-4", "route", "show").map((r: Json) =>
      `${r.dst === "default" ? "0.0.0.0/0" : r.dst.includes("/") ? r.dst : r.dst + "/32"} ${
        r.gateway ?? "-"
      } ${idx}`
    ).sort();
    assertEquals(mine, theirs);
    assertEquals(h.routeList({ protocol: SKEIN_ROUTE_PROTOCOL }).map((r) => r.dst).sort(), [
      "10.244.2.0/24",
      "10.244.4.0/24",
    ]);
    const t1000 = h.routeList({ table: 1000 });
    assertEquals(t1000.map((r) => [r.dst, r.onlink, r.table]), [["10.244.3.0/24", true, 1000]]);
    assert(
      h.routeList({ table: "all" }).length > h.routeList().length,
      "table all includes the local table",
    );
    const [got] = h.routeList({ family: 4 }).filter((r) => r.dst === "10.244.2.0/24");
    assertEquals([got!.metric, got!.mtu, got!.src, got!.protocol], [
      10,
      1400,
      "192.168.1.1",
      SKEIN_ROUTE_PROTOCOL,
    ]);
  });
});

Deno.test("routeReplace() changes a route in place and keeps unrelated routes; routeDel() removes it", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    uplink(h);
    h.routeAdd({ dst: "10.50.0.0/16", gateway: "192.168.1.2", dev: "eth0" });
    h.routeAdd({ dst: "10.51.0.0/16", gateway: "192.168.1.2", dev: "eth0" });
    h.routeReplace({ dst: "10.50.0.0/16", gateway: "192.168.1.3", dev: "eth0" });
    h.routeReplace({ dst: "10.52.0.0/16", gateway: "192.168.1.3", dev: "eth0" }); // creates
    const gw = (dst: string) => ipj(ns.a!, "route", "show", dst)[0]?.gateway;
    assertEquals([gw("10.50.0.0/16"), gw("10.51.0.0/16"), gw("10.52.0.0/16")], [
      "192.168.1.3",
      "192.168.1.2",
      "192.168.1.3",
    ]);
    h.routeDel({ dst: "10.50.0.0/16" });
    h.routeDel({ dst: "10.52.0.0/16", gateway: "192.168.1.3", dev: "eth0" });
    assertEquals(ipj(ns.a!, "route", "show", "10.50.0.0/16"), []);
    assertEquals(gw("10.51.0.0/16"), "192.168.1.2");
    assertThrows(() => h.routeDel({ dst: "10.50.0.0/16" }), NetlinkError, "ESRCH");
  });
});

Deno.test("route errors say what was attempted: ENETUNREACH, EEXIST, ENODEV; bad input changes nothing", async () => {
  await withNamespaces(["a"], async (ns) => {
    using h = openHandle({ netns: ns.a });
    uplink(h);
    h.routeAdd({ dst: "10.244.2.0/24", gateway: "192.168.1.48", dev: "eth0" });
    await uplinkSettled(ns.a!);
    const before = ip(ns.a!, "route", "show", "table", "all");
    const unreach = assertThrows(
      () => h.routeAdd({ dst: "10.244.9.0/24", gateway: "172.31.0.9" }),
      NetlinkError,
    );
    assertEquals(unreach.code, "ENETUNREACH");
    assertStringIncludes(
      unreach.message,
      "Cannot add route 10.244.9.0/24 via 172.31.0.9: kernel returned ENETUNREACH (",
    );
    const dup = assertThrows(
      () => h.routeAdd({ dst: "10.244.2.0/24", gateway: "192.168.1.48", dev: "eth0" }),
      NetlinkError,
    );
    assertEquals(dup.code, "EEXIST");
    assertStringIncludes(
      dup.message,
      "Cannot add route 10.244.2.0/24 via 192.168.1.48 dev eth0: kernel returned EEXIST",
    );
    assertThrows(
      () => h.routeAdd({ dst: "10.244.5.0/24", dev: "nosuch0" }),
      NetlinkError,
      "ENODEV",
    );
    assertThrows(
      () => h.routeAdd({ dst: "10.244.5.0/33", dev: "eth0" }),
      TypeError,
      "10.244.5.0/33",
    );
    assertThrows(
      () => h.routeAdd({ dst: "10.244.5.0/24", gateway: "fd00::1", dev: "eth0" }),
      TypeError,
      "families differ",
    );
    assertEquals(ip(ns.a!, "route", "show", "table", "all"), before);
  });
});

Deno.test("routeGet() answers like ip route get", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    uplink(h);
    h.routeAdd({ dst: "10.244.2.0/24", gateway: "192.168.1.48", dev: "eth0" });
    const r = h.routeGet("10.244.2.9");
    const [o] = ipj(ns.a!, "route", "get", "10.244.2.9");
    assertEquals([r.gateway, r.devName, r.src], [o.gateway, o.dev, o.prefsrc]);
    assertEquals(h.routeGet("192.168.1.77", { oif: "eth0" }).devName, "eth0");
    assertThrows(
      () => h.routeGet("172.31.0.1"),
      NetlinkError,
      "Cannot get route to 172.31.0.1: kernel returned ENETUNREACH",
    );
  });
});

Deno.test("routeBatch() pipelines many ops and reports an error per op", async () => {
  await withNamespaces(["a"], (ns) => {
    using h = openHandle({ netns: ns.a });
    uplink(h);
    const ops = Array.from({ length: 1500 }, (_, i) => ({
      op: "add" as const,
      route: {
        dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`,
        gateway: "192.168.1.2",
        dev: "eth0",
        protocol: SKEIN_ROUTE_PROTOCOL,
      },
    }));
    ops.splice(700, 0, {
      op: "add",
      route: {
        dst: "10.100.5.0/24",
        gateway: "192.168.1.2",
        dev: "eth0",
        protocol: SKEIN_ROUTE_PROTOCOL,
      },
    });
    ops.push({
      op: "add",
      route: {
        dst: "10.250.0.0/24",
        gateway: "172.31.0.1",
        dev: "eth0",
        protocol: SKEIN_ROUTE_PROTOCOL,
      },
    });
    ops.push({ op: "add", route: { dst: "nonsense", dev: "eth0" } } as never);
    const res = h.routeBatch(ops);
    assertEquals(res.length, ops.length);
    const failed = res.map((e, i) => [i, e] as const).filter(([, e]) => e);
    assertEquals(failed.map(([i]) => i), [700, 1501, 1502]);
    assertEquals((failed[0]![1] as NetlinkError).code, "EEXIST");
    assertStringIncludes(
      failed[0]![1]!.message,
      "Cannot add route 10.100.5.0/24 via 192.168.1.2 dev eth0",
    );
    assertEquals((failed[1]![1] as NetlinkError).code, "ENETUNREACH");
    assert(failed[2]![1] instanceof TypeError);
    assertEquals(ipj(ns.a!, "route", "show", "proto", "100").length, 1500);

    const del = h.routeBatch(Array.from({ length: 1500 }, (_, i) => ({
      op: "del" as const,
      route: { dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`, protocol: SKEIN_ROUTE_PROTOCOL },
    })));
    assertEquals(del.filter(Boolean).length, 0);
    assertEquals(ipj(ns.a!, "route", "show", "proto", "100"), []);
  });
});
