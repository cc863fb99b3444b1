/**
 * snapshot(): what the kernel holds of skein's dataplane, read once per reconcile into a typed
 * KernelSnapshot that plan() compares with the desired state. Read-only: dumps, never a change.
 *
 * What skein owns (and may therefore replace or delete):
 * - routes in the table (default main, 254) tagged with the daemon's SKEIN_ROUTE_PROTOCOL (100),
 *   `ip route show proto 100`, with one exception: a gateway-less host route (/32, /128) tagged
 *   100 is a pod route an older CNI plugin made (the plugin now tags its routes
 *   SKEIN_CNI_ROUTE_PROTOCOL, 101). Those are listed in `legacyCni` and never touched here: the
 *   daemon moves them to 101 on start (daemon/migrate.ts), and an old plugin binary may still add
 *   one during an upgrade;
 * - permanent neighbours and permanent FDB entries with a remote (`dst`) on the devices the
 *   backend names in `DesiredState.ownedDevices` (skein's own vxlan device).
 *
 * Every other unicast, blackhole or unreachable route of the table is recorded as `foreign`: a
 * desired route with the same key would replace it, so plan() skips that lease instead.
 *
 * @module
 */
import {
  type Fdb,
  type Link,
  type Neigh,
  type NetHandle,
  type Route,
  SKEIN_ROUTE_PROTOCOL,
} from "../net/types.ts";
import { fdbKey, kernelRouteKey, linkKey, neighKey } from "./keys.ts";

/** The main routing table. */
export const MAIN_TABLE = 254;

/** What snapshot() reads. */
export interface SnapshotOptions {
  /** Routing table (default 254, main). */
  table?: number;
  /** Link indexes whose permanent neighbours and FDB entries skein owns (the vxlan device). */
  devices?: readonly number[];
  /** Names of skein's own links to look up (e.g. "skein.1"), recorded in `links`. */
  links?: readonly string[];
  /**
   * The route protocol whose routes are skein's here (default SKEIN_ROUTE_PROTOCOL, 100; the BGP
   * backend's learned routes: RTPROT_BGP, 186). Routes of any other protocol are foreign.
   */
  protocol?: number;
}

/** The kernel objects skein owns, plus the foreign routes its routes could collide with. */
export interface KernelSnapshot {
  /** The routing table read. */
  table: number;
  /** The route protocol of the routes in `routes` (SnapshotOptions.protocol; default 100). */
  protocol?: number;
  /** skein's routes (isOwnedRoute()), by route key (keys.ts). */
  routes: Map<string, Route>;
  /** Other routes of the table a desired route with the same key would replace, by route key. */
  foreign: Map<string, Route>;
  /** Pod routes older CNI versions tagged 100 (isLegacyCniRoute()); also in `foreign`. */
  legacyCni: Route[];
  /** Neighbours (IPv4/IPv6, any state) on the owned devices, by neighbour key. */
  neighs: Map<string, Neigh>;
  /** Permanent FDB entries with a remote on the owned devices, by FDB key (one MAC, many remotes). */
  fdbs: Map<string, Fdb[]>;
  /** The owned devices the neighbours and FDB entries were read from. */
  devices: readonly number[];
  /** skein's links asked for in SnapshotOptions.links, by name; absent when not in the namespace. */
  links: Map<string, Link>;
}

/**
 * True for a pod route an older CNI plugin tagged with the daemon's protocol 100: no gateway (and
 * no multipath next hops), a host prefix (/32, /128). The plugin tags them 101 now.
 */
export function isLegacyCniRoute(r: Route): boolean {
  return r.protocol === SKEIN_ROUTE_PROTOCOL && r.gateway === undefined &&
    r.nexthops === undefined && r.dst.endsWith(r.family === 4 ? "/32" : "/128");
}

/**
 * True when a kernel route is one the backends own (see the module doc): protocol `protocol`
 * (default 100; the BGP backend's is 186) in `table`.
 */
export function isOwnedRoute(
  r: Route,
  table = MAIN_TABLE,
  protocol = SKEIN_ROUTE_PROTOCOL,
): boolean {
  return r.protocol === protocol && r.table === table && r.type === "unicast" &&
    !isLegacyCniRoute(r);
}

/**
 * Reads skein's routes, neighbours, FDB entries and links from the namespace of `handle`:
 * `ip route show table T`, `ip neigh show dev D`, `bridge fdb show dev D`, `ip link show NAME`.
 * Throws the NetlinkError when a dump fails (the state cannot be read at all).
 *
 * @example
 * ```ts ignore
 * const snap = snapshot(handle, { devices: [vxlanIndex], links: ["skein.1"] });
 * snap.routes.size; // skein's routes in the main table
 * ```
 */
export function snapshot(handle: NetHandle, opts: SnapshotOptions = {}): KernelSnapshot {
  const table = opts.table ?? MAIN_TABLE;
  const devices = opts.devices ?? [];
  const protocol = opts.protocol ?? SKEIN_ROUTE_PROTOCOL;
  const snap: KernelSnapshot = {
    table,
    protocol,
    routes: new Map(),
    foreign: new Map(),
    legacyCni: [],
    neighs: new Map(),
    fdbs: new Map(),
    devices,
    links: new Map(),
  };
  const kernel = handle.routeList({ table });
  // Indexed loops: this runs every reconcile over every route (5,000+), and iterator objects
  // were measurable garbage.
  for (let i = 0; i < kernel.length; i++) {
    const r = kernel[i]!;
    if (r.table !== table) continue;
    if (isOwnedRoute(r, table, protocol)) {
      snap.routes.set(kernelRouteKey(r), r);
      continue;
    }
    if (r.type === "unicast" || r.type === "blackhole" || r.type === "unreachable") {
      snap.foreign.set(kernelRouteKey(r), r);
    }
    if (isLegacyCniRoute(r)) snap.legacyCni.push(r);
  }
  for (let di = 0; di < devices.length; di++) readDevice(handle, devices[di]!, snap);
  const links = opts.links ?? [];
  for (let li = 0; li < links.length; li++) {
    const l = handle.linkFind(links[li]!);
    if (l) snap.links.set(linkKey(l.name), l);
  }
  return snap;
}

/** Adds the neighbours and skein's FDB entries of device `dev` to `snap`. */
function readDevice(handle: NetHandle, dev: number, snap: KernelSnapshot): void {
  const neighs = handle.neighList({ dev });
  for (let i = 0; i < neighs.length; i++) {
    const n = neighs[i]!;
    if (n.family !== 4 && n.family !== 6) continue;
    snap.neighs.set(neighKey(n.index, n.ip), n);
  }
  const fdbs = handle.fdbList({ dev });
  for (let i = 0; i < fdbs.length; i++) {
    const f = fdbs[i]!;
    if (f.index !== dev || !f.self || f.dst === undefined || f.state !== "permanent") continue;
    const key = fdbKey(f.index, f.mac);
    const list = snap.fdbs.get(key);
    if (list) list.push(f);
    else snap.fdbs.set(key, [f]);
  }
}
