/**
 * vxlan: one VXLAN device (default "skein.1", VNI 1, UDP 8472, learning off, local = this
 * node's public IP, dev = uplink, MTU = uplink − 50, or − 70 over an IPv6 underlay) carrying
 * both IPv4 and IPv6 pod subnets, with a VTEP MAC that stays the same across restarts
 * (vtep_mac.ts). The device holds `<own subnet>.0/32` (and `<own subnet6>::/128`), like flannel.
 * Per remote node, in this order (removed in reverse):
 *
 * ```
 * ip neigh replace <subnet>.0 lladdr <VtepMAC> dev skein.1 nud permanent
 * bridge fdb replace <VtepMAC> dev skein.1 dst <node IP> self permanent
 * ip route replace <subnet> via <subnet>.0 dev skein.1 onlink proto 100
 * ```
 *
 * With `backend.directRouting: true` (flannel's DirectRouting) a node whose IP is on a network
 * connected to the uplink gets only `ip route replace <subnet> via <node IP> dev <uplink> proto
 * 100` (host-gw); the tunnel carries the rest (direct_routing.ts).
 *
 * @module
 */
import { familyBits } from "../net/cidr.ts";
import { cidrInfo, macText } from "./_parse_cache.ts";
import { isNetlinkError } from "../net/errors.ts";
import type { Link } from "../net/types.ts";
import type { Lease } from "../store/types.ts";
import { ensureSysctl } from "../node/sysctl.ts";
import { type BackendContext, underlayOf } from "./_context.ts";
import { ensureDeviceAddrs, ensureTunnelDevice, removeOtherTunnelDevices } from "./_device.ts";
import { checkLeases, firstAddress, OnLink, type UplinkNet } from "./_lease.ts";
import { type DirectPeers, withDirectRouting } from "./direct_routing.ts";
import { failedReport, planWithDevice, reconcileState } from "./reconcile.ts";
import type { Plan } from "./plan.ts";
import type {
  Backend,
  DesiredState,
  DriftKind,
  NeighSpec,
  ReconcileReport,
  RouteSpec,
  SetupResult,
} from "./types.ts";
import { resolveVtepMac } from "./vtep_mac.ts";
import { vtepMacTextProblem } from "./_peer_addr.ts";
import type { Settings } from "../component/fields.ts";
import type { VXLAN_FIELDS } from "./registry.ts";

/**
 * The VTEP MAC a VXLAN lease publishes (`backendData.vtepMAC`, or flannel's `VtepMAC`), lower
 * case; undefined when missing, not a MAC, or one the kernel refuses in an FDB entry (all-zero,
 * multicast, broadcast: vtepMacProblem() says which). The backend and `skein diagnose` read it here.
 */
export function vtepMacOf(lease: Lease): string | undefined {
  const v = publishedMac(lease);
  const mac = typeof v === "string" ? macText(v) : undefined;
  return mac === undefined || vtepMacTextProblem(mac) ? undefined : mac;
}

/**
 * Why a VXLAN lease's VTEP MAC cannot be programmed ("published no valid VTEP MAC (backendData.vtepMAC)",
 * "published the VTEP MAC 00:00:00:00:00:00, the all-zero MAC, ..."), or undefined when it can.
 */
export function vtepMacProblem(lease: Lease): string | undefined {
  const v = publishedMac(lease);
  if (v === undefined) return "published no valid VTEP MAC (backendData.vtepMAC)";
  const mac = typeof v === "string" ? macText(v) : undefined;
  if (mac === undefined) return `published a VTEP MAC that is not a MAC: ${JSON.stringify(v)}`;
  const why = vtepMacTextProblem(mac);
  return why
    ? `published the VTEP MAC ${mac}, ${why}: the kernel takes no FDB entry for it`
    : undefined;
}

function publishedMac(lease: Lease): unknown {
  const d = lease.backendData ?? {};
  return d.vtepMAC ?? d.VtepMAC;
}

/**
 * The desired vxlan state for `leases`, for the device with index `dev` (pure apart from
 * `direct.onlink` and `ctx.uplinkNet`). With `direct` (directRouting), on-link peers get a host-gw
 * route instead. With `ctx.uplinkNet`, a peer at the uplink's network or broadcast address is
 * skipped (its VXLAN packets would go to the whole LAN).
 */
export function vxlanDesired(
  ctx: Pick<BackendContext, "publicIP" | "underlayFamily"> & UplinkNet,
  dev: number,
  leases: readonly Lease[],
  self: Lease,
  direct?: DirectPeers,
): DesiredState {
  if (direct) {
    const o = { ...direct, type: "vxlan", publicIP: ctx.publicIP };
    return withDirectRouting(o, leases, self, (rest) => vxlanDesired(ctx, dev, rest, self));
  }
  const checked = checkLeases(leases, self, {
    type: "vxlan",
    publicIP: ctx.publicIP,
    ...(ctx.uplinkNet ? { uplinkNet: ctx.uplinkNet } : {}),
  });
  const state: DesiredState = { entries: [], skipped: checked.skipped, ownedDevices: [dev] };
  for (const l of checked.leases) {
    const mac = vtepMacOf(l);
    if (!mac) {
      state.skipped.push({ subnet: l.subnet, reason: `node ${l.node} ${vtepMacProblem(l)}` });
      continue;
    }
    const remote = underlayOf(l, ctx.underlayFamily);
    if (!remote) {
      state.skipped.push({
        subnet: l.subnet,
        reason: `node ${l.node} has no IPv${ctx.underlayFamily} public IP for the VXLAN underlay`,
      });
      continue;
    }
    const neighs: NeighSpec[] = [];
    const routes: RouteSpec[] = [];
    for (const subnet of [l.subnet, l.subnet6]) {
      if (!subnet) continue;
      let vtep: string;
      try {
        vtep = firstAddress(subnet);
      } catch (e) {
        state.skipped.push({ subnet, reason: (e as Error).message });
        continue;
      }
      neighs.push({ dev, ip: vtep, mac });
      routes.push({ dst: subnet, gateway: vtep, dev, onlink: true });
    }
    state.entries.push({
      subnet: l.subnet,
      node: l.node,
      neighs,
      fdbs: [{ dev, mac, dst: remote }],
      routes,
    });
  }
  return state;
}

/** `<network address>/32` (or /128) of a subnet: the address flannel puts on its VXLAN device. */
export function vtepAddress(subnet: string): string {
  const c = cidrInfo(subnet);
  if (!c) throw new TypeError(`Cannot use subnet "${subnet}": not a CIDR prefix`);
  return `${c.network}/${familyBits(c.family)}`;
}

/** The vxlan backend (see the module doc). */
export class VxlanBackend implements Backend {
  readonly type = "vxlan" as const;
  #ctx: BackendContext;
  #vni: number;
  #port: number;
  #mac: string | undefined;
  #directRouting: boolean;

  constructor(ctx: BackendContext) {
    this.#ctx = ctx;
    const s = ctx.settings as Settings<typeof VXLAN_FIELDS>;
    this.#vni = s.vni;
    this.#port = s.port;
    this.#directRouting = s.directRouting === true;
  }

  /**
   * The context for vxlanDesired() with the uplink's on-link test read now (one address dump),
   * and with directRouting the direct peers.
   */
  #view(): { ctx: BackendContext & UplinkNet; direct?: DirectPeers } {
    const u = this.#ctx.uplink.index;
    const onlink = new OnLink(this.#ctx.handle, u);
    const ctx = { ...this.#ctx, uplinkNet: onlink };
    return this.#directRouting ? { ctx, direct: { uplink: u, onlink } } : { ctx };
  }

  /** Why an existing link cannot be reused as skein's VXLAN device; undefined when it can. */
  #mismatch(l: Link): string | undefined {
    const c = this.#ctx;
    if (l.kind !== "vxlan") return `it is of kind ${l.kind ?? "none"}`;
    const v = l.vxlan;
    if (!v) return undefined;
    if (v.vni !== this.#vni) return `VNI ${v.vni} instead of ${this.#vni}`;
    if (v.local !== undefined && v.local !== c.publicIP) {
      return `local ${v.local} instead of ${c.publicIP}`;
    }
    if (v.dev !== undefined && v.dev !== c.uplink.index) {
      return `dev ${v.dev} instead of ${c.uplink.index}`;
    }
    if (v.port !== undefined && v.port !== this.#port) {
      return `port ${v.port} instead of ${this.#port}`;
    }
    if (v.learning === true) return "learning is on";
    // skein sets no TTL (the outer packets get the host's 64); one set by hand, e.g. 1, dies at
    // the first router between the nodes.
    if (v.ttl !== undefined && v.ttl !== 0) return `TTL ${v.ttl} instead of none`;
    return undefined;
  }

  /**
   * Creates the device if missing (or recreates it if its VNI/local/dev/port/learning/TTL are wrong,
   * which the kernel cannot change in place), then fixes MTU, MAC and up state in place.
   * Equivalent to `ip link add skein.1 type vxlan id 1 local IP dev UPLINK dstport 8472
   * nolearning; ip link set skein.1 address MAC mtu M up`.
   */
  ensureDevice(onRepair?: () => void): Link {
    const c = this.#ctx;
    const h = c.handle;
    if (this.#mac === undefined) {
      const link = h.linkFind(c.deviceName);
      this.#mac = resolveVtepMac({
        stateDir: c.stateDir,
        device: c.deviceName,
        existing: link?.kind === "vxlan" ? link.mac : undefined,
        seed: `${c.node}|${c.publicIP}|${this.#vni}`,
      });
    }
    return ensureTunnelDevice({
      handle: h,
      create: {
        kind: "vxlan",
        name: c.deviceName,
        vni: this.#vni,
        local: c.publicIP,
        dev: c.uplink.index,
        port: this.#port,
        learning: false,
        mtu: c.mtu,
        mac: this.#mac,
        up: true,
      },
      mismatch: (l) => this.#mismatch(l),
      ...(onRepair ? { onRepair } : {}),
      createError: (e) =>
        `Cannot create VXLAN device ${c.deviceName} (VNI ${this.#vni}, port ${this.#port}, local ${c.publicIP}, dev ${c.uplink.name}): ${
          (e as Error).message
        }`,
    });
  }

  /**
   * Removes skein's other tunnel devices (`skein-ipip`), ensures the device and IPv4 forwarding;
   * publishes `{ vtepMAC }`.
   */
  setup(): SetupResult {
    const repaired: DriftKind[] = [];
    const removed = removeOtherTunnelDevices(this.#ctx.handle, this.#ctx.deviceName);
    for (let i = 0; i < removed.length; i++) repaired.push("device");
    const dev = this.ensureDevice(() => repaired.push("device"));
    if (ensureSysctl("net.ipv4.ip_forward", "1", this.#ctx.sysctl)) repaired.push("sysctl");
    return {
      repaired,
      backendData: { vtepMAC: this.#mac },
      mtu: this.#ctx.mtu,
      device: { name: dev.name, index: dev.index },
    };
  }

  /**
   * Re-checks the device (recreating it when deleted), sets its addresses from `self`, then
   * reconciles neighbours, FDB entries and routes for every remote lease.
   */
  reconcile(leases: readonly Lease[], self: Lease): ReconcileReport {
    const c = this.#ctx;
    const started = performance.now();
    let dev: Link;
    try {
      dev = this.ensureDevice();
    } catch (e) {
      return failedReport([(e as Error).message], started);
    }
    const errors: string[] = [];
    if (self.subnet6) {
      try {
        ensureSysctl("net.ipv6.conf.all.forwarding", "1", c.sysctl);
      } catch (e) {
        errors.push(`Cannot enable IPv6 forwarding: ${(e as Error).message}`);
      }
    }
    const wanted: string[] = [];
    for (const s of [self.subnet, self.subnet6]) {
      if (!s) continue;
      try {
        wanted.push(vtepAddress(s));
      } catch (e) {
        errors.push(`Cannot use this node's subnet ${s}: ${(e as Error).message}`);
      }
    }
    const addrs = ensureDeviceAddrs(c.handle, dev.index, wanted);
    let desired: DesiredState = { entries: [], skipped: [], ownedDevices: [dev.index] };
    let report: ReconcileReport;
    try {
      const v = this.#view();
      desired = vxlanDesired(v.ctx, dev.index, leases, self, v.direct);
      report = reconcileState(c.handle, desired, {
        extra: {
          ...addrs,
          errors: [...errors, ...addrs.errors],
          drift: { addr: addrs.added + addrs.removed + addrs.errors.length },
          driftLeft: { addr: addrs.errors.length },
        },
      });
    } catch (e) {
      if (!isNetlinkError(e)) throw e;
      report = {
        added: addrs.added,
        removed: addrs.removed,
        unchanged: addrs.unchanged,
        skipped: desired.skipped,
        errors: [...errors, ...addrs.errors, `Cannot read the kernel state: ${e.message}`],
        routes: 0,
        durationMs: 0,
      };
    }
    report.durationMs = performance.now() - started;
    return report;
  }

  /**
   * What reconcile() would change (read-only; the device's creation is planned when it is
   * missing). The device's own addresses are not part of the plan.
   */
  plan(leases: readonly Lease[], self: Lease): Plan {
    const c = this.#ctx;
    return planWithDevice(
      c.handle,
      { name: c.deviceName, kind: "vxlan" },
      (dev) => {
        const v = this.#view();
        return vxlanDesired(v.ctx, dev, leases, self, v.direct);
      },
    );
  }
}
