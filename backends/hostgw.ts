/**
 * host-gw: a route per remote node straight to its public IP on the shared L2 network,
 * `ip route replace <subnet> via <node IP> dev <uplink> proto 100` (flannel's hostgw backend).
 * A node whose IP is not on a network connected to the uplink cannot be reached that way: its
 * lease is skipped with the reason instead of failing in the kernel with ENETUNREACH. So is one
 * whose IP is the network or broadcast address of the uplink's prefix (the kernel: EINVAL,
 * "Nexthop has invalid gateway"), or no node's address at all (loopback, multicast, ...:
 * checkLeases()).
 *
 * @module
 */
import type { Lease } from "../store/types.ts";
import { ensureSysctl } from "../node/sysctl.ts";
import { type BackendContext, BackendSetupError, underlayOf } from "./_context.ts";
import { checkLeases, OnLink } from "./_lease.ts";
import { removeOtherTunnelDevices } from "./_device.ts";
import type { OnLinkTest } from "./direct_routing.ts";
import { failedReport, planState, reconcileState } from "./reconcile.ts";
import type { Plan } from "./plan.ts";
import { isNetlinkError } from "../net/errors.ts";
import type {
  Backend,
  DesiredState,
  DriftKind,
  LeaseEntries,
  ReconcileReport,
  RouteSpec,
  SetupResult,
} from "./types.ts";

/** The on-link test host-gw needs (OnLink in production, onLinkOf() in unit tests). */
export type { OnLinkTest };

/** The desired host-gw state for `leases` (pure apart from `onlink`). */
export function hostGwDesired(
  ctx: Pick<BackendContext, "uplink" | "publicIP">,
  leases: readonly Lease[],
  self: Lease,
  onlink: OnLinkTest,
): DesiredState {
  const checked = checkLeases(leases, self, {
    type: "host-gw",
    publicIP: ctx.publicIP,
    uplinkNet: onlink,
  });
  const state: DesiredState = { entries: [], skipped: checked.skipped, ownedDevices: [] };
  const notOnLink = (l: Lease, ip: string) =>
    `node ${l.node}'s public IP ${ip} is not on a network connected to ${ctx.uplink.name} ` +
    `(connected: ${onlink.describe()}); host-gw needs every node on one L2 network, use vxlan ` +
    "(with directRouting: true it keeps host-gw routes to the nodes on this network)";
  for (const l of checked.leases) {
    const routes: RouteSpec[] = [];
    const gw4 = underlayOf(l, 4);
    if (!gw4) {
      state.skipped.push({ subnet: l.subnet, reason: `node ${l.node} has no IPv4 public IP` });
    } else if (!onlink.has(gw4)) {
      state.skipped.push({ subnet: l.subnet, reason: notOnLink(l, gw4) });
    } else {
      routes.push({ dst: l.subnet, gateway: gw4, dev: ctx.uplink.index });
    }
    if (l.subnet6) {
      const gw6 = underlayOf(l, 6);
      if (!gw6) {
        state.skipped.push({ subnet: l.subnet6, reason: `node ${l.node} has no IPv6 public IP` });
      } else if (!onlink.has(gw6)) {
        state.skipped.push({ subnet: l.subnet6, reason: notOnLink(l, gw6) });
      } else {
        routes.push({ dst: l.subnet6, gateway: gw6, dev: ctx.uplink.index });
      }
    }
    if (routes.length) {
      const e: LeaseEntries = { subnet: l.subnet, node: l.node, neighs: [], fdbs: [], routes };
      state.entries.push(e);
    }
  }
  return state;
}

/** The host-gw backend (see the module doc). */
export class HostGwBackend implements Backend {
  readonly type = "host-gw" as const;
  #ctx: BackendContext;

  constructor(ctx: BackendContext) {
    this.#ctx = ctx;
  }

  /**
   * Checks the uplink exists, removes skein's tunnel devices left by a vxlan or ipip backend
   * (`ip link del skein.1`), and turns on IPv4 forwarding (`sysctl -w net.ipv4.ip_forward=1`).
   */
  setup(): SetupResult {
    const { handle, uplink } = this.#ctx;
    const link = handle.linkFind(uplink.index);
    if (!link || link.name !== uplink.name) {
      throw new BackendSetupError(
        `Cannot set up host-gw: uplink ${uplink.name} (index ${uplink.index}) is not in the node's namespace`,
      );
    }
    const repaired: DriftKind[] = removeOtherTunnelDevices(handle, undefined).map(() => "device");
    if (ensureSysctl("net.ipv4.ip_forward", "1", this.#ctx.sysctl)) repaired.push("sysctl");
    return { backendData: {}, mtu: this.#ctx.mtu, repaired };
  }

  /** Routes every on-link remote lease via its node IP on the uplink; removes stale ones. */
  reconcile(leases: readonly Lease[], self: Lease): ReconcileReport {
    const ctx = this.#ctx;
    const started = performance.now();
    const errors: string[] = [];
    if (self.subnet6) {
      try {
        ensureSysctl("net.ipv6.conf.all.forwarding", "1", ctx.sysctl);
      } catch (e) {
        errors.push(`Cannot enable IPv6 forwarding: ${(e as Error).message}`);
      }
    }
    try {
      const onlink = new OnLink(ctx.handle, ctx.uplink.index);
      const desired = hostGwDesired(ctx, leases, self, onlink);
      const r = reconcileState(ctx.handle, desired, { extra: { errors } });
      r.durationMs = performance.now() - started;
      return r;
    } catch (e) {
      if (!isNetlinkError(e)) throw e;
      return failedReport([...errors, `Cannot read the kernel state: ${e.message}`], started);
    }
  }

  /** What reconcile() would change (read-only: address and route dumps). */
  plan(leases: readonly Lease[], self: Lease): Plan {
    const ctx = this.#ctx;
    const onlink = new OnLink(ctx.handle, ctx.uplink.index);
    return planState(ctx.handle, hostGwDesired(ctx, leases, self, onlink));
  }
}
