/**
 * The contract between the daemon and the dataplane backends (host-gw, vxlan, ipip), and the
 * desired-state shapes the backends hand to the one shared reconciler (reconcile.ts).
 *
 * @module
 */
import type { SysctlGetter, SysctlSetter } from "../node/sysctl.ts";
import type { NetHandle, NetnsRef } from "../net/types.ts";
import type { Lease } from "../store/types.ts";
import type { Plan } from "./plan.ts";
import type { BACKENDS } from "./registry.ts";
import type { Lifecycle } from "../component/lifecycle.ts";

/** The backend kinds skein implements: the names in the backend table (registry.ts). */
export type BackendType = keyof typeof BACKENDS;

/** The node's underlay interface (the one carrying `publicIP`). */
export interface Uplink {
  /** Interface name, e.g. "eth0". */
  name: string;
  /** Interface index in the node's namespace. */
  index: number;
  /** Its MTU; the tunnel MTU is derived from it. */
  mtu: number;
}

/** Sysctl read/write in the backend's namespace (node/sysctl.ts); injected by unit tests. */
export type { SysctlGetter, SysctlSetter };

/** What createBackend() needs. */
export interface BackendOptions {
  /** A name from the backend table (registry.ts): "host-gw", "vxlan" or "ipip". */
  type: BackendType;
  /**
   * The backend's own fields (vxlan: `{ vni, port }`), checked against its table entry; absent
   * ones get the entry's defaults (vxlan: VNI 1, port 8472, flannel's).
   */
  settings?: Readonly<Record<string, unknown>>;
  /**
   * Override of the overlay/pod MTU. Must not exceed the uplink MTU minus the backend's overhead
   * (50 vxlan/v4 underlay, 70 vxlan/v6 underlay, 20 ipip, 0 host-gw): a larger value would hide an
   * MTU black hole, so createBackend() refuses it.
   */
  mtu?: number;
  /** Netlink handle bound to the node's namespace. */
  handle: NetHandle;
  /** The same namespace, for sysctl (and nft in ensureMasquerade()). Undefined: this process's. */
  netns?: NetnsRef;
  /** The underlay interface. */
  uplink: Uplink;
  /** The node's underlay address (the lease's publicIP). Its family is the VXLAN underlay family. */
  publicIP: string;
  /** The node's IPv6 underlay address for dual-stack host-gw. */
  publicIP6?: string;
  /** This node's name (used in messages and to derive a stable VTEP MAC without stateDir). */
  node: string;
  /** Tunnel device name: default "skein.1" for vxlan (flannel: flannel.1), "skein-ipip" for ipip. */
  deviceName?: string;
  /** Directory where the VXLAN device MAC is persisted, so it stays stable across restarts. */
  stateDir?: string;
  /** Sysctl access; default: net/mod.ts sysctlGet/sysctlSet in `netns`. For unit tests. */
  sysctl?: { get: SysctlGetter; set: SysctlSetter };
}

/** What setup() returns. */
export interface SetupResult {
  /** What to publish in this node's lease (vxlan: `{ vtepMAC }`). */
  backendData: Record<string, unknown>;
  /** The MTU pods on this node must use. */
  mtu: number;
  /** skein's tunnel device as setup() left it (vxlan, ipip); host-gw has none. */
  device?: { name: string; index: number };
  /**
   * What this call found wrong and changed: "device" (created, recreated, brought up, MTU/MAC
   * fixed, or another backend's device removed), "sysctl" (forwarding turned back on).
   */
  repaired?: DriftKind[];
}

/** Kinds of kernel objects that can drift from the plan (metric label `kind`). */
export type DriftKind = "route" | "neigh" | "fdb" | "addr" | "device" | "sysctl";

/** Counts per drift kind. */
export type DriftCounts = Partial<Record<DriftKind, number>>;

/** One lease the backend did not program, and why. */
export interface Skipped {
  /** The lease's subnet (or IPv6 subnet). */
  subnet: string;
  /** Why, in words an operator can act on. */
  reason: string;
}

/** The outcome of one reconcile() call. */
export interface ReconcileReport {
  /** Kernel entries (routes, neighbours, FDB entries, device addresses) created or corrected. */
  added: number;
  /** Stale kernel entries removed (deleted or expired nodes, changed leases). */
  removed: number;
  /** Desired entries that were already right and left untouched. */
  unchanged: number;
  /** Leases that cannot be programmed (not on-link, no VTEP MAC, conflicting route, ...). */
  skipped: Skipped[];
  /** Kernel failures, one message per failed entry; the other leases were still applied. */
  errors: string[];
  /** skein-owned routes in the kernel that match the desired state after this run. */
  routes: number;
  /** Wall time of the whole reconcile (device check, dumps, changes). */
  durationMs: number;
  /** Kernel objects the snapshot found different from the plan (planned changes), by kind. */
  drift?: DriftCounts;
  /** Of those, the ones this run failed to change (still different), by kind. */
  driftLeft?: DriftCounts;
}

/**
 * A node's dataplane: local devices plus routes to every other node's pod subnet. The daemon
 * drives it: setup(), then start() if it has one, reconcile() on every change, close() on stop
 * (the shared Lifecycle, component/lifecycle.ts).
 */
export interface Backend extends Lifecycle {
  /** Which backend this is. */
  readonly type: BackendType;
  /**
   * Creates or repairs the local devices and sysctls; returns what to publish in the lease and
   * the pod MTU. Idempotent and cheap when all is right (a link lookup and a sysctl read).
   */
  setup(): SetupResult;
  /**
   * Programs the full desired state for `leases` (entries equal to `self` by subnet are ignored)
   * and removes what skein owns in the kernel but no lease needs. Never throws for one bad lease:
   * see the report's `skipped` and `errors`.
   */
  reconcile(leases: readonly Lease[], self: Lease, net?: ClusterNetwork): ReconcileReport;
  /**
   * What reconcile() would change now, changing nothing (no device, sysctl, file or kernel
   * entry): the desired state for `leases` against the kernel's, as a plan (plan.ts). A missing
   * tunnel device is a planned link operation (setup() creates it). For `skein daemon --dry-run`
   * and `skein diagnose`.
   */
  plan(leases: readonly Lease[], self: Lease, net?: ClusterNetwork): Plan;
  /** Metrics the backend keeps on its own (udp: its worker's packet and drop counters). */
  metrics?(): BackendMetric[];
  /** What the backend's own machinery is doing, for `/debug/state` (udp: socket, counters). */
  debugState?(): Record<string, unknown>;
  /**
   * A config reload (the daemon's SIGHUP) with the backend's new own settings (as set, parsed
   * by the config): applies what can change live (bgp: `peers` and `nodeToNodeMesh`; a peer
   * whose only change is its import/export rule keeps its session) for the next reconcile, and
   * returns the fields that changed but need a restart.
   */
  reload?(settings: Readonly<Record<string, unknown>>): string[];
}

/** One metric a backend exports through the daemon's `/metrics`. */
export interface BackendMetric {
  /** Prometheus name, e.g. "skein_udp_dropped_total". */
  name: string;
  help: string;
  type: "counter" | "gauge";
  /** One value per label set. */
  samples: { labels?: Record<string, string>; value: number }[];
}

/** The cluster network, for backends that route all of it at once (udp); the others ignore it. */
export interface ClusterNetwork {
  /** IPv4 cluster network, e.g. "10.244.0.0/16". */
  network: string;
}

/** A route a lease needs (always with a gateway: that is how backend routes are told apart). */
export interface RouteSpec {
  /** The remote pod subnet. */
  dst: string;
  /**
   * Next hop: the node's IP (host-gw, ipip) or its VTEP address `<subnet>.0` (vxlan). Absent
   * only for a route into a point-to-point device (udp's TUN: the cluster network).
   */
  gateway?: string;
  /** Output link index. */
  dev: number;
  /** RTNH_F_ONLINK: the gateway is reachable on `dev` without a connected prefix (tunnels). */
  onlink?: boolean;
  /** RTAX_MTU, if the route must carry one. */
  mtu?: number;
}

/** A permanent neighbour entry a lease needs (`ip neigh replace IP lladdr MAC dev D nud permanent`). */
export interface NeighSpec {
  /** Link index (skein's vxlan device). */
  dev: number;
  /** The remote VTEP address `<subnet>.0`. */
  ip: string;
  /** The remote VTEP MAC. */
  mac: string;
}

/** A permanent FDB entry a lease needs (`bridge fdb replace MAC dev D dst IP self permanent`). */
export interface FdbSpec {
  /** Link index (skein's vxlan device). */
  dev: number;
  /** The remote VTEP MAC. */
  mac: string;
  /** The remote node's underlay IP. */
  dst: string;
}

/** Everything one remote lease needs, applied neighbours → FDB → routes (and removed in reverse). */
export interface LeaseEntries {
  /** The lease's subnet (for messages). */
  subnet: string;
  /** The lease's node (for messages). */
  node: string;
  /** Applied first. */
  neighs: NeighSpec[];
  /** Applied second. */
  fdbs: FdbSpec[];
  /** Applied last, only when the neighbours and FDB entries succeeded. */
  routes: RouteSpec[];
}

/** The full desired state computed by a backend for one reconcile. */
export interface DesiredState {
  /** One per programmable lease. */
  entries: LeaseEntries[];
  /** Leases the backend refused, with the reason. */
  skipped: Skipped[];
  /**
   * Devices whose permanent neighbours and FDB entries skein owns (the vxlan device): entries on
   * them that no lease needs are removed. Empty for host-gw and ipip.
   */
  ownedDevices: number[];
  /**
   * The route protocol of these routes (default SKEIN_ROUTE_PROTOCOL, 100): the reconciler owns,
   * replaces and prunes only routes of this protocol. The BGP backend's learned routes use
   * RTPROT_BGP (186), so `ip route show proto bgp` lists them.
   */
  protocol?: number;
  /**
   * skein's links this state needs (the tunnel device), when the caller wants plan() to say that
   * one is missing (a dry run before setup()). The reconcile path leaves it out: setup() has
   * already made the device.
   */
  devices?: DeviceSpec[];
}

/** A device the desired state needs (DesiredState.devices). */
export interface DeviceSpec {
  /** "skein.1". */
  name: string;
  /** Link kind: "vxlan", "ipip". */
  kind: string;
}
