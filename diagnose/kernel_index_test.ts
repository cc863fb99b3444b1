import { assertEquals } from "../testing/assert.ts";
import type { Fdb, Neigh, Route } from "../net/types.ts";
import { within } from "./route_diff.ts";
import { neighOn, remoteFdbs, routesHolding } from "./kernel_index.ts";

const route = (dst: string, o: Partial<Route> = {}): Route =>
  ({ family: 4, dst, table: 254, type: "unicast", ...o }) as Route;

/** The scan the index replaces: every route tested, most specific first, dump order among equals. */
function scan(routes: readonly Route[], table: number, ip: string, longerThan: number): Route[] {
  return routes.filter((x) =>
    x.family === 4 && x.table === table && within(`${ip}/32`, x.dst) &&
    Number(x.dst.split("/")[1]) > longerThan
  ).sort((a, b) => Number(b.dst.split("/")[1]) - Number(a.dst.split("/")[1]));
}

/** The first main-table unicast route routesHolding() gives (what underlay.ts asks). */
function longerUnicastRoute(routes: readonly Route[], ip: number, longer: number) {
  for (const r of routesHolding(routes, 254, ip, longer)) if (r.type === "unicast") return r;
  return undefined;
}

Deno.test("routesHolding(): a table's routes holding an address, most specific first, as a scan finds them", () => {
  const routes = [
    route("192.168.77.0/24"),
    route("192.168.77.12/32", { gateway: "192.168.77.1" }),
    route("192.168.77.12/32", { gateway: "192.168.77.2" }), // a second of equals: not chosen
    route("192.168.77.0/28", { table: 100 }),
    route("192.168.77.8/29", { type: "blackhole" }),
    route("192.168.77.0/25"),
    route("10.0.0.0/8"),
  ];
  const n = (ip: string) => ip.split(".").reduce((a, x) => a * 256 + Number(x), 0);
  assertEquals(longerUnicastRoute(routes, n("192.168.77.12"), 24)?.gateway, "192.168.77.1");
  assertEquals(longerUnicastRoute(routes, n("192.168.77.13"), 24)?.dst, "192.168.77.0/25");
  assertEquals(longerUnicastRoute(routes, n("192.168.77.200"), 24), undefined);
  assertEquals(longerUnicastRoute(routes, n("192.168.77.13"), 25), undefined);
  let seed = 3;
  const rnd = (k: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % k;
  for (let round = 0; round < 100; round++) {
    const rs = Array.from(
      { length: 1 + rnd(60) },
      () =>
        route(`192.168.${rnd(2)}.${rnd(256)}/${16 + rnd(17)}`, {
          table: rnd(5) ? 254 : 100,
          type: rnd(6) ? "unicast" : "unreachable",
          gateway: `10.0.0.${rnd(9)}`,
        }),
    );
    const ip = `192.168.${rnd(2)}.${rnd(256)}`, longer = 15 + rnd(17);
    for (const table of [254, 100]) {
      assertEquals([...routesHolding(rs, table, n(ip), longer)], scan(rs, table, ip, longer));
    }
  }
});

Deno.test("neighOn(): the entry of an address on one link", () => {
  const ns: Neigh[] = [
    {
      index: 2,
      family: 4,
      ip: "192.168.77.12",
      mac: "aa:aa:aa:aa:aa:01",
      state: "reachable",
      flags: 0,
    },
    {
      index: 3,
      family: 4,
      ip: "192.168.77.12",
      mac: "aa:aa:aa:aa:aa:02",
      state: "stale",
      flags: 0,
    },
    {
      index: 2,
      family: 4,
      ip: "192.168.77.12",
      mac: "aa:aa:aa:aa:aa:03",
      state: "stale",
      flags: 0,
    },
  ];
  assertEquals(neighOn(ns, "192.168.77.12", 3)?.mac, "aa:aa:aa:aa:aa:02");
  assertEquals(neighOn(ns, "192.168.77.12", 2)?.mac, "aa:aa:aa:aa:aa:01");
  assertEquals(neighOn(ns, "192.168.77.12", undefined), undefined);
  assertEquals(neighOn(ns, "192.168.77.13", 2), undefined);
});

Deno.test("remoteFdbs(): a MAC's entries with a remote address on one link, any case, in dump order", () => {
  const f = (index: number, mac: string, dst?: string): Fdb => ({
    index,
    mac,
    dst,
    self: true,
    master: false,
    state: "permanent",
  });
  const fdbs = [
    f(5, "02:00:00:00:02:01", "172.16.0.2"),
    f(5, "02:00:00:00:02:01"), // no remote address: not a VXLAN peer entry
    f(6, "02:00:00:00:02:01", "172.16.0.2"),
    f(5, "02:00:00:00:02:0A", "172.16.0.9"),
    f(5, "02:00:00:00:02:01", "172.16.0.3"),
  ];
  assertEquals(remoteFdbs(fdbs, 5, "02:00:00:00:02:01").map((x) => x.dst), [
    "172.16.0.2",
    "172.16.0.3",
  ]);
  assertEquals(remoteFdbs(fdbs, 5, "02:00:00:00:02:0a").map((x) => x.dst), ["172.16.0.9"]);
  assertEquals(remoteFdbs(fdbs, 7, "02:00:00:00:02:01"), []);
});
