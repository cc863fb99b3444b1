/**
 * Cross-subnet building blocks ("direct routing", flannel's DirectRouting, Calico's
 * `crossSubnet`): a peer whose node IP is on a network connected to this node's uplink gets a
 * plain host-gw route, a peer behind a router gets the tunnel's entries.
 *
 * ```
 * ip route replace <subnet> via <node IP> dev <uplink> proto 100           # on-link peer
 * (the tunnel's neighbour + FDB entry + onlink route, vxlan.ts / ipip.ts)  # off-link peer
 * ```
 *
 * Used by vxlan and ipip (`backend.directRouting: true`) and by BGP (`crossSubnet: true`):
 * - isOnLink() / onLinkOf(): the pure on-link test on a list of connected prefixes; OnLink (the
 *   kernel-backed one: the uplink's address prefixes and link-scope routes);
 * - peerPath(): "direct" or "tunnel" for one peer's node IP; directRoute(): its host-gw route;
 * - withDirectRouting(): a whole DesiredState, direct entries for on-link leases and the tunnel
 *   builder's entries for the rest. A peer that moves between on-link and off-link (its public IP
 *   changes) simply lands in the other half: plan() replaces its route and deletes the tunnel's
 *   neighbour and FDB entries as stale (or adds them before the route, moving the other way).
 *
 * @module
 */
import { contains, tryParseCidr, tryParseIp } from "../net/cidr.ts";
import type { Lease } from "../store/types.ts";
import { underlayOf } from "./_context.ts";
import { checkLeases, edgeOf, edgeReason, OnLink } from "./_lease.ts";
import { ipInfo } from "./_parse_cache.ts";
import type { DesiredState, LeaseEntries, RouteSpec, Skipped } from "./types.ts";

export { OnLink };

/** Which networks are connected to the uplink (OnLink from the kernel, onLinkOf() in tests). */
export interface OnLinkTest {
  /** True when `ip` is on a network directly connected to the uplink. */
  has(ip: string): boolean;
  /**
   * Why the on-link `ip` is no next hop: the network or broadcast address of a connected IPv4
   * prefix ("the broadcast address of 192.168.1.0/24"); undefined for any other address.
   */
  edge(ip: string): string | undefined;
  /** The connected prefixes, for messages ("192.168.1.0/24" or "none"). */
  describe(): string;
}

/**
 * True when `ip` is inside one of the `connected` prefixes (the uplink's networks, e.g. from
 * `ip -j addr show dev eth0`). Pure; garbage in either argument is simply not on-link.
 *
 * @example
 * ```ts
 * isOnLink("192.168.1.12", ["192.168.1.0/24"]); // true
 * isOnLink("192.168.2.12", ["192.168.1.0/24"]); // false: behind a router
 * ```
 */
export function isOnLink(ip: string, connected: readonly string[]): boolean {
  const p = tryParseIp(ip);
  if (!p) return false;
  return connected.some((s) => {
    const c = tryParseCidr(s);
    return c !== undefined && c.family === p.family && contains(c, p);
  });
}

/** An OnLinkTest over a fixed list of prefixes (pure: unit tests, or callers with their own list). */
export function onLinkOf(connected: readonly string[]): OnLinkTest {
  const prefixes = connected.flatMap((s) => tryParseCidr(s) ?? []);
  return {
    has: (ip) => isOnLink(ip, connected),
    edge: (ip) => {
      const v4 = ipInfo(ip)?.v4 ?? -1;
      return v4 < 0 ? undefined : edgeOf(v4, prefixes);
    },
    describe: () => connected.length ? connected.join(", ") : "none",
  };
}

/** How traffic to one peer leaves this node. */
export type PeerPath = "direct" | "tunnel";

/**
 * "direct" when the peer's node IP is on-link (a host-gw route reaches it), else "tunnel"
 * (also when the peer has no address of the wanted family).
 */
export function peerPath(nodeIP: string | undefined, onlink: OnLinkTest): PeerPath {
  return nodeIP !== undefined && onlink.has(nodeIP) ? "direct" : "tunnel";
}

/**
 * The host-gw route to `dst` via the on-link `nodeIP` on the uplink (index `uplink`):
 * `ip route replace <dst> via <nodeIP> dev <uplink> proto 100`.
 */
export function directRoute(dst: string, nodeIP: string, uplink: number): RouteSpec {
  return { dst, gateway: nodeIP, dev: uplink };
}

/** Where direct routes go and which peers may have one (a backend's `directRouting: true`). */
export interface DirectPeers {
  /** The uplink's index: the direct routes' device. */
  uplink: number;
  /** The on-link test against the uplink's networks. */
  onlink: OnLinkTest;
}

/** What withDirectRouting() needs about this node and its backend. */
export interface DirectRoutingOptions extends DirectPeers {
  /** Backend name, for checkLeases() (leases of another backend are skipped). */
  type: string;
  /** This node's public IP (a lease claiming it is skipped). */
  publicIP: string;
  /**
   * Why IPv6 pod subnets are skipped when the backend carries IPv4 only (ipip); undefined: the
   * backend carries them, and a dual-stack lease is direct only when its IPv6 node IP is on-link
   * too (else the whole lease goes through the tunnel).
   */
  ipv6Skip?: string;
}

/**
 * The direct routes of one lease (IPv4 via its IPv4 node IP, IPv6 via its IPv6 one), or undefined
 * when one of its subnets' node IPs is not on-link: then the whole lease takes the tunnel.
 */
function directRoutesOf(l: Lease, o: DirectRoutingOptions): RouteSpec[] | undefined {
  const gw4 = underlayOf(l, 4);
  if (peerPath(gw4, o.onlink) !== "direct") return undefined;
  const routes = [directRoute(l.subnet, gw4!, o.uplink)];
  if (l.subnet6 && o.ipv6Skip === undefined) {
    const gw6 = underlayOf(l, 6);
    if (peerPath(gw6, o.onlink) !== "direct") return undefined;
    routes.push(directRoute(l.subnet6, gw6!, o.uplink));
  }
  return routes;
}

/**
 * The desired state with direct routing: leases whose node IP is on-link get host-gw routes on
 * the uplink; the others go to `tunnel` (the backend's own pure builder, e.g.
 * `(ls) => vxlanDesired(ctx, dev, ls, self)`), whose `ownedDevices` are kept so that a peer that
 * became on-link loses its stale neighbour and FDB entries. Entries keep the order of `leases`.
 * Pure apart from `o.onlink`.
 */
export function withDirectRouting(
  o: DirectRoutingOptions,
  leases: readonly Lease[],
  self: Lease,
  tunnel: (tunnelLeases: readonly Lease[]) => DesiredState,
): DesiredState {
  const direct = new Map<Lease, RouteSpec[]>();
  const rest: Lease[] = [];
  const checked = checkLeases(leases, self, { type: o.type, publicIP: o.publicIP });
  const ok = new Set(checked.leases);
  const edges: Skipped[] = [];
  for (const l of leases) {
    const gw4 = ok.has(l) ? underlayOf(l, 4) : undefined;
    const edge = gw4 !== undefined && o.onlink.has(gw4) ? o.onlink.edge(gw4) : undefined;
    if (edge) {
      // Neither a direct route nor a tunnel endpoint: it would reach every host on the LAN.
      edges.push({ subnet: l.subnet, reason: edgeReason(l.node, gw4!, edge) });
      continue;
    }
    const routes = ok.has(l) ? directRoutesOf(l, o) : undefined;
    if (routes) direct.set(l, routes);
    else rest.push(l);
  }
  const state = tunnel(rest);
  state.skipped.push(...edges);
  for (const [l, routes] of direct) {
    if (l.subnet6 && o.ipv6Skip !== undefined) {
      state.skipped.push({ subnet: l.subnet6, reason: o.ipv6Skip });
    }
    const e: LeaseEntries = { subnet: l.subnet, node: l.node, neighs: [], fdbs: [], routes };
    state.entries.push(e);
  }
  const order = new Map(leases.map((l, i) => [l.subnet, i]));
  state.entries.sort((a, b) => (order.get(a.subnet) ?? 0) - (order.get(b.subnet) ?? 0));
  return state;
}
