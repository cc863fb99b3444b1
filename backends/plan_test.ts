import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import type { Fdb, Link, Neigh, Route } from "../net/types.ts";
import { fdbKey, kernelRouteKey, neighKey } from "./keys.ts";
import { formatOp, plan, type PlanOp } from "./plan.ts";
import type { KernelSnapshot } from "./snapshot.ts";
import type { DesiredState, LeaseEntries, RouteSpec } from "./types.ts";

const ETH0 = 2;
const VX = 7;

/** A kernel route as routeList() gives it (skein's protocol unless told). */
function kroute(dst: string, gateway: string | undefined, oif: number, extra: Partial<Route> = {}) {
  return {
    family: dst.includes(":") ? 6 : 4,
    dst,
    gateway,
    oif,
    table: 254,
    protocol: 100,
    scope: "universe",
    type: "unicast",
    onlink: false,
    ...extra,
  } as Route;
}

function neigh(ip: string, mac: string, state = "permanent"): Neigh {
  return { index: VX, family: ip.includes(":") ? 6 : 4, ip, mac, state, flags: 0 };
}

function fdb(mac: string, dst: string): Fdb {
  return { index: VX, mac, dst, self: true, master: false, state: "permanent" };
}

/** A snapshot holding `routes` (skein's), `foreign` routes, neighbours and FDB entries. */
function snap(
  k: { routes?: Route[]; foreign?: Route[]; neighs?: Neigh[]; fdbs?: Fdb[]; links?: Link[] } = {},
): KernelSnapshot {
  const fdbs = new Map<string, Fdb[]>();
  for (const f of k.fdbs ?? []) {
    const key = fdbKey(f.index, f.mac);
    fdbs.set(key, [...(fdbs.get(key) ?? []), f]);
  }
  return {
    table: 254,
    routes: new Map((k.routes ?? []).map((r) => [kernelRouteKey(r), r])),
    foreign: new Map((k.foreign ?? []).map((r) => [kernelRouteKey(r), r])),
    legacyCni: [],
    neighs: new Map((k.neighs ?? []).map((n) => [neighKey(n.index, n.ip), n])),
    fdbs,
    devices: [VX],
    links: new Map((k.links ?? []).map((l) => [l.name, l])),
  };
}

/** host-gw lease n: 10.244.n.0/24 via 192.168.1.(10+n) dev eth0. */
function hostgw(n: number, extra: Partial<RouteSpec> = {}): LeaseEntries {
  return {
    subnet: `10.244.${n}.0/24`,
    node: `node${n}`,
    neighs: [],
    fdbs: [],
    routes: [{ dst: `10.244.${n}.0/24`, gateway: `192.168.1.${10 + n}`, dev: ETH0, ...extra }],
  };
}

/** vxlan lease n: neighbour 10.244.n.0 → MAC, FDB MAC → node IP, onlink route. */
function vxlan(n: number, mac = `0a:00:00:00:00:0${n}`): LeaseEntries {
  const vtep = `10.244.${n}.0`;
  return {
    subnet: `${vtep}/24`,
    node: `node${n}`,
    neighs: [{ dev: VX, ip: vtep, mac }],
    fdbs: [{ dev: VX, mac, dst: `192.168.1.${10 + n}` }],
    routes: [{ dst: `${vtep}/24`, gateway: vtep, dev: VX, onlink: true }],
  };
}

function desired(entries: LeaseEntries[], extra: Partial<DesiredState> = {}): DesiredState {
  return { entries, skipped: [], ownedDevices: [VX], ...extra };
}

/** [kind, action, key, reason] of each op: what the table below compares. */
function brief(ops: PlanOp[]): string[][] {
  return ops.map((op) => [op.kind, op.action, op.key, op.reason]);
}

const cases: {
  name: string;
  want: DesiredState;
  have: KernelSnapshot;
  ops: string[][];
  skipped?: [string, string][];
  unchanged?: number;
}[] = [
  {
    name: "an empty kernel gets the lease's route",
    want: desired([hostgw(2)]),
    have: snap(),
    ops: [["route", "replace", "10.244.2.0/24|0", "missing"]],
  },
  {
    name: "a route already right is unchanged and not planned",
    want: desired([hostgw(2)]),
    have: snap({ routes: [kroute("10.244.2.0/24", "192.168.1.12", ETH0)] }),
    ops: [],
    unchanged: 1,
  },
  {
    name: "another gateway is a wrong next hop",
    want: desired([hostgw(2)]),
    have: snap({ routes: [kroute("10.244.2.0/24", "192.168.1.99", ETH0)] }),
    ops: [["route", "replace", "10.244.2.0/24|0", "wrong-nexthop"]],
  },
  {
    name: "another IPv4 device is replaced in place",
    want: desired([hostgw(2)]),
    have: snap({ routes: [kroute("10.244.2.0/24", "192.168.1.12", 9)] }),
    ops: [["route", "replace", "10.244.2.0/24|0", "wrong-device"]],
  },
  {
    name: "an IPv6 route changing device is deleted first (move)",
    want: desired([{
      ...hostgw(2),
      routes: [{ dst: "fd00:10:0:2::/64", gateway: "fd00:10:0:2::", dev: VX, onlink: true }],
    }]),
    have: snap({ routes: [kroute("fd00:10:0:2::/64", "fd00:1::12", ETH0)] }),
    ops: [
      ["route", "delete", "fd00:10:0:2::/64|1024", "move"],
      ["route", "replace", "fd00:10:0:2::/64|1024", "wrong-nexthop"],
    ],
  },
  {
    name: "a missing onlink flag or MTU is a wrong attribute",
    want: desired([hostgw(2, { onlink: true }), hostgw(3, { mtu: 1400 })]),
    have: snap({
      routes: [
        kroute("10.244.2.0/24", "192.168.1.12", ETH0),
        kroute("10.244.3.0/24", "192.168.1.13", ETH0),
      ],
    }),
    ops: [
      ["route", "replace", "10.244.2.0/24|0", "wrong-attributes"],
      ["route", "replace", "10.244.3.0/24|0", "wrong-attributes"],
    ],
  },
  {
    name: "skein's route no lease needs is stale",
    want: desired([]),
    have: snap({ routes: [kroute("10.244.9.0/24", "192.168.1.19", ETH0)] }),
    ops: [["route", "delete", "10.244.9.0/24|0", "stale"]],
  },
  {
    name: "a foreign route with the same key shadows the lease (skipped, not replaced)",
    want: desired([hostgw(2), hostgw(3)]),
    have: snap({ foreign: [kroute("10.244.2.0/24", "192.168.1.1", ETH0, { protocol: 4 })] }),
    ops: [["route", "replace", "10.244.3.0/24|0", "missing"]],
    skipped: [["10.244.2.0/24", "shadowed"]],
  },
  {
    name: "a foreign route of another metric does not shadow",
    want: desired([hostgw(2)]),
    have: snap({
      foreign: [kroute("10.244.2.0/24", "192.168.1.1", ETH0, { protocol: 4, metric: 50 })],
    }),
    ops: [["route", "replace", "10.244.2.0/24|0", "missing"]],
  },
  {
    name: "the second lease for one subnet is a duplicate; a bad destination is skipped",
    want: desired([
      hostgw(2),
      { ...hostgw(2), node: "other" },
      { ...hostgw(4), routes: [{ dst: "nonsense", gateway: "192.168.1.14", dev: ETH0 }] },
    ]),
    have: snap(),
    ops: [["route", "replace", "10.244.2.0/24|0", "missing"]],
    skipped: [["10.244.2.0/24", "duplicate-route"], ["10.244.4.0/24", "bad-destination"]],
  },
  {
    name: "the backend's refusals come first, as refused",
    want: desired([hostgw(2)], { skipped: [{ subnet: "10.244.5.0/24", reason: "not on-link" }] }),
    have: snap(),
    ops: [["route", "replace", "10.244.2.0/24|0", "missing"]],
    skipped: [["10.244.5.0/24", "refused"]],
  },
  {
    name: "vxlan: neighbour, FDB entry, route per lease, in that order",
    want: desired([vxlan(2), vxlan(3)]),
    have: snap(),
    ops: [
      ["neigh", "replace", `${VX}|10.244.2.0`, "missing"],
      ["fdb", "replace", `${VX}|0a:00:00:00:00:02`, "missing"],
      ["route", "replace", "10.244.2.0/24|0", "missing"],
      ["neigh", "replace", `${VX}|10.244.3.0`, "missing"],
      ["fdb", "replace", `${VX}|0a:00:00:00:00:03`, "missing"],
      ["route", "replace", "10.244.3.0/24|0", "missing"],
    ],
  },
  {
    name: "vxlan: a learned neighbour is made permanent, another MAC is corrected",
    want: desired([vxlan(2), vxlan(3)]),
    have: snap({
      neighs: [neigh("10.244.2.0", "0a:00:00:00:00:02", "stale"), neigh("10.244.3.0", "0a:ff")],
      fdbs: [fdb("0a:00:00:00:00:02", "192.168.1.12"), fdb("0a:00:00:00:00:03", "192.168.1.13")],
      routes: [
        kroute("10.244.2.0/24", "10.244.2.0", VX, { onlink: true }),
        kroute("10.244.3.0/24", "10.244.3.0", VX, { onlink: true }),
      ],
    }),
    ops: [
      ["neigh", "replace", `${VX}|10.244.2.0`, "not-permanent"],
      ["neigh", "replace", `${VX}|10.244.3.0`, "wrong-mac"],
    ],
    unchanged: 4,
  },
  {
    name: "vxlan: an FDB entry to another node IP is a wrong remote",
    want: desired([vxlan(2)]),
    have: snap({ fdbs: [fdb("0a:00:00:00:00:02", "192.168.1.99")] }),
    ops: [
      ["neigh", "replace", `${VX}|10.244.2.0`, "missing"],
      ["fdb", "replace", `${VX}|0a:00:00:00:00:02`, "wrong-remote"],
      ["route", "replace", "10.244.2.0/24|0", "missing"],
    ],
  },
  {
    name: "vxlan: extra remotes for one MAC are dropped; the right one stays",
    want: desired([vxlan(2)]),
    have: snap({
      neighs: [neigh("10.244.2.0", "0a:00:00:00:00:02")],
      fdbs: [fdb("0a:00:00:00:00:02", "192.168.1.99"), fdb("0a:00:00:00:00:02", "192.168.1.12")],
      routes: [kroute("10.244.2.0/24", "10.244.2.0", VX, { onlink: true })],
    }),
    ops: [["fdb", "delete", `${VX}|0a:00:00:00:00:02`, "extra-remote"]],
    unchanged: 2,
  },
  {
    name:
      "vxlan: stale route, FDB entry and permanent neighbour go (in that order); learned ones stay",
    want: desired([]),
    have: snap({
      neighs: [neigh("10.244.9.0", "0a:00:00:00:00:09"), neigh("10.244.8.0", "0a:08", "reachable")],
      fdbs: [fdb("0a:00:00:00:00:09", "192.168.1.19")],
      routes: [kroute("10.244.9.0/24", "10.244.9.0", VX, { onlink: true })],
    }),
    ops: [
      ["route", "delete", "10.244.9.0/24|0", "stale"],
      ["fdb", "delete", `${VX}|0a:00:00:00:00:09`, "stale"],
      ["neigh", "delete", `${VX}|10.244.9.0`, "stale"],
    ],
  },
  {
    name: "vxlan: a second node with the same VTEP MAC is skipped",
    want: desired([vxlan(2), vxlan(3, "0a:00:00:00:00:02")]),
    have: snap({
      neighs: [neigh("10.244.2.0", "0a:00:00:00:00:02")],
      fdbs: [fdb("0a:00:00:00:00:02", "192.168.1.12")],
      routes: [kroute("10.244.2.0/24", "10.244.2.0", VX, { onlink: true })],
    }),
    ops: [],
    skipped: [["10.244.3.0/24", "duplicate-mac"]],
    unchanged: 3,
  },
  {
    name: "a missing device is planned first; a present one is not",
    want: desired([], {
      devices: [{ name: "skein.1", kind: "vxlan" }, { name: "skein-ipip", kind: "ipip" }],
    }),
    have: snap({
      links: [{
        index: 9,
        name: "skein-ipip",
        kind: "ipip",
        mtu: 1480,
        flags: 0,
        up: true,
        operState: "up",
      }],
    }),
    ops: [["link", "replace", "skein.1", "missing"]],
  },
];

for (const c of cases) {
  Deno.test(`plan(): ${c.name}`, () => {
    const p = plan(c.want, c.have);
    assertEquals(brief(p.ops), c.ops);
    assertEquals(p.skipped.map((s) => [s.subnet, s.code]), c.skipped ?? []);
    assertEquals(p.unchanged, c.unchanged ?? 0);
  });
}

Deno.test("plan() is pure: the same inputs give the same plan and the snapshot is untouched", () => {
  const want = desired([vxlan(2), hostgw(3)]);
  const have = snap({
    routes: [kroute("10.244.9.0/24", "192.168.1.19", ETH0)],
    neighs: [neigh("10.244.9.0", "0a:00:00:00:00:09")],
  });
  const before = JSON.stringify([want, [...have.routes], [...have.neighs]]);
  const a = plan(want, have);
  const b = plan(want, have);
  assertEquals(a, b);
  assertEquals(JSON.stringify([want, [...have.routes], [...have.neighs]]), before);
});

Deno.test("plan() carries the request, the kernel object and the lease of each op", () => {
  const stale = kroute("10.244.9.0/24", "192.168.1.19", ETH0);
  const wrong = kroute("10.244.2.0/24", "192.168.1.99", ETH0);
  const lease2 = hostgw(2);
  const p = plan(desired([lease2]), snap({ routes: [wrong, stale] }));
  const [set, del] = p.ops;
  assert(set?.kind === "route" && del?.kind === "route");
  assertEquals(set.route, {
    dst: "10.244.2.0/24",
    family: 4,
    gateway: "192.168.1.12",
    dev: ETH0,
    onlink: undefined,
    mtu: undefined,
    table: 254,
    protocol: 100,
  });
  assertEquals([set.current, set.owner], [wrong, lease2]);
  assertEquals(del.route, {
    dst: "10.244.9.0/24",
    family: 4,
    gateway: "192.168.1.19",
    dev: ETH0,
    table: 254,
    protocol: 100,
    metric: undefined,
  });
  assertEquals([del.current, del.owner], [stale, undefined]);
  assertEquals(
    formatOp(set, (i) => (i === ETH0 ? "eth0" : `${i}`)),
    [
      "replace route 10.244.2.0/24 via 192.168.1.12 dev eth0 (wrong-nexthop; node2 10.244.2.0/24)",
    ][0],
  );
  assertEquals(formatOp(del), "delete route 10.244.9.0/24 via 192.168.1.19 dev 2 (stale)");
});

Deno.test("plan() names the foreign route that shadows a lease", () => {
  const foreign = kroute("10.244.2.0/24", "192.168.1.1", ETH0, { protocol: 4 });
  const p = plan(desired([hostgw(2)]), snap({ foreign: [foreign] }));
  assertEquals(p.skipped[0]?.conflict, foreign);
  assertEquals(p.skipped[0]?.node, "node2");
  assertStringIncludes(p.skipped[0]!.reason, "does not own");
  assertStringIncludes(p.skipped[0]!.reason, "protocol 4, via 192.168.1.1");
});

Deno.test("plan({ listUnchanged }) lists the entries already right", () => {
  const l = hostgw(2);
  const have = snap({ routes: [kroute("10.244.2.0/24", "192.168.1.12", ETH0)] });
  assertEquals(plan(desired([l]), have).unchangedEntries, undefined);
  const p = plan(desired([l]), have, { listUnchanged: true });
  assertEquals(p.unchangedEntries, [{ kind: "route", key: "10.244.2.0/24|0", owner: l }]);
  assertEquals(p.unchangedRoutes, 1);
});

Deno.test("plan() with protocol 186 (BGP): replaces and prunes only its own routes, tagged 186", () => {
  const bgp = kroute("10.50.0.0/16", "192.168.1.99", ETH0, { protocol: 186 });
  const daemons = kroute("10.244.1.0/24", "192.168.1.11", ETH0);
  const s = { ...snap({ routes: [bgp], foreign: [daemons] }), protocol: 186 };
  const p = plan(desired([hostgw(1), hostgw(2)], { protocol: 186, ownedDevices: [] }), s);
  assertEquals(brief(p.ops), [
    ["route", "replace", "10.244.2.0/24|0", "missing"],
    ["route", "delete", "10.50.0.0/16|0", "stale"],
  ]);
  assert(p.ops.every((op) => op.kind === "route" && op.route.protocol === 186));
  assertEquals(p.skipped.map((x) => x.code), ["shadowed"]);
});
