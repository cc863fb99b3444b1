import { assertEquals } from "../testing/assert.ts";
import { plan } from "../backends/plan.ts";
import type { KernelSnapshot } from "../backends/snapshot.ts";
import type { Route } from "../net/types.ts";
import { diffRoutes, flatOf, moreSpecific, planDiff, routeText, within } from "./route_diff.ts";

const vx = (dst: string, gw: string) => ({ dst, gateway: gw, dev: "skein.1", onlink: true });

Deno.test("diffRoutes() finds nothing when the kernel holds exactly what is wanted", () => {
  const want = [vx("10.244.2.0/24", "10.244.2.0"), vx("10.244.3.0/24", "10.244.3.0")];
  const d = diffRoutes(want, want.map((r) => ({ ...r, protocol: 100 })), [
    { dst: "192.168.77.0/24", dev: "eth0", protocol: 2 },
  ]);
  assertEquals(d, { missing: [], wrongNexthop: [], stale: [], foreign: [] });
});

Deno.test("diffRoutes() reports a missing route, a wrong next hop and a stale one", () => {
  const want = [vx("10.244.2.0/24", "10.244.2.0"), vx("10.244.3.0/24", "10.244.3.0")];
  const owned = [
    { ...vx("10.244.3.0/24", "10.244.9.0") },
    { ...vx("10.244.7.0/24", "10.244.7.0") },
  ];
  const d = diffRoutes(want, owned, []);
  assertEquals(d.missing, [want[0]!]);
  assertEquals(d.wrongNexthop, [{ want: want[1]!, have: owned[0]! }]);
  assertEquals(d.stale, [owned[1]!]);
  assertEquals(d.foreign, []);
});

Deno.test("diffRoutes() names a foreign route that shadows a wanted subnet", () => {
  const want = [vx("10.244.2.0/24", "10.244.2.0")];
  // A more specific blackhole inside the subnet, plus skein's own route still there.
  const bh = { dst: "10.244.2.0/25", type: "blackhole", protocol: 4 };
  const d = diffRoutes(want, [want[0]!], [bh]);
  assertEquals(d.foreign, [{ want: want[0]!, have: bh }]);
  assertEquals(d.missing, []);
  // The same prefix taken by another protocol: foreign, not missing.
  const same = { dst: "10.244.2.0/24", gateway: "192.168.77.99", dev: "eth0", protocol: 4 };
  const d2 = diffRoutes(want, [], [same]);
  assertEquals(d2.foreign.length, 1);
  assertEquals(d2.missing, []);
});

Deno.test("diffRoutes() ignores foreign routes that are wider than the subnet (default route)", () => {
  const want = [vx("10.244.2.0/24", "10.244.2.0")];
  const d = diffRoutes(want, [want[0]!], [
    { dst: "0.0.0.0/0", gateway: "192.168.77.1", dev: "eth0" },
    { dst: "10.244.0.0/16", dev: "cni0" },
  ]);
  assertEquals(d.foreign, []);
});

Deno.test("within() and routeText()", () => {
  assertEquals(within("10.244.2.128/25", "10.244.2.0/24"), true);
  assertEquals(within("10.244.2.0/24", "10.244.2.0/25"), false);
  assertEquals(within("10.244.3.0/24", "10.244.2.0/24"), false);
  assertEquals(
    routeText({ dst: "10.244.2.0/24", gateway: "10.244.2.0", dev: "skein.1", onlink: true }),
    "10.244.2.0/24 via 10.244.2.0 dev skein.1 onlink",
  );
  assertEquals(
    routeText({ dst: "10.244.2.0/25", type: "blackhole", table: 7 }),
    "blackhole 10.244.2.0/25 table 7",
  );
});

// planDiff(): the reconciler's own plan() on a fabricated snapshot, read as a route diff.

function kroute(dst: string, gateway: string | undefined, oif: number, protocol = 100): Route {
  const r: Route = {
    family: 4,
    dst,
    table: 254,
    protocol,
    scope: "universe",
    type: "unicast",
    onlink: true,
    oif,
  };
  if (gateway) r.gateway = gateway;
  return r;
}

function snap(owned: Route[], foreign: Route[] = []): KernelSnapshot {
  return {
    table: 254,
    routes: new Map(owned.map((r) => [`${r.dst}|0`, r])),
    foreign: new Map(foreign.map((r) => [`${r.dst}|0`, r])),
    legacyCni: [],
    neighs: new Map(),
    fdbs: new Map(),
    devices: [],
    links: new Map(),
  };
}

const desired = {
  entries: ["2", "3", "4"].map((n) => ({
    subnet: `10.244.${n}.0/24`,
    node: `n${n}`,
    neighs: [],
    fdbs: [],
    routes: [{ dst: `10.244.${n}.0/24`, gateway: `10.244.${n}.0`, dev: 5, onlink: true }],
  })),
  skipped: [],
  ownedDevices: [],
};
const names = new Map([[5, "skein.1"], [2, "eth0"]]);

Deno.test("planDiff() reads plan()'s missing, wrong next hop, stale and shadowed routes", () => {
  const p = plan(
    desired,
    snap(
      [kroute("10.244.3.0/24", "10.244.9.0", 5), kroute("10.244.7.0/24", "10.244.7.0", 5)],
      [kroute("10.244.4.0/24", "192.168.77.99", 2, 4)],
    ),
  );
  const d = planDiff(p, names);
  assertEquals(d.missing.map(routeText), ["10.244.2.0/24 via 10.244.2.0 dev skein.1 onlink"]);
  assertEquals(d.wrongNexthop.map((m) => [routeText(m.want), m.have.gateway]), [
    ["10.244.3.0/24 via 10.244.3.0 dev skein.1 onlink", "10.244.9.0"],
  ]);
  assertEquals(d.stale.map((r) => r.dst), ["10.244.7.0/24"]);
  assertEquals(d.foreign.map((m) => [m.want.dst, m.have.gateway, m.have.protocol]), [
    ["10.244.4.0/24", "192.168.77.99", 4],
  ]);
});

Deno.test("planDiff() is empty when the kernel matches; moreSpecific() finds routes inside a subnet", () => {
  const all = desired.entries.map((e) => kroute(e.subnet, e.routes[0]!.gateway, 5));
  const d = planDiff(plan(desired, snap(all)), names);
  assertEquals(d, { missing: [], wrongNexthop: [], stale: [], foreign: [] });
  const m = moreSpecific([{ dst: "10.244.2.0/24" }], [
    { dst: "10.244.2.128/25", type: "blackhole" },
    { dst: "10.244.0.0/16", dev: "cni0" },
    { dst: "10.244.2.0/24", dev: "eth0" },
  ]);
  assertEquals(m.map((x) => x.have.dst), ["10.244.2.128/25"]);
});

Deno.test("flatOf()/routeText(): a multipath route shows its next hops", () => {
  const names = new Map([[3, "eth0"], [4, "eth1"]]);
  const r = {
    family: 4,
    dst: "10.244.2.0/24",
    table: 254,
    protocol: 100,
    type: "unicast",
    nexthops: [{ oif: 3, gateway: "192.168.77.12" }, { oif: 4, gateway: "192.168.78.12" }],
  } as unknown as Route;
  assertEquals(
    routeText(flatOf(r, names)),
    "10.244.2.0/24 proto 100 nexthop via 192.168.77.12 dev eth0 nexthop via 192.168.78.12 dev eth1",
  );
});
