/**
 * Which kernel notifications concern the daemon's plan: a change to an object skein owns, or to
 * one the plan depends on, asks for a reconcile; everything else on the node (pods' veths, ARP
 * traffic on the uplink, other routes) is ignored.
 *
 * @module
 */
import type { KernelEvent } from "../net/monitor.ts";
import { SKEIN_ROUTE_PROTOCOL } from "../net/types.ts";
import { isLegacyCniRoute } from "../backends/snapshot.ts";

/** A link the plan depends on, by name and (last known) index. */
export interface WatchedLink {
  name: string;
  index: number;
}

/** What the daemon's plan depends on in its namespace. */
export interface WatchedObjects {
  /** The underlay interface (its state, its addresses). */
  uplink: WatchedLink;
  /** skein's tunnel device (vxlan, ipip): its state, addresses, neighbours and FDB entries. */
  device?: WatchedLink;
  /** True for a route destination that is one of the lease subnets the plan routes. */
  routesTo?: (dst: string) => boolean;
}

function isWatched(w: WatchedObjects, index: number, name?: string): boolean {
  for (const l of [w.uplink, w.device]) {
    if (l && (l.index === index || (name !== undefined && l.name === name))) return true;
  }
  return false;
}

/**
 * Why `ev` asks for a reconcile (a short word for logs and metrics), or undefined when it does
 * not concern the plan:
 * - `lost`: notifications were dropped, anything may have changed;
 * - `route`: a route of skein's protocol (`proto 100`), or any route to a leased subnet (someone
 *   else's route replacing skein's);
 * - `link`, `addr`: the uplink or the tunnel device changed (down, deleted, recreated, renumbered);
 * - `neigh`, `fdb`: an entry on the tunnel device (skein owns its permanent ones);
 * - `forwarding`: IPv4/IPv6 forwarding of `conf/all` changed (`sysctl -w net.ipv4.ip_forward=0`).
 */
export function kernelEventReason(ev: KernelEvent, w: WatchedObjects): string | undefined {
  switch (ev.kind) {
    case "lost":
      return "lost";
    case "route": {
      const r = ev.route;
      // The daemon owns every proto-100 route but the pod routes old CNI plugins tagged 100.
      if (r.protocol === SKEIN_ROUTE_PROTOCOL && !isLegacyCniRoute(r)) return "route";
      return w.routesTo?.(r.dst) ? "route" : undefined;
    }
    case "link":
      return isWatched(w, ev.link.index, ev.link.name) ? "link" : undefined;
    case "addr":
      return isWatched(w, ev.addr.index) ? "addr" : undefined;
    case "neigh":
      return w.device && ev.neigh.index === w.device.index ? "neigh" : undefined;
    case "fdb":
      return w.device && ev.fdb.index === w.device.index ? "fdb" : undefined;
    case "netconf":
      return ev.netconf.ifindex === -1 && ev.netconf.forwarding !== undefined
        ? "forwarding"
        : undefined;
  }
}
