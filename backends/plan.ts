/**
 * plan(): the desired state against a kernel snapshot, as a typed list of operations. Pure: no
 * kernel access, no clock, no I/O; the same inputs give the same plan. The reconciler applies it
 * (apply.ts); `skein daemon --dry-run` prints it; `skein diagnose` reads it to say what is
 * missing, stale, pointing at the wrong next hop, or shadowed by a route skein does not own.
 *
 * Rules (the reconciler's contract):
 * - A lease is skipped, with a reason, when one of its routes is not a prefix, is already wanted
 *   by another lease (duplicate subnet), or has the key of a route skein does not own (shadowed:
 *   replacing it would take over someone else's route); or when its VTEP MAC is another node's.
 * - An entry already right is not in the plan (counted in `unchanged`), so a second run plans
 *   nothing.
 * - What skein owns (snapshot.ts) but no lease needs is deleted (reason "stale").
 * - Per lease the plan lists neighbours, FDB entries, then routes; then the stale routes, FDB
 *   entries and neighbours. apply() runs them in that safe order whatever order it is given.
 *
 * @example
 * ```ts
 * import { plan } from "./plan.ts";
 * import type { KernelSnapshot } from "./snapshot.ts";
 * import { assertEquals } from "../testing/assert.ts";
 *
 * const empty: KernelSnapshot = {
 *   table: 254,
 *   routes: new Map(),
 *   foreign: new Map(),
 *   legacyCni: [],
 *   neighs: new Map(),
 *   fdbs: new Map(),
 *   devices: [],
 *   links: new Map(),
 * };
 * const p = plan({
 *   entries: [{
 *     subnet: "10.244.2.0/24",
 *     node: "node2",
 *     neighs: [],
 *     fdbs: [],
 *     routes: [{ dst: "10.244.2.0/24", gateway: "192.168.1.12", dev: 2 }],
 *   }],
 *   skipped: [],
 *   ownedDevices: [],
 * }, empty);
 * assertEquals(p.ops.map((op) => [op.kind, op.action, op.key, op.reason]), [
 *   ["route", "replace", "10.244.2.0/24|0", "missing"],
 * ]);
 * ```
 *
 * @module
 */
import type { Fdb, FdbOptions, Neigh, NeighOptions, Route, RouteOptions } from "../net/types.ts";
import { SKEIN_ROUTE_PROTOCOL } from "../net/types.ts";
import { cidrInfo } from "./_parse_cache.ts";
import { sameIp } from "../net/cidr.ts";
import { fdbKey, linkKey, neighKey } from "./keys.ts";
import type { KernelSnapshot } from "./snapshot.ts";
import type { DesiredState, DeviceSpec, LeaseEntries, RouteSpec, Skipped } from "./types.ts";

/**
 * Why an operation is planned:
 * - "missing": the kernel has no such entry;
 * - "wrong-nexthop": skein's route goes via another gateway;
 * - "wrong-device": skein's route leaves through another device;
 * - "wrong-attributes": skein's route differs in onlink, MTU or type;
 * - "wrong-mac": the neighbour resolves to another MAC;
 * - "not-permanent": the neighbour is one the kernel learned (not permanent);
 * - "wrong-remote": the FDB entry points at another node IP;
 * - "extra-remote": one of several remotes for one VTEP MAC (someone appended): dropped first;
 * - "move": an IPv6 route changing device is deleted first (the kernel validates the new onlink
 *   gateway against the old route otherwise);
 * - "stale": skein owns it but no lease needs it (a deleted node, a changed lease).
 */
export type OpReason =
  | "missing"
  | "wrong-nexthop"
  | "wrong-device"
  | "wrong-attributes"
  | "wrong-mac"
  | "not-permanent"
  | "wrong-remote"
  | "extra-remote"
  | "move"
  | "stale";

/** What one operation does: create-or-overwrite, or delete. */
export type OpAction = "replace" | "delete";

/** Fields every operation has. */
interface OpBase {
  /** The object's key (keys.ts): route `dst|metric`, neighbour `dev|ip`, FDB `dev|mac`, link name. */
  key: string;
  reason: OpReason;
  /** The lease the operation is for; undefined for stale entries no lease needs. */
  owner?: LeaseEntries;
}

/** `ip route replace|del ...` (always with skein's route protocol). */
export interface RouteOp extends OpBase {
  kind: "route";
  action: OpAction;
  /** The request, as routeReplace()/routeDel() take it. */
  route: RouteOptions;
  /** The kernel route it replaces or deletes, if any. */
  current?: Route;
}

/** `ip neigh replace IP lladdr MAC dev D nud permanent` or `ip neigh del IP dev D`. */
export interface NeighOp extends OpBase {
  kind: "neigh";
  action: OpAction;
  neigh: NeighOptions;
  current?: Neigh;
}

/** `bridge fdb replace MAC dev D dst IP self permanent` or `bridge fdb del ...`. */
export interface FdbOp extends OpBase {
  kind: "fdb";
  action: OpAction;
  fdb: FdbOptions;
  current?: Fdb;
}

/**
 * One of skein's devices is missing (or is a link of another kind under skein's name): the
 * backend's setup() creates it (`ip link add ...`); apply() does not create links.
 */
export interface LinkOp extends OpBase {
  kind: "link";
  action: "replace";
  reason: "missing" | "wrong-attributes";
  link: DeviceSpec;
}

/** One planned kernel change. */
export type PlanOp = RouteOp | NeighOp | FdbOp | LinkOp;

/**
 * Why a lease is not in the plan:
 * - "refused": the backend refused it (not on-link, no VTEP MAC, other backend, ...);
 * - "bad-destination": a route destination is not a prefix;
 * - "duplicate-route": another lease already wants that route (duplicate subnet);
 * - "shadowed": a route skein does not own has the same destination and metric;
 * - "duplicate-mac": another node already uses the VTEP MAC.
 */
export type SkipCode =
  | "refused"
  | "bad-destination"
  | "duplicate-route"
  | "shadowed"
  | "duplicate-mac";

/** A lease the plan leaves out, with the reason in words and as a code. */
export interface PlanSkip extends Skipped {
  code: SkipCode;
  /** The node whose lease is skipped (not known for "refused"). */
  node?: string;
  /** The route skein does not own that shadows the lease's ("shadowed"). */
  conflict?: Route;
}

/** An entry that is already right (listed only with PlanOptions.listUnchanged). */
export interface UnchangedEntry {
  kind: "route" | "neigh" | "fdb";
  key: string;
  owner: LeaseEntries;
}

/** plan()'s result. */
export interface Plan {
  /** The changes, per lease (neighbours, FDB entries, routes), then the stale entries. */
  ops: PlanOp[];
  /** Leases left out (the backend's own refusals first), with reasons. */
  skipped: PlanSkip[];
  /** Desired entries already right. */
  unchanged: number;
  /** Of those, routes. */
  unchangedRoutes: number;
  /** The entries already right, when asked for (PlanOptions.listUnchanged). */
  unchangedEntries?: UnchangedEntry[];
}

/** Options for plan(). */
export interface PlanOptions {
  /** Also list the entries already right in `unchangedEntries` (diagnose; the daemon only counts). */
  listUnchanged?: boolean;
}

/** Same next hop: equal addresses, or none on both (a route into a point-to-point device). */
function sameGateway(k: string | undefined, d: string | undefined): boolean {
  return d === undefined ? k === undefined : sameIp(k, d);
}

/** True when the kernel route already is what the spec asks for. */
function routeMatches(k: Route, d: RouteSpec): boolean {
  return sameGateway(k.gateway, d.gateway) && k.oif === d.dev && k.onlink === (d.onlink ?? false) &&
    k.mtu === d.mtu && k.type === "unicast";
}

/** Why skein's route `k` differs from the spec (routeMatches() is false). */
function routeReason(k: Route | undefined, d: RouteSpec): OpReason {
  if (!k) return "missing";
  if (!sameGateway(k.gateway, d.gateway)) return "wrong-nexthop";
  if (k.oif !== d.dev) return "wrong-device";
  return "wrong-attributes";
}

/** The delete request for exactly this kernel route (protocol-matched: never someone else's). */
export function routeDelOf(r: Route, table: number, protocol = SKEIN_ROUTE_PROTOCOL): RouteOptions {
  return {
    dst: r.dst,
    family: r.family,
    gateway: r.gateway,
    dev: r.oif,
    table,
    protocol,
    metric: r.metric,
  };
}

/** The validation pass's bookkeeping: who wants which route, MAC, neighbour, FDB entry. */
interface Claims {
  routeOwner: Map<string, string>;
  macOwner: Map<string, string>;
  neighs: Set<string>;
  fdbs: Set<string>;
}

/**
 * Computes the operations that turn `snap` into `desired` (see the module doc). Pure.
 *
 * @example
 * ```ts ignore
 * const p = plan(desired, snapshot(handle, { devices: desired.ownedDevices }));
 * for (const op of p.ops) console.log(formatOp(op));
 * ```
 */
export function plan(desired: DesiredState, snap: KernelSnapshot, opts: PlanOptions = {}): Plan {
  const out: Plan = { ops: [], skipped: [], unchanged: 0, unchangedRoutes: 0 };
  if (opts.listUnchanged) out.unchangedEntries = [];
  for (let i = 0; i < desired.skipped.length; i++) {
    const s = desired.skipped[i]!;
    out.skipped.push({ subnet: s.subnet, reason: s.reason, code: "refused" });
  }
  planDevices(desired, snap, out);
  const claims: Claims = {
    routeOwner: new Map(),
    macOwner: new Map(),
    neighs: new Set(),
    fdbs: new Set(),
  };
  // Indexed loops and forEach() below: this runs for every lease every reconcile, and iterator
  // objects and [key, value] pairs were megabytes of garbage per run with 5,000 leases.
  for (let ei = 0; ei < desired.entries.length; ei++) {
    const entry = desired.entries[ei]!;
    const skip = validate(entry, snap, claims);
    if (skip) {
      out.skipped.push(skip);
      continue;
    }
    planNeighs(entry, snap, claims, out);
    planFdbs(entry, snap, claims, out);
    planRoutes(entry, snap, claims, out);
  }
  planStale(snap, claims, out);
  return out;
}

/** Link ops for the desired devices the snapshot lacks (or has with another kind). */
function planDevices(desired: DesiredState, snap: KernelSnapshot, out: Plan): void {
  const devices = desired.devices ?? [];
  for (let i = 0; i < devices.length; i++) {
    const d = devices[i]!;
    const have = snap.links.get(linkKey(d.name));
    if (have && have.kind === d.kind) continue;
    out.ops.push({
      kind: "link",
      action: "replace",
      key: linkKey(d.name),
      reason: have ? "wrong-attributes" : "missing",
      link: d,
    });
  }
}

function skip(entry: LeaseEntries, code: SkipCode, reason: string): PlanSkip {
  return { subnet: entry.subnet, node: entry.node, code, reason };
}

/** Why `entry` cannot be programmed (duplicates, conflicts with routes skein does not own). */
function validate(entry: LeaseEntries, snap: KernelSnapshot, c: Claims): PlanSkip | undefined {
  for (let si = 0; si < entry.routes.length; si++) {
    const spec = entry.routes[si]!;
    const info = cidrInfo(spec.dst);
    if (!info) {
      return skip(entry, "bad-destination", `route destination ${spec.dst} is not a CIDR prefix`);
    }
    const dst = info.canonical;
    const other = c.routeOwner.get(info.routeKey);
    if (other !== undefined) {
      return skip(
        entry,
        "duplicate-route",
        `route ${dst} is already wanted for node ${other} (duplicate lease)`,
      );
    }
    const f = snap.foreign.get(info.routeKey);
    if (f) {
      const s = skip(
        entry,
        "shadowed",
        `a route to ${dst} that skein does not own is in the kernel (protocol ${f.protocol}${
          f.gateway ? `, via ${f.gateway}` : ""
        }); leaving it alone`,
      );
      s.conflict = f;
      return s;
    }
  }
  for (let fi = 0; fi < entry.fdbs.length; fi++) {
    const fdb = entry.fdbs[fi]!;
    const other = c.macOwner.get(fdbKey(fdb.dev, fdb.mac));
    if (other !== undefined) {
      return skip(
        entry,
        "duplicate-mac",
        `VTEP MAC ${fdb.mac} is already used by node ${other} (duplicate MAC)`,
      );
    }
  }
  return undefined;
}

function unchanged(out: Plan, kind: UnchangedEntry["kind"], key: string, owner: LeaseEntries) {
  out.unchanged++;
  out.unchangedEntries?.push({ kind, key, owner });
}

// The plan* functions below also record what a valid entry claims (c), so later leases and the
// stale pass see it; each key is built once per entry and reconcile.

function planNeighs(entry: LeaseEntries, snap: KernelSnapshot, c: Claims, out: Plan): void {
  for (let ni = 0; ni < entry.neighs.length; ni++) {
    const n = entry.neighs[ni]!;
    const key = neighKey(n.dev, n.ip);
    c.neighs.add(key);
    const k = snap.neighs.get(key);
    const sameMac = k?.mac?.toLowerCase() === n.mac.toLowerCase();
    if (k && k.state === "permanent" && sameMac) {
      unchanged(out, "neigh", key, entry);
      continue;
    }
    out.ops.push({
      kind: "neigh",
      action: "replace",
      key,
      reason: !k ? "missing" : k.state !== "permanent" ? "not-permanent" : "wrong-mac",
      neigh: { dev: n.dev, ip: n.ip, mac: n.mac, state: "permanent" },
      current: k,
      owner: entry,
    });
  }
}

const NO_FDBS: readonly Fdb[] = [];

function planFdbs(entry: LeaseEntries, snap: KernelSnapshot, c: Claims, out: Plan): void {
  for (let fi = 0; fi < entry.fdbs.length; fi++) {
    const f = entry.fdbs[fi]!;
    const key = fdbKey(f.dev, f.mac);
    c.macOwner.set(key, entry.node);
    c.fdbs.add(key);
    const have = snap.fdbs.get(key) ?? NO_FDBS;
    if (have.length === 1 && sameIp(have[0]?.dst, f.dst)) {
      unchanged(out, "fdb", key, entry);
      continue;
    }
    let matched = false;
    if (have.length > 1) {
      for (let hi = 0; hi < have.length; hi++) {
        const h = have[hi]!;
        if (sameIp(h.dst, f.dst)) {
          matched = true;
          continue;
        }
        out.ops.push({
          kind: "fdb",
          action: "delete",
          key,
          reason: "extra-remote",
          fdb: { dev: f.dev, mac: f.mac, dst: h.dst, self: true },
          current: h,
          owner: entry,
        });
      }
    }
    if (matched) continue;
    out.ops.push({
      kind: "fdb",
      action: "replace",
      key,
      reason: have.length === 0 ? "missing" : "wrong-remote",
      fdb: { dev: f.dev, mac: f.mac, dst: f.dst, self: true, state: "permanent" },
      current: have[0],
      owner: entry,
    });
  }
}

function planRoutes(entry: LeaseEntries, snap: KernelSnapshot, c: Claims, out: Plan): void {
  const table = snap.table;
  for (let ri = 0; ri < entry.routes.length; ri++) {
    const spec = entry.routes[ri]!;
    const info = cidrInfo(spec.dst)!;
    const key = info.routeKey;
    c.routeOwner.set(key, entry.node);
    const k = snap.routes.get(key);
    if (k && routeMatches(k, spec)) {
      unchanged(out, "route", key, entry);
      out.unchangedRoutes++;
      continue;
    }
    const family = info.family;
    if (k && family === 6 && k.oif !== spec.dev) {
      out.ops.push({
        kind: "route",
        action: "delete",
        key,
        reason: "move",
        route: routeDelOf(k, table, snap.protocol ?? SKEIN_ROUTE_PROTOCOL),
        current: k,
        owner: entry,
      });
    }
    out.ops.push({
      kind: "route",
      action: "replace",
      key,
      reason: routeReason(k, spec),
      route: {
        dst: info.canonical,
        family,
        gateway: spec.gateway,
        dev: spec.dev,
        onlink: spec.onlink,
        mtu: spec.mtu,
        table,
        protocol: snap.protocol ?? SKEIN_ROUTE_PROTOCOL,
      },
      current: k,
      owner: entry,
    });
  }
}

/** Deletes for what skein owns and no lease claimed: routes, then FDB entries, then neighbours. */
function planStale(snap: KernelSnapshot, c: Claims, out: Plan): void {
  snap.routes.forEach((r, key) => {
    if (c.routeOwner.has(key)) return;
    out.ops.push({
      kind: "route",
      action: "delete",
      key,
      reason: "stale",
      route: routeDelOf(r, snap.table, snap.protocol ?? SKEIN_ROUTE_PROTOCOL),
      current: r,
    });
  });
  snap.fdbs.forEach((list, key) => {
    if (c.fdbs.has(key)) return;
    for (let i = 0; i < list.length; i++) {
      const f = list[i]!;
      out.ops.push({
        kind: "fdb",
        action: "delete",
        key,
        reason: "stale",
        fdb: { dev: f.index, mac: f.mac, dst: f.dst, self: true },
        current: f,
      });
    }
  });
  snap.neighs.forEach((n, key) => {
    if (c.neighs.has(key) || n.state !== "permanent") return;
    out.ops.push({
      kind: "neigh",
      action: "delete",
      key,
      reason: "stale",
      neigh: { dev: n.index, ip: n.ip },
      current: n,
    });
  });
}

/**
 * One line for an operation, iproute2-style:
 * `replace route 10.244.2.0/24 via 192.168.1.12 dev 2 onlink (missing; node2 10.244.2.0/24)`.
 * `devName` turns link indexes into names when given.
 */
export function formatOp(op: PlanOp, devName: (index: number) => string = String): string {
  const dev = (d: string | number | undefined) =>
    d === undefined ? "" : ` dev ${typeof d === "number" ? devName(d) : d}`;
  let what: string;
  switch (op.kind) {
    case "route": {
      const r = op.route;
      what = `route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}${dev(r.dev)}${
        r.onlink ? " onlink" : ""
      }${r.mtu ? ` mtu ${r.mtu}` : ""}`;
      break;
    }
    case "neigh":
      what = `neigh ${op.neigh.ip}${op.neigh.mac ? ` lladdr ${op.neigh.mac}` : ""}${
        dev(op.neigh.dev)
      }`;
      break;
    case "fdb":
      what = `fdb ${op.fdb.mac}${dev(op.fdb.dev)}${op.fdb.dst ? ` dst ${op.fdb.dst}` : ""}`;
      break;
    case "link":
      what = `link ${op.link.name} type ${op.link.kind} (created by the backend's setup)`;
      break;
  }
  const owner = op.owner ? `; ${op.owner.node} ${op.owner.subnet}` : "";
  const action = op.kind === "link" ? "create" : op.action;
  return `${action} ${what} (${op.reason}${owner})`;
}
