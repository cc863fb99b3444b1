/**
 * ipip: IPv4-in-IPv4 tunnel. skein creates its own device rather than using the kernel's
 * fallback `tunl0` the way flannel does, so it never shares a device with other software:
 *
 * ```
 * ip link add skein-ipip type ipip local <publicIP> dev <uplink>   # remote any: one device, many peers
 * ip link set skein-ipip mtu <uplink − 20> up
 * ip route replace <subnet> via <node IP> dev skein-ipip onlink proto 100   # per remote node
 * ```
 *
 * With no fixed remote the kernel takes each packet's outer destination from the route's gateway,
 * and every IPIP packet addressed to `publicIP` is received by this device. IPIP carries IPv4 only:
 * IPv6 pod subnets are skipped with the reason (use vxlan or host-gw for dual-stack).
 *
 * With `backend.directRouting: true` a node whose IP is on a network connected to the uplink gets
 * `ip route replace <subnet> via <node IP> dev <uplink> proto 100` instead (host-gw, no
 * encapsulation); the tunnel carries only traffic to nodes behind a router (direct_routing.ts).
 *
 * @module
 */
import { isNetlinkError } from "../net/errors.ts";
import type { Link } from "../net/types.ts";
import type { Lease } from "../store/types.ts";
import { ensureSysctl } from "../node/sysctl.ts";
import { type BackendContext, underlayOf } from "./_context.ts";
import { ensureTunnelDevice, removeOtherTunnelDevices } from "./_device.ts";
import { checkLeases, OnLink, type UplinkNet } from "./_lease.ts";
import { type DirectPeers, withDirectRouting } from "./direct_routing.ts";
import type { Settings } from "../component/fields.ts";
import type { IPIP_FIELDS } from "./registry.ts";

/** Why ipip skips IPv6 pod subnets. */
const IPV6_SKIP = "ipip carries IPv4 only; use vxlan or host-gw for IPv6 pod subnets";
import { failedReport, planWithDevice, reconcileState } from "./reconcile.ts";
import type { Plan } from "./plan.ts";
import type { Backend, DesiredState, DriftKind, ReconcileReport, SetupResult } from "./types.ts";

/**
 * The desired ipip state for `leases`, for the device with index `dev` (pure apart from
 * `direct.onlink` and `ctx.uplinkNet`). With `direct` (directRouting), on-link peers get a host-gw
 * route instead. With `ctx.uplinkNet`, a peer at the uplink's network or broadcast address is
 * skipped.
 */
export function ipipDesired(
  ctx: Pick<BackendContext, "publicIP"> & UplinkNet,
  dev: number,
  leases: readonly Lease[],
  self: Lease,
  direct?: DirectPeers,
): DesiredState {
  if (direct) {
    const o = { ...direct, type: "ipip", publicIP: ctx.publicIP, ipv6Skip: IPV6_SKIP };
    return withDirectRouting(o, leases, self, (rest) => ipipDesired(ctx, dev, rest, self));
  }
  const checked = checkLeases(leases, self, {
    type: "ipip",
    publicIP: ctx.publicIP,
    ...(ctx.uplinkNet ? { uplinkNet: ctx.uplinkNet } : {}),
  });
  const state: DesiredState = { entries: [], skipped: checked.skipped, ownedDevices: [] };
  for (const l of checked.leases) {
    if (l.subnet6) {
      state.skipped.push({ subnet: l.subnet6, reason: IPV6_SKIP });
    }
    const gw = underlayOf(l, 4);
    if (!gw) {
      state.skipped.push({ subnet: l.subnet, reason: `node ${l.node} has no IPv4 public IP` });
      continue;
    }
    state.entries.push({
      subnet: l.subnet,
      node: l.node,
      neighs: [],
      fdbs: [],
      routes: [{ dst: l.subnet, gateway: gw, dev, onlink: true }],
    });
  }
  return state;
}

/** The ipip backend (see the module doc). */
export class IpipBackend implements Backend {
  readonly type = "ipip" as const;
  #ctx: BackendContext;
  #directRouting: boolean;

  constructor(ctx: BackendContext) {
    this.#ctx = ctx;
    this.#directRouting = (ctx.settings as Settings<typeof IPIP_FIELDS>).directRouting === true;
  }

  /**
   * The context for ipipDesired() with the uplink's on-link test read now (one address dump),
   * and with directRouting the direct peers.
   */
  #view(): { ctx: BackendContext & UplinkNet; direct?: DirectPeers } {
    const u = this.#ctx.uplink.index;
    const onlink = new OnLink(this.#ctx.handle, u);
    const ctx = { ...this.#ctx, uplinkNet: onlink };
    return this.#directRouting ? { ctx, direct: { uplink: u, onlink } } : { ctx };
  }

  #mismatch(l: Link): string | undefined {
    const c = this.#ctx;
    if (l.kind !== "ipip") return `it is of kind ${l.kind ?? "none"}`;
    const t = l.ipip;
    if (!t) return undefined;
    if (t.local !== undefined && t.local !== c.publicIP) {
      return `local ${t.local} instead of ${c.publicIP}`;
    }
    if (t.remote !== undefined && t.remote !== "0.0.0.0") return `remote ${t.remote} is fixed`;
    if (t.dev !== undefined && t.dev !== 0 && t.dev !== c.uplink.index) {
      return `dev ${t.dev} instead of ${c.uplink.index}`;
    }
    // skein's tunnel inherits the inner TTL (0); one set by hand, e.g. 1, dies at the first router.
    if (t.ttl !== undefined && t.ttl !== 0) return `TTL ${t.ttl} instead of inherit`;
    return undefined;
  }

  /** Creates (or recreates) the tunnel device, then fixes MTU and up state in place. */
  ensureDevice(onRepair?: () => void): Link {
    const c = this.#ctx;
    return ensureTunnelDevice({
      ...(onRepair ? { onRepair } : {}),
      handle: c.handle,
      create: {
        kind: "ipip",
        name: c.deviceName,
        local: c.publicIP,
        dev: c.uplink.index,
        mtu: c.mtu,
        up: true,
      },
      mismatch: (link) => this.#mismatch(link),
      createError: (e) => {
        const why = isNetlinkError(e, "EOPNOTSUPP")
          ? "this kernel has no ipip support (load it with `modprobe ipip`, or use vxlan)"
          : (e as Error).message;
        return `Cannot create ipip device ${c.deviceName} (local ${c.publicIP}, dev ${c.uplink.name}): ${why}`;
      },
    });
  }

  /** Removes skein's other tunnel devices (`skein.1`), ensures the device and IPv4 forwarding. */
  setup(): SetupResult {
    const repaired: DriftKind[] = [];
    const removed = removeOtherTunnelDevices(this.#ctx.handle, this.#ctx.deviceName);
    for (let i = 0; i < removed.length; i++) repaired.push("device");
    const dev = this.ensureDevice(() => repaired.push("device"));
    if (ensureSysctl("net.ipv4.ip_forward", "1", this.#ctx.sysctl)) repaired.push("sysctl");
    return {
      backendData: {},
      mtu: this.#ctx.mtu,
      device: { name: dev.name, index: dev.index },
      repaired,
    };
  }

  /** Re-checks the device (recreating it when deleted), then reconciles the routes. */
  reconcile(leases: readonly Lease[], self: Lease): ReconcileReport {
    const c = this.#ctx;
    const started = performance.now();
    let dev: Link;
    try {
      dev = this.ensureDevice();
    } catch (e) {
      return failedReport([(e as Error).message], started);
    }
    try {
      const v = this.#view();
      const desired = ipipDesired(v.ctx, dev.index, leases, self, v.direct);
      const r = reconcileState(c.handle, desired);
      r.durationMs = performance.now() - started;
      return r;
    } catch (e) {
      if (!isNetlinkError(e)) throw e;
      return failedReport([`Cannot read the kernel state: ${e.message}`], started);
    }
  }

  /** What reconcile() would change (read-only; the device's creation is planned when missing). */
  plan(leases: readonly Lease[], self: Lease): Plan {
    const c = this.#ctx;
    return planWithDevice(
      c.handle,
      { name: c.deviceName, kind: "ipip" },
      (dev) => {
        const v = this.#view();
        return ipipDesired(v.ctx, dev, leases, self, v.direct);
      },
    );
  }
}
