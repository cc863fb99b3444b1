/**
 * udp: flannel's userspace encapsulation. A TUN device carries the cluster network and a worker
 * thread wraps each IP packet in one UDP datagram to the node that holds its destination:
 *
 * ```
 * ip tuntap add skein-udp mode tun     # (not persistent: it lives while the daemon holds its fd)
 * ip link set skein-udp mtu <uplink − 28> up
 * ip addr add <own subnet>.0/32 dev skein-udp       # source for host → remote pod traffic
 * ip route replace <cluster network> dev skein-udp proto 100   # this node's subnet stays on cni0
 * ```
 *
 * The wire format is flannel's (pkg/backend/udp): the UDP payload is the bare IPv4 packet, sent
 * from and to the configured port (8285). Received datagrams are checked (packet.ts) before they
 * enter the TUN device; drops are counted by reason. IPv4 only, over an IPv4 underlay.
 *
 * @module
 */
import { formatIp } from "../../net/cidr.ts";
import { isNetlinkError } from "../../net/errors.ts";
import { closeTunFd, openTun, openUdpSocket, type TunDevice } from "../../net/tun.ts";
import type { Link } from "../../net/types.ts";
import { ensureSysctl } from "../../node/sysctl.ts";
import type { Lease } from "../../store/types.ts";
import type { LifecycleHost } from "../../component/lifecycle.ts";
import { type BackendContext, BackendSetupError, underlayOf } from "../_context.ts";
import { ensureDeviceAddrs, removeOtherTunnelDevices } from "../_device.ts";
import { checkLeases, firstAddress } from "../_lease.ts";
import type { Plan } from "../plan.ts";
import { failedReport, planWithDevice, reconcileState } from "../reconcile.ts";
import type {
  Backend,
  BackendMetric,
  DesiredState,
  DriftKind,
  ReconcileReport,
  SetupResult,
} from "../types.ts";
import type { UdpCounters } from "./counters.ts";
import { Forwarder } from "./forwarder.ts";
import { DROP_REASONS, type PeerTableSpec } from "./packet.ts";
import type { UnknownSenders } from "./unknown_senders.ts";

/**
 * Packets the device queues for the worker (the kernel's default for a TUN device is 500): a
 * burst larger than the queue is dropped before the worker sees it.
 */
const TUN_TXQLEN = 2000;

/** What udpDesired() returns: the kernel's desired state and the worker's lease table. */
export interface UdpDesired extends DesiredState {
  /** The peers the worker forwards to (the leases not skipped). */
  peers: PeerTableSpec["peers"];
}

/**
 * The desired udp state (pure): one route sending the cluster network `network` into the device
 * `dev` (no gateway: a TUN device has no neighbours), and every IPv4 lease as a peer at `port`.
 * Without `network` (not known yet) there is no route, said in `skipped`.
 */
export function udpDesired(
  b: { publicIP: string },
  dev: number,
  leases: readonly Lease[],
  self: Lease,
  opts: { network?: string; port: number },
): UdpDesired {
  const checked = checkLeases(leases, self, { type: "udp", publicIP: b.publicIP });
  const state: UdpDesired = { entries: [], skipped: checked.skipped, ownedDevices: [], peers: [] };
  if (opts.network) {
    state.entries.push({
      subnet: opts.network,
      node: self.node,
      neighs: [],
      fdbs: [],
      routes: [{ dst: opts.network, dev }],
    });
  } else {
    state.skipped.push({
      subnet: self.subnet,
      reason: "the cluster network is not known yet: no route into the udp device",
    });
  }
  for (const l of checked.leases) {
    if (l.subnet6) {
      state.skipped.push({
        subnet: l.subnet6,
        reason: "udp carries IPv4 only; use vxlan or host-gw for IPv6 pod subnets",
      });
    }
    const ip = underlayOf(l, 4);
    if (!ip) {
      state.skipped.push({ subnet: l.subnet, reason: `node ${l.node} has no IPv4 public IP` });
      continue;
    }
    state.peers.push({ subnet: l.subnet, publicIP: ip, port: opts.port, node: l.node });
  }
  return state;
}

/** `/debug/state`'s form of the refused unknown senders (addresses as text, times ISO 8601). */
export function unknownSendersJson(u: UnknownSenders): Record<string, unknown> {
  return {
    replaced: u.replaced,
    senders: u.senders.map((s) => ({
      source: formatIp(s.source),
      port: s.port,
      ...(s.inner
        ? { innerSource: formatIp(s.inner.source), innerDestination: formatIp(s.inner.destination) }
        : {}),
      count: s.count,
      lastSeen: s.lastSeen.toISOString(),
    })),
  };
}

/** The udp backend (see the module doc). */
export class UdpBackend implements Backend {
  readonly type = "udp" as const;
  #ctx: BackendContext;
  #port: number;
  #tun?: TunDevice;
  /** The index of the device `#tun` opened (another index under its name: ours is gone). */
  #tunIndex?: number;
  /** TUN fds of deleted devices, closed once the worker has moved off them (`seq`). */
  #retired: { fd: number; seq: number }[] = [];
  #sock?: number;
  #fwd?: Forwarder;
  #peers = 0;

  constructor(ctx: BackendContext) {
    this.#ctx = ctx;
    this.#port = ctx.settings.port as number;
  }

  /** The forwarding worker's counters (undefined before start()). */
  counters(): UdpCounters | undefined {
    return this.#fwd?.counters();
  }

  /** skein_udp_* counters of the forwarding worker (none before start()). */
  metrics(): BackendMetric[] {
    const k = this.#fwd?.counters();
    if (!k) return [];
    return [
      {
        name: "skein_udp_dropped_total",
        help: "Packets the udp backend dropped, by reason (no-route: no lease holds the " +
          "destination; unknown-source, spoofed-source, wrong-destination, bad-header/length/" +
          "checksum: refused datagrams; bad-offload: a TUN super-packet that cannot be cut).",
        type: "counter",
        samples: DROP_REASONS.map((r) => ({ labels: { reason: r }, value: k.dropped[r] })),
      },
      {
        name: "skein_udp_packets_total",
        help: "Packets the udp backend forwarded: tx TUN → peer, rx peer → TUN.",
        type: "counter",
        samples: [
          { labels: { direction: "tx" }, value: k.txPackets },
          { labels: { direction: "rx" }, value: k.rxPackets },
        ],
      },
      {
        name: "skein_udp_offload_total",
        help: "TCP super-packets the udp backend cut into packets (segmented: read from the TUN " +
          "device) or merged from received packets (merged: written into it).",
        type: "counter",
        samples: [
          { labels: { kind: "segmented" }, value: k.segmented },
          { labels: { kind: "merged" }, value: k.merged },
        ],
      },
      {
        name: "skein_udp_bytes_total",
        help: "Bytes of skein_udp_packets_total (inner IP packets).",
        type: "counter",
        samples: [
          { labels: { direction: "tx" }, value: k.txBytes },
          { labels: { direction: "rx" }, value: k.rxBytes },
        ],
      },
    ];
  }

  /**
   * The socket, the device, the worker's counters and the unknown senders it refused, for
   * `/debug/state`.
   */
  debugState(): Record<string, unknown> {
    const u = this.#fwd?.unknownSenders();
    return {
      udp: {
        listen: `${this.#ctx.publicIP}:${this.#port}`,
        socketOpen: this.#sock !== undefined,
        device: this.#tun?.name ?? null,
        offload: this.#tun?.offload ?? null,
        worker: this.#fwd !== undefined,
        peers: this.#peers,
        counters: this.#fwd?.counters() ?? null,
        unknownSenders: u ? unknownSendersJson(u) : null,
      },
    };
  }

  /** The UDP port this node listens on. */
  get port(): number {
    return this.#port;
  }

  /**
   * Opens the TUN device (once, and again when it was deleted under its fd: the worker moves to
   * the new one), then fixes its MTU and up state in place.
   */
  ensureDevice(onRepair?: () => void): Link {
    const c = this.#ctx;
    this.#closeRetired();
    const found = this.#tun ? c.handle.linkFind(c.deviceName) : undefined;
    if (this.#tun && found?.index !== this.#tunIndex) {
      // `ip link del skein-udp`: the fd reads EBADFD for ever; a new device takes over.
      onRepair?.();
      this.#retired.push({ fd: this.#tun.fd, seq: -1 });
      this.#tun = undefined;
    }
    const opened = !this.#tun;
    if (!this.#tun) {
      onRepair?.();
      try {
        this.#tun = openTun({
          name: c.deviceName,
          offload: true,
          ...(c.netns ? { netns: c.netns } : {}),
        });
      } catch (e) {
        throw new BackendSetupError(
          `Cannot create TUN device ${c.deviceName}: ${(e as Error).message}`,
          { cause: e },
        );
      }
    }
    // The device found above is ours when the fd was kept: one link lookup per reconcile.
    let link = opened || !found ? c.handle.linkGet(c.deviceName) : found;
    if (opened) {
      this.#tunIndex = link.index;
      c.handle.linkSet(link.index, { txqlen: TUN_TXQLEN });
      const old = this.#retired.filter((r) => r.seq < 0);
      if (old.length && this.#fwd) {
        const seq = this.#fwd.setTun(this.#tun.fd);
        for (const r of old) r.seq = seq;
      }
    }
    if (link.mtu !== c.mtu || !link.up) {
      onRepair?.();
      c.handle.linkSet(link.index, { mtu: c.mtu, up: true });
      link = { ...link, mtu: c.mtu, up: true };
    }
    return link;
  }

  /** Closes the retired TUN fds the worker no longer uses (all of them without a worker). */
  #closeRetired(all = false): void {
    if (!this.#retired.length) return;
    const done = this.#fwd?.applied();
    this.#retired = this.#retired.filter((r) => {
      const free = all || !this.#fwd || (r.seq >= 0 && done !== undefined && done >= r.seq);
      if (free) closeTunFd(r.fd);
      return !free;
    });
  }

  #ensureSocket(): number {
    const c = this.#ctx;
    this.#sock ??= openUdpSocket({
      address: c.publicIP,
      port: this.#port,
      bufferBytes: 4 << 20,
      ...(c.netns ? { netns: c.netns } : {}),
    });
    return this.#sock;
  }

  /**
   * Removes skein's other tunnel devices, opens the TUN device and the UDP socket, turns on IPv4
   * forwarding (and off IPv6 on the device: the worker carries IPv4 only).
   */
  setup(): SetupResult {
    const c = this.#ctx;
    const repaired: DriftKind[] = [];
    for (const _ of removeOtherTunnelDevices(c.handle, c.deviceName)) repaired.push("device");
    const dev = this.ensureDevice(() => repaired.push("device"));
    try {
      this.#ensureSocket();
    } catch (e) {
      throw new BackendSetupError(
        `Cannot listen on UDP ${c.publicIP}:${this.#port}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (ensureSysctl("net.ipv4.ip_forward", "1", c.sysctl)) repaired.push("sysctl");
    try {
      ensureSysctl(`net.ipv6.conf.${c.deviceName}.disable_ipv6`, "1", c.sysctl);
    } catch { /* no IPv6 in this kernel */ }
    return { backendData: {}, mtu: c.mtu, device: { name: dev.name, index: dev.index }, repaired };
  }

  /** Starts the forwarding worker on the device and socket setup() opened. */
  start(_host: LifecycleHost): Promise<void> {
    if (!this.#fwd) {
      const tun = this.#tun, sock = this.#sock;
      if (!tun || sock === undefined) {
        return Promise.reject(new BackendSetupError("udp backend started before setup()"));
      }
      this.#fwd = new Forwarder({ tunFd: tun.fd, sockFd: sock, offload: tun.offload });
    }
    return Promise.resolve();
  }

  /**
   * Re-checks the device, sets its address from `self`, reconciles the cluster route and hands
   * the lease table to the worker.
   */
  reconcile(leases: readonly Lease[], self: Lease, net?: { network: string }): ReconcileReport {
    const c = this.#ctx;
    const started = performance.now();
    let dev: Link;
    try {
      dev = this.ensureDevice();
    } catch (e) {
      return failedReport([(e as Error).message], started);
    }
    const addrs = ensureDeviceAddrs(c.handle, dev.index, [`${firstAddress(self.subnet)}/32`]);
    const desired = udpDesired(c, dev.index, leases, self, {
      port: this.#port,
      ...(net ? { network: net.network } : {}),
    });
    this.#peers = desired.peers.length;
    this.#fwd?.setTable({ self: self.subnet, peers: desired.peers });
    try {
      const r = reconcileState(c.handle, desired, {
        // Its one route is the node's own (the cluster network into the device), not a lease's.
        refusalsSkipLease: false,
        extra: {
          ...addrs,
          drift: { addr: addrs.added + addrs.removed + addrs.errors.length },
          driftLeft: { addr: addrs.errors.length },
        },
      });
      r.durationMs = performance.now() - started;
      return r;
    } catch (e) {
      if (!isNetlinkError(e)) throw e;
      return failedReport([`Cannot read the kernel state: ${e.message}`], started);
    }
  }

  /** What reconcile() would change (read-only; a missing device is planned). */
  plan(leases: readonly Lease[], self: Lease, net?: { network: string }): Plan {
    const c = this.#ctx;
    return planWithDevice(
      c.handle,
      { name: c.deviceName, kind: "tun" },
      (dev) =>
        udpDesired(c, dev, leases, self, {
          port: this.#port,
          ...(net ? { network: net.network } : {}),
        }),
    );
  }

  /** Stops the worker and closes the socket and the device (its address and route go with it). */
  async close(): Promise<void> {
    await this.#fwd?.close();
    this.#fwd = undefined;
    if (this.#sock !== undefined) closeTunFd(this.#sock);
    this.#sock = undefined;
    if (this.#tun) closeTunFd(this.#tun.fd);
    this.#tun = undefined;
    this.#closeRetired(true);
  }
}
