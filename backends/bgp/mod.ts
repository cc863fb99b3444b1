/**
 * The bgp backend (issue 10, Calico's model with skein's own speaker): pod subnets are
 * distributed with BGP — an iBGP mesh between nodes found in the datastore's leases, route
 * reflectors, eBGP to top-of-rack routers — and learned routes reach the kernel through the
 * shared reconciler tagged RTPROT_BGP (186: `ip route show proto bgp`), pruned when withdrawn.
 * Encapsulation reuses the existing backends' devices: `none` (host-gw's setup), `ipip`
 * (skein-ipip) or `vxlan` (skein.1); `crossSubnet` tunnels only to nodes off this node's subnet.
 *
 * Every peer has an explicit rule (RFC 8212: nothing is accepted from or announced to an eBGP
 * peer without one): `peers[].import` / `export` (all, none, or CIDRs); mesh and iBGP peers
 * default to skein's rule: import only prefixes outside this node's subnets, export only this
 * node's pod subnets (and reflected routes as a route reflector).
 *
 * @module
 */

import type { LifecycleHost } from "../../component/lifecycle.ts";
import type { Settings } from "../../component/fields.ts";
import { canonicalCidr } from "../../net/cidr.ts";
import { isNetlinkError } from "../../net/errors.ts";
import { ENCAP_OVERHEAD } from "../../node/mtu.ts";
import { type Route, RTPROT_BGP } from "../../net/types.ts";
import type { Lease } from "../../store/types.ts";
import { BackendConfigError, type BackendContext, BackendSetupError } from "../_context.ts";
import { parseFields } from "../../component/section.ts";
import { ensureDeviceAddrs } from "../_device.ts";
import { checkLeases, firstAddress, OnLink } from "../_lease.ts";
import { HostGwBackend } from "../hostgw.ts";
import { IpipBackend } from "../ipip.ts";
import type { Plan } from "../plan.ts";
import { failedReport, planState, reconcileState } from "../reconcile.ts";
import type { DesiredBuild } from "../registry.ts";
import type {
  Backend,
  BackendMetric,
  DesiredState,
  ReconcileReport,
  RouteSpec,
  SetupResult,
} from "../types.ts";
import { VxlanBackend } from "../vxlan.ts";
import { BGP_FIELDS, configPeer } from "./config.ts";
import { bgpDesired, type BgpRoute } from "./desired.ts";
import { meshDials } from "./fsm.ts";
import { type PeerSpec, Speaker } from "./speaker.ts";

export { BGP_FIELDS } from "./config.ts";

type BgpSettings = Settings<typeof BGP_FIELDS>;

const TUNNEL = { ipip: "skein-ipip", vxlan: "skein.1" } as const;

/** The routes a full mesh will learn: every other bgp lease's subnets via its public IP. */
export function expectedMeshRoutes(
  publicIP: string,
  leases: readonly Lease[],
  self: Lease,
): BgpRoute[] {
  const checked = checkLeases(leases, self, { type: "bgp", publicIP });
  return checked.leases.flatMap((l) => [
    { prefix: l.subnet, family: 4 as const, nextHop: l.publicIP },
    ...(l.subnet6 && l.publicIP6
      ? [{ prefix: l.subnet6, family: 6 as const, nextHop: l.publicIP6 }]
      : []),
  ]);
}

/**
 * The registry's read-only builder (diagnose, dry run): the mesh's expected routes, through the
 * tunnel of `settings.encapsulation` (its device looked up by name) as `crossSubnet` says.
 */
export function bgpExpectedDesired(
  b: DesiredBuild,
  leases: readonly Lease[],
  self: Lease,
): DesiredState {
  const set = b.settings ?? {};
  const enc = set.encapsulation === "ipip" || set.encapsulation === "vxlan"
    ? set.encapsulation
    : "none";
  const device = enc === "none" ? undefined : b.handle.linkFind(TUNNEL[enc])?.index;
  return bgpDesired({
    publicIP: b.publicIP,
    underlayFamily: b.underlayFamily,
    // Without its tunnel device nothing can be routed into it: the expectation is then the
    // uplink's routes, and the route checks name what the kernel has instead.
    encapsulation: device === undefined ? "none" : enc,
    crossSubnet: set.crossSubnet === true,
    uplink: b.uplink.index,
    ...(device !== undefined ? { device } : {}),
    onLink: (ip) => new OnLink(b.handle as never, b.uplink.index).has(ip),
    routes: expectedMeshRoutes(b.publicIP, leases, self),
    leases,
    self,
  });
}

/** The bgp backend (see the module doc). */
export class BgpBackend implements Backend {
  readonly type = "bgp" as const;
  #settings: BgpSettings;
  #ctx: BackendContext;
  #inner: Backend & { ensureDevice?: () => { index: number } };
  #speaker?: Speaker;
  #device?: number;
  /** The routes of the last reconcile's desired state (for /debug/state and diagnose). */
  #lastDesired: RouteSpec[] = [];

  constructor(ctx: BackendContext) {
    this.#ctx = ctx;
    this.#settings = ctx.settings as BgpSettings;
    const enc = this.settings.encapsulation;
    const overhead = enc === "none" ? 0 : ENCAP_OVERHEAD[enc][ctx.underlayFamily as 4] ?? 0;
    const inner: BackendContext = {
      ...ctx,
      mtu: ctx.mtu - overhead,
      deviceName: enc === "none" ? ctx.deviceName : TUNNEL[enc],
      settings: enc === "vxlan" ? { vni: 1, port: 8472 } : {},
    };
    if (enc === "ipip" && ctx.underlayFamily !== 4) {
      throw new BackendSetupError("encapsulation: ipip needs an IPv4 underlay");
    }
    this.#inner = enc === "ipip"
      ? new IpipBackend(inner)
      : enc === "vxlan"
      ? new VxlanBackend(inner)
      : new HostGwBackend(inner);
  }

  /** The settings in effect (defaults filled). */
  get settings(): BgpSettings {
    return this.#settings;
  }

  /**
   * Config reload: `peers` and `nodeToNodeMesh` take effect at the next reconcile (a peer whose
   * rules alone changed keeps its session: ROUTE-REFRESH, see Speaker.setPeers); returns the
   * other fields that changed (they need a restart).
   */
  reload(settings: Readonly<Record<string, unknown>>): string[] {
    const next = parseFields({ ...settings }, BGP_FIELDS, (key, problem) => {
      throw new BackendConfigError(key, problem);
    });
    const live = ["peers", "nodeToNodeMesh"];
    const cur = this.#settings as Record<string, unknown>;
    const restart = Object.keys(BGP_FIELDS).filter((k) =>
      !live.includes(k) &&
      JSON.stringify((next as Record<string, unknown>)[k]) !== JSON.stringify(cur[k])
    );
    this.#settings = { ...this.#settings, peers: next.peers, nodeToNodeMesh: next.nodeToNodeMesh };
    return restart;
  }

  /** The speaker (undefined before start()). */
  get speaker(): Speaker | undefined {
    return this.#speaker;
  }

  /** Sets up the encapsulation's device (or host-gw's forwarding) and returns the pod MTU. */
  setup(): SetupResult {
    const r = this.#inner.setup();
    this.#device = r.device?.index;
    return r;
  }

  /** Opens the BGP listener in the node's namespace and starts the configured peers. */
  start(host: LifecycleHost): Promise<void> {
    const c = this.#ctx, s = this.settings;
    if (c.underlayFamily !== 4) {
      return Promise.reject(
        new BackendSetupError("the bgp backend needs an IPv4 public IP (its BGP identifier)"),
      );
    }
    this.#speaker = new Speaker({
      netns: c.netns,
      localAs: s.asNumber,
      routerId: c.publicIP,
      port: s.port,
      holdTime: s.holdTime,
      ...(s.gracefulRestart.restartTime > 0 ? { gracefulRestart: s.gracefulRestart } : {}),
      ...(s.routeReflector ? { clusterId: s.routeReflector.clusterId } : {}),
      families: c.publicIP6 ? [1, 2] : [1],
      ...(c.publicIP6 ? { nextHop6: c.publicIP6 } : {}),
      onChange: (reason) => host.requestReconcile(`bgp: ${reason}`),
      log: (line, level = "info") =>
        host.log ? host.log(level, line) : console.error(`${new Date().toISOString()} ${line}`),
    });
    this.#speaker.setPeers(this.#configPeers());
    try {
      this.#speaker.start();
    } catch (e) {
      this.#speaker.close();
      return Promise.reject(
        new BackendSetupError(`Cannot listen for BGP on port ${s.port}: ${(e as Error).message}`, {
          cause: e,
        }),
      );
    }
    host.signal.addEventListener("abort", () => this.#speaker?.close(), { once: true });
    return Promise.resolve();
  }

  #configPeers(): PeerSpec[] {
    return this.settings.peers.map((p, i) => configPeer(p, i, this.settings.asNumber));
  }

  #peers(leases: readonly Lease[], self: Lease): PeerSpec[] {
    const out = this.#configPeers();
    if (!this.settings.nodeToNodeMesh) return out;
    const have = new Set(out.map((p) => p.address));
    for (
      const l of checkLeases(leases, self, { type: "bgp", publicIP: this.#ctx.publicIP }).leases
    ) {
      if (have.has(l.publicIP)) continue;
      out.push({
        address: l.publicIP,
        asNumber: this.settings.asNumber,
        policy: { import: true, export: true },
        source: "mesh",
        // One connection per mesh session: the higher address dials, from its node address.
        ...(meshDials(this.#ctx.publicIP, l.publicIP)
          ? { local: this.#ctx.publicIP }
          : { passive: true }),
      });
    }
    return out;
  }

  #desired(leases: readonly Lease[], self: Lease, dev: number | undefined): DesiredState {
    const c = this.#ctx, sp = this.#speaker;
    const onLink = new OnLink(c.handle, c.uplink.index);
    const routes: BgpRoute[] = sp ? sp.routes() : expectedMeshRoutes(c.publicIP, leases, self);
    const keep: Route[] = sp && !sp.converged
      ? c.handle.routeList({ table: 254, protocol: RTPROT_BGP }).filter((r) => r.type === "unicast")
      : [];
    return bgpDesired({
      publicIP: c.publicIP,
      underlayFamily: c.underlayFamily,
      encapsulation: this.settings.encapsulation,
      crossSubnet: this.settings.crossSubnet,
      uplink: c.uplink.index,
      ...(dev !== undefined ? { device: dev } : {}),
      onLink: (ip) => onLink.has(ip),
      routes,
      leases,
      self,
      keep,
    });
  }

  /** Updates the peers and own prefixes, then reconciles the RIB's routes into the kernel (186). */
  reconcile(leases: readonly Lease[], self: Lease): ReconcileReport {
    const started = performance.now();
    const c = this.#ctx;
    this.#speaker?.setPeers(this.#peers(leases, self));
    this.#speaker?.setOwnPrefixes([self.subnet, ...(self.subnet6 ? [self.subnet6] : [])]);
    const lan = this.#uplinkPrefixes();
    if (lan) this.#speaker?.setUplinkPrefixes(lan);
    let dev = this.#device;
    const extra = { added: 0, removed: 0, errors: [] as string[] };
    try {
      if (this.settings.encapsulation !== "none") dev = this.#inner.ensureDevice?.().index ?? dev;
      if (this.settings.encapsulation === "vxlan" && dev !== undefined) {
        const a = ensureDeviceAddrs(c.handle, dev, [`${firstAddress(self.subnet)}/32`]);
        Object.assign(extra, { added: a.added, removed: a.removed, errors: a.errors });
      }
    } catch (e) {
      return failedReport([(e as Error).message], started);
    }
    try {
      const desired = this.#desired(leases, self, dev);
      this.#lastDesired = desired.entries.flatMap((e) => e.routes);
      const r = reconcileState(c.handle, desired, { extra });
      r.durationMs = performance.now() - started;
      return r;
    } catch (e) {
      if (!isNetlinkError(e)) throw e;
      return failedReport([`Cannot read the kernel state: ${e.message}`], started);
    }
  }

  /**
   * The uplink's connected networks (192.168.77.1/24 → 192.168.77.0/24; link-local too): routes
   * equal to or inside them are never imported. Undefined when the addresses cannot be read.
   */
  #uplinkPrefixes(): string[] | undefined {
    try {
      const addrs = this.#ctx.handle.addrList({ dev: this.#ctx.uplink.index });
      return [...new Set(addrs.map((a) => canonicalCidr(a.cidr)))].sort();
    } catch (e) {
      if (!isNetlinkError(e)) throw e;
      return undefined;
    }
  }

  /** What reconcile() would change (read-only; without a speaker: the mesh's expected routes). */
  plan(leases: readonly Lease[], self: Lease): Plan {
    const name = this.settings.encapsulation === "none"
      ? undefined
      : TUNNEL[this.settings.encapsulation];
    const link = name ? this.#ctx.handle.linkFind(name) : undefined;
    return planState(this.#ctx.handle, this.#desired(leases, self, link?.index));
  }

  /**
   * skein_bgp_session_up, skein_bgp_prefixes_received, skein_bgp_updates_total and
   * skein_bgp_update_errors_total per peer.
   */
  metrics(): BackendMetric[] {
    const st = this.#speaker?.status() ?? [];
    return [
      {
        name: "skein_bgp_session_up",
        help: "1 when the BGP session with the peer is Established.",
        type: "gauge",
        samples: st.map((p) => ({
          labels: { peer: p.address },
          value: p.state === "Established" ? 1 : 0,
        })),
      },
      {
        name: "skein_bgp_prefixes_received",
        help:
          "Prefixes the peer currently gives this node (stale ones of a restarting peer included).",
        type: "gauge",
        samples: st.map((p) => ({ labels: { peer: p.address }, value: p.prefixesReceived })),
      },
      {
        name: "skein_bgp_updates_total",
        help: "BGP UPDATE messages, by peer and direction (received, sent).",
        type: "counter",
        samples: st.flatMap((p) => [
          { labels: { peer: p.address, direction: "received" }, value: p.updatesReceived },
          { labels: { peer: p.address, direction: "sent" }, value: p.updatesSent },
        ]),
      },
      {
        name: "skein_bgp_update_errors_total",
        help:
          "UPDATEs from the peer with an error handled without a session reset (RFC 7606 treat-as-withdraw or attribute discard, an invalid NEXT_HOP).",
        type: "counter",
        samples: st.map((p) => ({ labels: { peer: p.address }, value: p.updateErrors })),
      },
    ];
  }

  /** The speaker's peers and routes, for /debug/state and `skein diagnose`. */
  debugState(): Record<string, unknown> {
    const sp = this.#speaker;
    return {
      desired: this.#lastDesired,
      bgp: {
        asNumber: this.settings.asNumber,
        routerId: this.#ctx.publicIP,
        converged: sp?.converged ?? false,
        peers: sp?.status() ?? [],
        routes: (sp?.routes() ?? []).map((r) => ({
          prefix: r.prefix,
          nextHop: r.nextHop,
          peer: r.peer,
          stale: r.stale,
        })),
      },
    };
  }

  /** Stops the speaker (graceful restart: peers keep this node's routes) and the inner backend. */
  async close(): Promise<void> {
    this.#speaker?.close();
    await this.#inner.close?.();
  }
}
