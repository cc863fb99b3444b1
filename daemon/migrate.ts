/**
 * What older skein versions left in the kernel, moved to today's ownership once on daemon start.
 *
 * CNI plugins before SKEIN_CNI_ROUTE_PROTOCOL (101) existed tagged their routed-mode pod routes
 * (`POD/32 dev skX scope link`) with the daemon's protocol 100. Each one is re-tagged 101 with one
 * `ip route replace POD/32 dev skX scope link proto 101`: the kernel swaps the route in place
 * (same destination, metric and table), so the pod never loses it, not even for one packet. Never
 * delete + add.
 *
 * @module
 */
import {
  type NetHandle,
  type Route,
  SKEIN_CNI_ROUTE_PROTOCOL,
  SKEIN_ROUTE_PROTOCOL,
} from "../net/types.ts";
import { isLegacyCniRoute } from "../backends/snapshot.ts";
import type { Logger } from "./log.ts";

/** What migrateLegacyRoutes() did. */
export interface MigrationResult {
  /** Destinations re-tagged 101 ("10.244.1.5/32"). */
  migrated: string[];
  /** One message per route that could not be moved (it stays as it was). */
  errors: string[];
}

/** The replace request for `r` with the CNI plugin's protocol, every other attribute kept. */
function retagged(r: Route) {
  return {
    dst: r.dst,
    family: r.family,
    dev: r.oif,
    src: r.src,
    table: r.table,
    protocol: SKEIN_CNI_ROUTE_PROTOCOL,
    scope: r.scope,
    type: r.type,
    metric: r.metric,
    mtu: r.mtu,
  };
}

/**
 * Re-tags the pod routes older CNI plugins left with protocol 100 (see the module doc), in the
 * main table of `handle`'s namespace. Equivalent to, per route,
 * `ip route replace POD/32 dev skX scope link proto 101`. Never throws for one route: failures
 * are returned (and logged when `log` is given), and the daemon goes on.
 */
export function migrateLegacyRoutes(handle: NetHandle, log?: Logger): MigrationResult {
  const out: MigrationResult = { migrated: [], errors: [] };
  let routes: Route[];
  try {
    routes = handle.routeList({ protocol: SKEIN_ROUTE_PROTOCOL });
  } catch (e) {
    routes = [];
    out.errors.push(`Cannot list routes to migrate: ${(e as Error).message}`);
  }
  for (const r of routes) {
    if (!isLegacyCniRoute(r)) continue;
    try {
      handle.routeReplace(retagged(r));
      out.migrated.push(r.dst);
    } catch (e) {
      out.errors.push(`Cannot move pod route ${r.dst} to protocol 101: ${(e as Error).message}`);
    }
  }
  if (out.migrated.length) {
    log?.info("moved pod routes of an older CNI plugin from protocol 100 to 101", {
      routes: out.migrated.length,
    });
  }
  for (const e of out.errors) log?.warn(e);
  return out;
}
