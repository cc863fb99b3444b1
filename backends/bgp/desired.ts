/**
 * The bgp backend's desired state (pure): the Loc-RIB's best routes become kernel routes tagged
 * RTPROT_BGP (186) through the shared reconciler. A route goes
 *
 * - over the tunnel the existing backends make (`encapsulation: ipip` → `skein-ipip` onlink,
 *   `vxlan` → `skein.1` with the node's VTEP neighbour and FDB entry) when its next hop is another
 *   skein node (a lease's public IP) and, with `crossSubnet`, that node is off this node's subnet;
 * - else via its next hop on the uplink, when the next hop is on-link;
 * - else it is skipped with the reason.
 *
 * While the speaker has not converged after a restart (RFC 4724 restarting speaker), the kernel
 * routes a previous run left (`keep`) stay, so pods keep forwarding.
 *
 * @module
 */

import { RTPROT_BGP } from "../../net/types.ts";
import type { Route } from "../../net/types.ts";
import type { Lease } from "../../store/types.ts";
import { checkLeases } from "../_lease.ts";
import type { DesiredState, LeaseEntries } from "../types.ts";
import { vxlanDesired } from "../vxlan.ts";

/** A best route from the RIB (or an expected one). */
export interface BgpRoute {
  prefix: string;
  family: 4 | 6;
  nextHop: string;
}

/** What bgpDesired() needs. */
export interface BgpDesiredInput {
  publicIP: string;
  underlayFamily: 4 | 6;
  encapsulation: "none" | "ipip" | "vxlan";
  crossSubnet: boolean;
  /** The uplink's index. */
  uplink: number;
  /** The tunnel device's index (ipip, vxlan). */
  device?: number;
  /** Whether an address is on a network connected to the uplink. */
  onLink: (ip: string) => boolean;
  routes: readonly BgpRoute[];
  leases: readonly Lease[];
  self: Lease;
  /** Kernel routes tagged 186 to keep (graceful restart, before convergence). */
  keep?: readonly Route[];
}

/** The desired state for the RIB's routes (see the module doc). */
export function bgpDesired(inp: BgpDesiredInput): DesiredState {
  const checked = checkLeases(inp.leases, inp.self, { type: "bgp", publicIP: inp.publicIP });
  const state: DesiredState = { entries: [], skipped: [], ownedDevices: [], protocol: RTPROT_BGP };
  const nodes = new Map(
    checked.leases.flatMap((l) =>
      [[l.publicIP, l], ...(l.publicIP6 ? [[l.publicIP6, l]] : [])] as [string, Lease][]
    ),
  );
  const vx = inp.encapsulation === "vxlan" && inp.device
    ? vxlanEntries(inp)
    : new Map<string, LeaseEntries>();
  if (inp.encapsulation === "vxlan" && inp.device) state.ownedDevices = [inp.device];
  const tunnelled = new Map<LeaseEntries, Set<string>>();
  const names = new Map<string, string>(); // one "bgp <next hop>" string per next hop
  for (const r of inp.routes) {
    const node = nodes.get(r.nextHop);
    const tunnel = node && inp.device && inp.encapsulation !== "none" &&
      !(inp.crossSubnet && inp.onLink(r.nextHop));
    if (tunnel && inp.encapsulation === "ipip" && r.family === 4) {
      state.entries.push(
        entry(r, node.node, { dst: r.prefix, gateway: r.nextHop, dev: inp.device!, onlink: true }),
      );
      continue;
    }
    const vxe = tunnel && inp.encapsulation === "vxlan" ? vx.get(node.subnet) : undefined;
    if (vxe && vxe.routes.some((x) => x.dst === r.prefix)) {
      const set = tunnelled.get(vxe) ?? new Set<string>();
      tunnelled.set(vxe, set.add(r.prefix));
      continue;
    }
    if (!inp.onLink(r.nextHop)) {
      state.skipped.push({
        subnet: r.prefix,
        reason: `BGP next hop ${r.nextHop} is not on a network connected to the uplink ` +
          `(use encapsulation: ipip or vxlan, or peer on this node's subnet)`,
      });
      continue;
    }
    let name = node?.node ?? names.get(r.nextHop);
    if (name === undefined) names.set(r.nextHop, name = `bgp ${r.nextHop}`);
    state.entries.push(
      entry(r, name, {
        dst: r.prefix,
        gateway: r.nextHop,
        dev: inp.uplink,
      }),
    );
  }
  for (const [e, prefixes] of tunnelled) {
    const routes = e.routes.filter((x) => prefixes.has(x.dst));
    const fams = new Set(routes.map((x) => x.dst.includes(":") ? 6 : 4));
    state.entries.push({
      ...e,
      routes,
      neighs: e.neighs.filter((n) => fams.has(n.ip.includes(":") ? 6 : 4)),
    });
  }
  keepRoutes(inp.keep ?? [], state);
  return state;
}

/** Shared by every plain route's entry (the reconciler only reads them): 10,000 routes, no garbage. */
const NO_NEIGHS: LeaseEntries["neighs"] = [];
const NO_FDBS: LeaseEntries["fdbs"] = [];

function entry(r: BgpRoute, node: string, route: LeaseEntries["routes"][number]): LeaseEntries {
  return { subnet: r.prefix, node, neighs: NO_NEIGHS, fdbs: NO_FDBS, routes: [route] };
}

/** vxlan's entries for every node lease, by the lease's subnet. */
function vxlanEntries(inp: BgpDesiredInput): Map<string, LeaseEntries> {
  const asVxlan = inp.leases.map((l) => ({ ...l, backendType: "vxlan" }));
  const d = vxlanDesired(inp, inp.device!, asVxlan, { ...inp.self, backendType: "vxlan" });
  return new Map(d.entries.map((e) => [e.subnet, e]));
}

function keepRoutes(keep: readonly Route[], state: DesiredState): void {
  const have = new Set(state.entries.flatMap((e) => e.routes.map((r) => r.dst)));
  for (const k of keep) {
    if (have.has(k.dst) || k.gateway === undefined || k.oif === undefined) continue;
    state.entries.push({
      subnet: k.dst,
      node: "kept until BGP converges (graceful restart)",
      neighs: [],
      fdbs: [],
      routes: [{
        dst: k.dst,
        gateway: k.gateway,
        dev: k.oif,
        ...(k.onlink ? { onlink: true } : {}),
      }],
    });
  }
}
