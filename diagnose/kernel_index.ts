/**
 * Indexes over a kernel dump for the lookups a diagnosis makes once per lease: built on first
 * use and kept while the dump is (a WeakMap on its array; `Kernel` dumps each table once). With
 * 5,000 leases, scanning the route dump per lease was 25 million prefix tests, most of the
 * 20–50 s `skein diagnose --node` took.
 *
 * @module
 */
import type { Fdb, Neigh, Route } from "../net/types.ts";
import { networkOf, v4 } from "./route_diff.ts";

/** IPv4 routes by table, prefix length and network, each list in dump order. */
type RouteIndex = Map<number, Map<number, Map<number, Route[]>>>;

const routeIndexes = new WeakMap<readonly Route[], RouteIndex>();

function routeIndex(routes: readonly Route[]): RouteIndex {
  let idx = routeIndexes.get(routes);
  if (idx) return idx;
  idx = new Map();
  for (const r of routes) {
    const p = r.family === 4 ? v4(r.dst) : undefined;
    if (!p || p[1] > 32) continue;
    let byLen = idx.get(r.table);
    if (!byLen) idx.set(r.table, byLen = new Map());
    let byNet = byLen.get(p[1]);
    if (!byNet) byLen.set(p[1], byNet = new Map());
    const net = networkOf(p[0], p[1]);
    const list = byNet.get(net);
    if (list) list.push(r);
    else byNet.set(net, [r]);
  }
  routeIndexes.set(routes, idx);
  return idx;
}

/**
 * The IPv4 routes of table `table` in `routes` whose prefix holds address `ip` (a number) and
 * is longer than `longerThan`, most specific first, in dump order among equal prefixes: what a
 * filter over the whole dump sorted by prefix length would give.
 */
export function* routesHolding(
  routes: readonly Route[],
  table: number,
  ip: number,
  longerThan = -1,
): Generator<Route> {
  const byLen = routeIndex(routes).get(table);
  if (!byLen) return;
  for (let len = 32; len > longerThan; len--) {
    const list = byLen.get(len)?.get(networkOf(ip, len));
    if (list) yield* list;
  }
}

/**
 * The most specific route of table `table` holding `ip` (and longer than `longerThan`) that
 * `match` accepts: the route the kernel's lookup in that table picks among them.
 */
export function firstHolding(
  routes: readonly Route[],
  table: number,
  ip: number | undefined,
  match: (r: Route) => boolean = () => true,
  longerThan = -1,
): Route | undefined {
  if (ip === undefined) return undefined;
  for (const r of routesHolding(routes, table, ip, longerThan)) if (match(r)) return r;
  return undefined;
}

/** Neighbour entries by "ip|ifindex" (the first of equals). */
const neighIndexes = new WeakMap<readonly Neigh[], Map<string, Neigh>>();

/** The neighbour entry of `ip` on link `index` in `neighs` (`ip neigh show IP dev DEV`). */
export function neighOn(
  neighs: readonly Neigh[],
  ip: string,
  index: number | undefined,
): Neigh | undefined {
  let idx = neighIndexes.get(neighs);
  if (!idx) {
    idx = new Map();
    for (const n of neighs) {
      const k = `${n.ip}|${n.index}`;
      if (!idx.has(k)) idx.set(k, n);
    }
    neighIndexes.set(neighs, idx);
  }
  return idx.get(`${ip}|${index}`);
}

/** FDB entries with a remote address by "ifindex|lowercase MAC", each list in dump order. */
const fdbIndexes = new WeakMap<readonly Fdb[], Map<string, Fdb[]>>();

/**
 * The FDB entries of `mac` (any case) on link `index` that name a remote address (`dst`), in
 * dump order: `bridge fdb show dev DEV | grep MAC`, for a VXLAN device's entry to a peer's VTEP.
 */
export function remoteFdbs(fdbs: readonly Fdb[], index: number, mac: string): Fdb[] {
  let idx = fdbIndexes.get(fdbs);
  if (!idx) {
    idx = new Map();
    for (const f of fdbs) {
      if (!f.dst) continue;
      const k = `${f.index}|${f.mac.toLowerCase()}`;
      const list = idx.get(k);
      if (list) list.push(f);
      else idx.set(k, [f]);
    }
    fdbIndexes.set(fdbs, idx);
  }
  return idx.get(`${index}|${mac.toLowerCase()}`) ?? [];
}
