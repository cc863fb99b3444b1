/**
 * The expected-vs-actual diff of a node's pod-subnet routes (pure), sorted into missing, wrong
 * next hop, stale (skein's route with no lease behind it) and foreign (a route skein does not
 * own that takes the subnet's traffic). On a node diagnose reads directly it comes from the
 * reconciler's own plan() (planDiff) plus foreign routes more specific than a subnet, which
 * plan() does not look for (moreSpecific); for a peer known from its `/debug/state`, from the
 * desired and kernel routes the daemon reports (diffRoutes).
 *
 * @module
 */
import type { Plan } from "../backends/plan.ts";
import type { Route } from "../net/types.ts";

/** A route reduced to what the diff compares (devices by name). */
export interface FlatRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  onlink?: boolean;
  /** rtm_protocol (kernel routes). */
  protocol?: number;
  table?: number;
  type?: string;
  /** The route's own MTU (`mtu N`), if it has one. */
  mtu?: number;
  /** A multipath route's next hops ("via G dev X"), in the kernel's order. */
  nexthops?: string[];
}

/** A desired route and the kernel route that differs from it. */
export interface Mismatch {
  want: FlatRoute;
  have: FlatRoute;
}

/** The diff. */
export interface RouteDiff {
  /** Wanted, and no route at all to that prefix. */
  missing: FlatRoute[];
  /** skein's route to the prefix with another gateway, device or onlink flag. */
  wrongNexthop: Mismatch[];
  /** skein's routes no lease wants (deleted or expired nodes). */
  stale: FlatRoute[];
  /** Routes skein does not own that take a wanted prefix's traffic. */
  foreign: Mismatch[];
}

/** Prefixes parsed by v4(), by text: a diagnosis of thousands of leases asks about each often. */
const parsed = new Map<string, readonly [number, number] | null>();

/**
 * An IPv4 prefix as [network, length] numbers; undefined for anything else. The same text is
 * parsed once (up to 100,000 texts are kept; then the cache starts over).
 */
export function v4(cidr: string): readonly [number, number] | undefined {
  let p = parsed.get(cidr);
  if (p === undefined) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
    p = m
      ? [
        (((Number(m[1]) << 24) >>> 0) + (Number(m[2]) << 16) + (Number(m[3]) << 8) +
          Number(m[4])) >>> 0,
        Number(m[5]),
      ]
      : null;
    if (parsed.size >= 100_000) parsed.clear();
    parsed.set(cidr, p);
  }
  return p ?? undefined;
}

/** The network address of IPv4 address `ip` (a number) under a /`len` prefix. */
export function networkOf(ip: number, len: number): number {
  const size = 2 ** (32 - len);
  return Math.floor(ip / size) * size;
}

/** True when prefix `inner` lies inside prefix `outer` (IPv4; equal counts). */
export function within(inner: string, outer: string): boolean {
  const a = v4(inner), b = v4(outer);
  if (!a || !b || a[1] < b[1]) return false;
  const mask = b[1] === 0 ? 0 : (0xffffffff << (32 - b[1])) >>> 0;
  return ((a[0] & mask) >>> 0) === ((b[0] & mask) >>> 0);
}

function sameHop(a: FlatRoute, b: FlatRoute): boolean {
  return (a.gateway ?? "") === (b.gateway ?? "") && (a.dev ?? "") === (b.dev ?? "") &&
    !!a.onlink === !!b.onlink;
}

/**
 * Diffs `want` (the reconciler's desired routes) against `owned` (the kernel's routes skein
 * owns: protocol 100 with a gateway, main table) and `others` (every other kernel route of the
 * tables the main lookup consults).
 */
export function diffRoutes(
  want: readonly FlatRoute[],
  owned: readonly FlatRoute[],
  others: readonly FlatRoute[],
): RouteDiff {
  const diff: RouteDiff = { missing: [], wrongNexthop: [], stale: [], foreign: [] };
  const ownedBy = new Map(owned.map((r) => [r.dst, r]));
  const wanted = new Set(want.map((r) => r.dst));
  for (const w of want) {
    const have = ownedBy.get(w.dst);
    const shadow = others.find((o) =>
      (o.dst === w.dst || (within(o.dst, w.dst) && o.dst !== w.dst)) &&
      (o.type === undefined || o.type === "unicast" || o.type === "blackhole" ||
        o.type === "unreachable" || o.type === "prohibit")
    );
    if (shadow) diff.foreign.push({ want: w, have: shadow });
    if (!have) {
      if (!shadow || shadow.dst !== w.dst) diff.missing.push(w);
    } else if (!sameHop(w, have)) {
      diff.wrongNexthop.push({ want: w, have });
    }
  }
  for (const r of owned) if (!wanted.has(r.dst)) diff.stale.push(r);
  return diff;
}

/** "10.244.2.0/24 via 10.244.2.0 dev skein.1 onlink" */
export function routeText(r: FlatRoute): string {
  let t = r.type && r.type !== "unicast" ? `${r.type} ${r.dst}` : r.dst;
  if (r.gateway) t += ` via ${r.gateway}`;
  if (r.dev) t += ` dev ${r.dev}`;
  if (r.onlink) t += " onlink";
  if (r.protocol !== undefined) t += ` proto ${r.protocol}`;
  if (r.table !== undefined && r.table !== 254) t += ` table ${r.table}`;
  if (r.mtu !== undefined) t += ` mtu ${r.mtu}`;
  if (r.nexthops) t += r.nexthops.map((h) => ` nexthop ${h}`).join("");
  return t;
}

/** A kernel route as a FlatRoute (device names from `names`). */
export function flatOf(
  r: Route | {
    dst: string;
    gateway?: string;
    dev?: string | number;
    onlink?: boolean;
    protocol?: number;
    table?: number;
    type?: string;
    mtu?: number;
  },
  names: ReadonlyMap<number, string>,
): FlatRoute {
  const f: FlatRoute = { dst: r.dst };
  if (r.gateway) f.gateway = r.gateway;
  const dev = "oif" in r ? r.oif : (r as { dev?: string | number }).dev;
  if (typeof dev === "number") f.dev = names.get(dev) ?? `#${dev}`;
  else if (typeof dev === "string") f.dev = dev;
  if (r.onlink) f.onlink = true;
  if (r.protocol !== undefined) f.protocol = r.protocol;
  if (r.table !== undefined) f.table = r.table;
  if (r.type !== undefined) f.type = r.type;
  if (r.mtu !== undefined) f.mtu = r.mtu;
  if ("nexthops" in r && r.nexthops?.length) {
    f.nexthops = r.nexthops.map((h) =>
      `${h.gateway ? `via ${h.gateway} ` : ""}dev ${names.get(h.oif) ?? `#${h.oif}`}`
    );
  }
  return f;
}

/** The route part of a plan as a RouteDiff (its route operations and its "shadowed" skips). */
export function planDiff(p: Plan, names: ReadonlyMap<number, string>): RouteDiff {
  const diff: RouteDiff = { missing: [], wrongNexthop: [], stale: [], foreign: [] };
  for (const op of p.ops) {
    if (op.kind !== "route") continue;
    const want = flatOf(op.route, names);
    delete want.protocol;
    delete want.table;
    if (op.reason === "missing") diff.missing.push(want);
    else if (op.reason === "stale") diff.stale.push(op.current ? flatOf(op.current, names) : want);
    else if (op.reason !== "move" && op.current) {
      diff.wrongNexthop.push({ want, have: flatOf(op.current, names) });
    }
  }
  for (const s of p.skipped) {
    if (s.code === "shadowed" && s.conflict) {
      diff.foreign.push({ want: { dst: s.subnet }, have: flatOf(s.conflict, names) });
    }
  }
  return diff;
}

/** Foreign routes strictly inside a wanted prefix (they take part of its traffic). */
export function moreSpecific(want: readonly FlatRoute[], others: readonly FlatRoute[]): Mismatch[] {
  const out: Mismatch[] = [];
  for (const w of want) {
    for (const o of others) {
      if (o.dst !== w.dst && within(o.dst, w.dst)) out.push({ want: w, have: o });
    }
  }
  return out;
}
