/**
 * The one table of backends: name → factory, config fields, capabilities. createBackend(), the
 * daemon's config parsing and `--help`, and the lab's `--backend` choices all read this table;
 * adding a backend is a new file plus one entry here (see README.md, "How to add a backend").
 *
 * @example
 * ```ts
 * import { BACKENDS, backendNames } from "./registry.ts";
 * backendNames(); // ["host-gw", "vxlan", "ipip"]
 * BACKENDS.vxlan.capabilities.overhead[4]; // 50
 * ```
 *
 * @module
 */
import { boolField, type DefaultedField, type FieldTable, intField } from "../component/fields.ts";
import { ENCAP_OVERHEAD } from "../node/mtu.ts";
import type { NetHandle } from "../net/types.ts";
import type { Lease } from "../store/types.ts";
import type { BackendContext } from "./_context.ts";
import { OnLink, type UplinkNet } from "./_lease.ts";
import type { DirectPeers } from "./direct_routing.ts";
import { HostGwBackend, hostGwDesired } from "./hostgw.ts";
import { IpipBackend, ipipDesired } from "./ipip.ts";
import type { Backend, DesiredState, Uplink } from "./types.ts";
import { BGP_FIELDS, BgpBackend, bgpExpectedDesired } from "./bgp/mod.ts";
import { VxlanBackend, vxlanDesired } from "./vxlan.ts";
import { UdpBackend, udpDesired } from "./udp/mod.ts";

/** What a backend can do and needs, for validation, MTU and the lab. */
export interface BackendCapabilities {
  /**
   * Encapsulation bytes per underlay family (0: plain routing). A family without an entry is an
   * underlay the backend cannot use (ipip: IPv4 only).
   */
  readonly overhead: Readonly<Partial<Record<4 | 6, number>>>;
  /** Carries IPv6 pod subnets (dual-stack); without it they are skipped with the reason. */
  readonly ipv6Pods: boolean;
  /** Every peer must be on a network connected to the uplink (no tunnel: host-gw). */
  readonly needsOnLinkPeers: boolean;
  /** The tunnel device it owns (default name and link kind); undefined: routes on the uplink. */
  readonly device?: { readonly name: string; readonly kind: string };
  /** A kernel module the backend needs that kernels may lack; the lab offers only backends without. */
  readonly kernelModule?: string;
}

/**
 * What a backend's read-only desired-state builder gets (backends/desired.ts: `skein diagnose`,
 * `--dry-run`, `/debug/state`), without a backend instance.
 */
export interface DesiredBuild {
  /** A handle in the node's namespace; only read (host-gw asks which prefixes are on-link). */
  handle: Pick<NetHandle, "linkFind" | "addrList" | "routeList">;
  uplink: Uplink;
  /** This node's public IP; its family is the underlay family. */
  publicIP: string;
  underlayFamily: 4 | 6;
  /** The backend's device index (backends with `capabilities.device`; found by the caller). */
  device?: number;
  /** The cluster IPv4 network, when known (udp routes all of it into its device). */
  network?: string;
  /** The backend's own fields as configured (vxlan: `{ directRouting }`); absent: defaults. */
  settings?: Readonly<Record<string, unknown>>;
}

/**
 * `backend.directRouting` (vxlan, ipip; flannel's DirectRouting): on-link peers get a host-gw
 * route, the others the tunnel (backends/direct_routing.ts).
 */
export const DIRECT_ROUTING_FIELD: DefaultedField<boolean> = boolField({
  default: false,
  help: "a plain host-gw route to peers on the uplink's networks, the tunnel only across routers",
});

/** The on-link test for a read-only build when `backend.directRouting` is set; else undefined. */
function directOf(b: DesiredBuild): DirectPeers | undefined {
  if (b.settings?.directRouting !== true) return undefined;
  return { uplink: b.uplink.index, onlink: new OnLink(b.handle as NetHandle, b.uplink.index) };
}

/** `b` with the uplink's prefixes (a tunnel endpoint at their network or broadcast is skipped). */
function withUplinkNet(b: DesiredBuild): DesiredBuild & UplinkNet {
  return { ...b, uplinkNet: new OnLink(b.handle as NetHandle, b.uplink.index) };
}

/** One entry of the backend table. */
export interface BackendDefinition {
  /** One line for `--help`. */
  readonly summary: string;
  /**
   * The backend's own config fields (`backend.<field>` in the daemon config), beyond `type` and
   * `mtu`. Parsed values (defaults filled) reach the backend as `ctx.settings`.
   */
  readonly fields: FieldTable;
  readonly capabilities: BackendCapabilities;
  /** Builds the backend from validated options; touches nothing in the kernel. */
  create(ctx: BackendContext): Backend;
  /** The desired state for `leases` (others than `self`), read-only, as reconcile() builds it. */
  desired(b: DesiredBuild, leases: readonly Lease[], self: Lease): DesiredState;
}

/** VXLAN's own fields (flannel's defaults: VNI 1, UDP 8472). */
export const VXLAN_FIELDS: {
  readonly vni: DefaultedField<number>;
  readonly port: DefaultedField<number>;
  readonly directRouting: DefaultedField<boolean>;
} = {
  vni: intField({ min: 0, max: 16777215, default: 1, help: "VXLAN network identifier" }),
  port: intField({
    min: 1,
    max: 65535,
    default: 8472,
    help: "VXLAN UDP port (flannel's; the IANA port is 4789)",
  }),
  directRouting: DIRECT_ROUTING_FIELD,
} as const;

/** ipip's own fields. */
export const IPIP_FIELDS: { readonly directRouting: DefaultedField<boolean> } = {
  directRouting: DIRECT_ROUTING_FIELD,
} as const;

/** udp's own field (flannel's default port). */
export const UDP_FIELDS: { readonly port: DefaultedField<number> } = {
  port: intField({ min: 1, max: 65535, default: 8285, help: "UDP port (flannel's udp backend)" }),
} as const;

/** Every backend, in the order `--help` lists them. */
export const BACKENDS = {
  "host-gw": {
    summary: "a route per node via its IP on the uplink; every node on one L2 network",
    fields: {},
    capabilities: { overhead: ENCAP_OVERHEAD.none, ipv6Pods: true, needsOnLinkPeers: true },
    create: (ctx: BackendContext): Backend => new HostGwBackend(ctx),
    desired: (b: DesiredBuild, leases: readonly Lease[], self: Lease): DesiredState =>
      hostGwDesired(b, leases, self, new OnLink(b.handle as NetHandle, b.uplink.index)),
  },
  vxlan: {
    summary: "VXLAN overlay (device skein.1, flannel's wire format)",
    fields: VXLAN_FIELDS,
    capabilities: {
      overhead: ENCAP_OVERHEAD.vxlan,
      ipv6Pods: true,
      needsOnLinkPeers: false,
      device: { name: "skein.1", kind: "vxlan" },
    },
    create: (ctx: BackendContext): Backend => new VxlanBackend(ctx),
    desired: (b: DesiredBuild, leases: readonly Lease[], self: Lease): DesiredState =>
      vxlanDesired(withUplinkNet(b), b.device!, leases, self, directOf(b)),
  },
  ipip: {
    summary: "IP-in-IP tunnel (device skein-ipip), IPv4 only",
    fields: IPIP_FIELDS,
    capabilities: {
      overhead: ENCAP_OVERHEAD.ipip,
      ipv6Pods: false,
      needsOnLinkPeers: false,
      device: { name: "skein-ipip", kind: "ipip" },
      kernelModule: "ipip",
    },
    create: (ctx: BackendContext): Backend => new IpipBackend(ctx),
    desired: (b: DesiredBuild, leases: readonly Lease[], self: Lease): DesiredState =>
      ipipDesired(withUplinkNet(b), b.device!, leases, self, directOf(b)),
  },
  udp: {
    summary: "userspace UDP encapsulation through a TUN device (skein-udp), flannel's udp format",
    fields: UDP_FIELDS,
    capabilities: {
      overhead: { 4: ENCAP_OVERHEAD.udp[4] },
      ipv6Pods: false,
      needsOnLinkPeers: false,
      device: { name: "skein-udp", kind: "tun" },
    },
    create: (ctx: BackendContext): Backend => new UdpBackend(ctx),
    desired: (b: DesiredBuild, leases: readonly Lease[], self: Lease): DesiredState =>
      udpDesired(b, b.device!, leases, self, {
        port: typeof b.settings?.port === "number" ? b.settings.port : UDP_FIELDS.port.default,
        ...(b.network ? { network: b.network } : {}),
      }),
  },
  bgp: {
    summary:
      "BGP (skein's own speaker): node-to-node mesh, route reflectors, ToR peers; routes proto 186",
    fields: BGP_FIELDS,
    capabilities: { overhead: ENCAP_OVERHEAD.none, ipv6Pods: true, needsOnLinkPeers: false },
    create: (ctx: BackendContext): Backend => new BgpBackend(ctx),
    desired: (b: DesiredBuild, leases: readonly Lease[], self: Lease): DesiredState =>
      bgpExpectedDesired(b, leases, self),
  },
} as const satisfies Readonly<Record<string, BackendDefinition>>;

/** The default of a backend's `port` field (vxlan 8472, udp 8285), if it has one. */
export function defaultPortOf(name: string): number | undefined {
  const f = (backendDefinition(name)?.fields as Record<string, { default?: unknown }> | undefined)
    ?.port;
  return typeof f?.default === "number" ? f.default : undefined;
}

/** The backend names, in table order. */
export function backendNames(): (keyof typeof BACKENDS)[] {
  return Object.keys(BACKENDS) as (keyof typeof BACKENDS)[];
}

/** The entry for `name`, or undefined for an unknown name. */
export function backendDefinition(name: string): BackendDefinition | undefined {
  return Object.hasOwn(BACKENDS, name) ? BACKENDS[name as keyof typeof BACKENDS] : undefined;
}
