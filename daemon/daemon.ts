/**
 * The node daemon's core: lease a pod subnet, publish it for the CNI plugin, and keep routes to
 * every other node right. Everything it talks to is injected (store, netlink handle, backend
 * factory, masquerade), so unit tests run it with fakes and `cmd/daemon.ts` wires the real ones.
 *
 * Loops, all running until the stop signal:
 * - renew: every ttl/3 (sooner after an error, or at once when the watch shows the lease
 *   changed hands); a lost lease is acquired again (preferring the same subnet).
 * - watch: a LeaseInformer (store/informer.ts) lists the datastore and watches from exactly that
 *   list's revision (re-listing on any watch error or gap); every change asks for a reconcile,
 *   run on the next macrotask: changes that arrive together are coalesced into one run (see
 *   coalesce.ts). A broken watch or datastore outage keeps the dataplane as it is and retries
 *   with backoff. No reconcile runs before the first list (it would prune every route).
 * - kernel: rtnetlink notifications from the node's namespace (net/monitor.ts). A change to what
 *   skein owns (its routes, its device's neighbours and FDB entries, the device) or to what the
 *   plan depends on (the uplink and its addresses, IPv4/IPv6 forwarding) asks for a reconcile,
 *   coalesced like datastore events; so does a change to the lease files' directory. The daemon's
 *   own changes echo back once and find nothing left to do.
 * - timer: every `reconcileInterval` s, the safety net for anything no notification reports.
 * Every reconcile, whatever its trigger (kernel, file, datastore event, lease, timer), runs the
 * full plan: backend.setup() (device up or recreated, ip_forward), the lease files, then routes,
 * neighbours and FDB entries.
 * Stopping leaves the dataplane and (by default) the lease in place, like flannel.
 *
 * @module
 */
import type { Backend, BackendOptions, ReconcileReport, SetupResult } from "../backends/types.ts";
import type { LifecycleHost } from "../component/lifecycle.ts";
import type { NetHandle } from "../net/types.ts";
import { type Cidr, formatIp, networkOf, overlaps, tryParseCidr } from "../net/cidr.ts";
import { readBoundedText } from "../node/bounded_read.ts";
import {
  leaseFileText,
  MAX_LEASE_FILE_BYTES,
  type NodeLeaseFile,
  tryReadLeaseFile,
  writeLeaseFiles,
} from "../node/lease_file.ts";
import { BadNetworkConfigError, LeaseLostError } from "../store/errors.ts";
import { RESTORED_WARNING } from "../store/flannel.ts";
import { sleep, Sleeper } from "../store/sleeper.ts";
import { type InformerBatch, LeaseInformer, leaseKey } from "../store/informer.ts";
import type { Lease, LeaseStore, NetworkConfig } from "../store/types.ts";
import { backendSettings, type DaemonConfig } from "./config.ts";
import { backendOptions } from "./backend_options.ts";
import { type Readiness, readyzAnswer } from "./http.ts";
import { addCounts, describeDrift, DRIFT_KINDS, DriftTracker, type RunDrift } from "./_drift.ts";
import type { Logger } from "./log.ts";
import { createDaemonMetrics, type DaemonMetrics } from "./metrics.ts";
import { migrateLegacyRoutes } from "./migrate.ts";
import { chooseUplink, type UplinkChoice } from "./uplink.ts";
import { Coalescer } from "./coalesce.ts";
import { ipv4Half, leaseScopeProblem } from "./_lease_scope.ts";
import { skipChanges, type SkipState } from "./_skip_log.ts";
import type { WatchedObjects } from "./_kernel_events.ts";
import { type KernelEventSource, watchFiles, watchKernel } from "./_watches.ts";
import { LeaseGrace } from "./_lease_grace.ts";
import type { LeaseRenewer } from "./renewer.ts";

export type { KernelEventSource } from "./_watches.ts";

/** Options of ensureMasquerade() as backends/ exports it. */
export interface MasqueradeRequest {
  netns?: string;
  clusterNetworks: string[];
  podSubnets: string[];
  enabled: boolean;
}

/** What the daemon needs from the outside world. */
export interface DaemonDeps {
  config: DaemonConfig;
  store: LeaseStore;
  /** Opens a netlink handle in config.netns (or this process's namespace). */
  openHandle: () => NetHandle;
  createBackend: (opts: BackendOptions) => Backend;
  ensureMasquerade?: (opts: MasqueradeRequest) => void;
  /**
   * Opens a kernel monitor in config.netns; relevant changes trigger a reconcile at once.
   * Without it, kernel drift heals on the timer only.
   */
  openMonitor?: () => KernelEventSource;
  /**
   * Does this node IP answer on the underlay (probed from config.netns)? With it, another node's
   * expired lease stays programmed while its node answers, up to config.leaseGrace s.
   */
  probeNode?: (ip: string) => Promise<boolean>;
  /**
   * Starts a lease renewer on another thread (renewer.ts workerRenewer): renewals go on while
   * this thread is busy. Without it (or when it cannot start) the lease is renewed from a timer
   * on this thread.
   */
  openRenewer?: () => LeaseRenewer;
  /** Watch the lease files' directories, so a removed file is rewritten at once (default true). */
  watchLeaseFiles?: boolean;
  log: Logger;
  metrics?: DaemonMetrics;
  /** Backoff bounds for datastore retries (ms); tests shorten them. */
  backoff?: { minMs: number; maxMs: number };
  /**
   * Wait after the first datastore event before the reconcile it triggers (ms, default 0: the
   * next macrotask). Events arriving until the reconcile starts are handled by that one run.
   */
  debounceMs?: number;
}

/** A snapshot of the daemon's own state (what `/debug/state` reports). */
export interface DaemonDebugInfo {
  config: DaemonConfig;
  readiness: Readiness;
  /** The leases the informer holds. */
  leases: Lease[];
  lease?: Lease;
  network?: NetworkConfig;
  uplink?: UplinkChoice;
  setup?: SetupResult;
  lastRun?: { at: string; trigger: string; report: ReconcileReport };
  lastSuccessAt?: string;
  /** The backend's own state (udp: its socket and forwarding counters), when it has any. */
  backendState?: Record<string, unknown>;
}

/** The node agent. */
export class NodeDaemon {
  readonly metrics: DaemonMetrics;
  #d: DaemonDeps;
  #cfg: DaemonConfig;
  #log: Logger;
  #lease?: Lease;
  #net?: NetworkConfig;
  #informer: LeaseInformer;
  /** The subnets the last error-free reconcile programmed (this node's own included). */
  #programmed: ReadonlySet<string> = new Set();
  #backend?: Backend;
  #setup?: SetupResult;
  #uplink?: UplinkChoice;
  /** When #ownLeaseWrong() last asked for a renewal (ms). */
  #lastOwnFix = 0;
  /** The running run()'s own abort, and why it starts over (set by #checkUplink()). */
  #restart?: { ac: AbortController; why?: string };
  #routesOk = false;
  #fileOk = false;
  /** The lease was lost and not acquired again yet: the lease files are withdrawn. */
  #withdrawn = false;
  #lastError?: string;
  /** The last reconcile's skipped leases (what #logSkipped() compares with). */
  #lastSkipped: SkipState = new Map();
  /** Invalid records the last reconcile saw (`reason|subnet|node`), each counted once. */
  #invalidSeen = new Set<string>();
  /** When the datastore stopped answering (undefined: it answers), and why. */
  #datastoreDown?: { since: number; error: string; unusable: boolean };
  #renewSleeper = new Sleeper();
  #drift = new DriftTracker();
  #grace: LeaseGrace;
  /** The renewal worker while one runs. */
  #renewer: LeaseRenewer | undefined;
  #events: Coalescer;
  /** The subnets the last reconcile asked the backend to route (for kernel event filtering). */
  #routed = new Set<string>();
  /** What asked for the scheduled event reconcile ("kernel", "file"; default "event"). */
  #pendingTrigger: string | undefined;
  #backoffMin: number;
  #backoffMax: number;
  /** The last reconcile's report, when and why it ran (for /debug/state). */
  #lastRun?: { at: string; trigger: string; report: ReconcileReport };
  /** When the last reconcile without errors finished (ISO 8601). */
  #lastSuccessAt?: string;

  constructor(deps: DaemonDeps) {
    this.#d = deps;
    this.#cfg = deps.config;
    this.#log = deps.log;
    this.metrics = deps.metrics ?? createDaemonMetrics();
    this.metrics.registry.source(() => this.#backend?.metrics?.() ?? []);
    this.#backoffMin = deps.backoff?.minMs ?? 500;
    this.#backoffMax = deps.backoff?.maxMs ?? 30_000;
    this.#events = this.#eventReconciles();
    this.#informer = this.#newInformer();
    this.#grace = this.#newGrace();
  }

  /** The datastore informer (a fresh one per run()). */
  #newInformer(): LeaseInformer {
    return new LeaseInformer({
      store: this.#d.store,
      backoff: { minMs: this.#backoffMin, maxMs: this.#backoffMax },
      onChange: (b) => this.#leasesChanged(b),
      onError: (e, ms) => this.#datastoreError("watch", e, ms),
    });
  }

  /** Expired leases held while their node answers (a fresh one per run()). */
  #newGrace(): LeaseGrace {
    const probe = this.#d.probeNode;
    return new LeaseGrace({
      graceMs: probe ? this.#cfg.leaseGrace * 1000 : 0,
      probe: probe ?? (() => Promise.resolve(false)),
      onRelease: (l, why) => {
        this.#log.info("expired lease let go; its routes are removed", {
          subnet: l.subnet,
          node: l.node || undefined,
          why,
        });
        this.#request("grace");
      },
    });
  }

  /** The coalescer of event-triggered reconciles (a fresh one per run()). */
  #eventReconciles(): Coalescer {
    return new Coalescer(() => this.reconcile(this.#pendingTrigger ?? "event"), {
      delayMs: this.#d.debounceMs ?? 0,
      onError: (e) => this.#log.error("reconcile failed", { trigger: "event", error: e }),
    });
  }

  /** This node's lease, once held. */
  get lease(): Lease | undefined {
    return this.#lease;
  }

  /** What the daemon knows now, for `GET /debug/state` (daemon/debug_state.ts builds the answer). */
  debugInfo(): DaemonDebugInfo {
    const i: DaemonDebugInfo = {
      config: this.#cfg,
      readiness: this.readiness(),
      leases: [...this.#informer.leases().values()],
    };
    if (this.#lease) i.lease = this.#lease;
    if (this.#net) i.network = this.#net;
    if (this.#uplink) i.uplink = this.#uplink;
    if (this.#setup) i.setup = this.#setup;
    if (this.#lastRun) i.lastRun = this.#lastRun;
    if (this.#lastSuccessAt) i.lastSuccessAt = this.#lastSuccessAt;
    const backendState = this.#backend?.debugState?.();
    if (backendState) i.backendState = backendState;
    return i;
  }

  /** What /readyz reports. */
  readiness(): Readiness {
    const lease = this.#lease;
    const expired = lease !== undefined && Date.parse(lease.expiration) <= Date.now();
    const drift = this.#drift.overdue(this.#cfg.driftGrace * 1000);
    const r: Readiness = {
      leaseHeld: lease !== undefined && !expired,
      routesProgrammed: this.#routesOk,
      leaseFileWritten: this.#fileOk,
      kernelMatchesPlan: drift === undefined,
    };
    if (expired) r.leaseProblem = `the lease of ${lease.subnet} expired at ${lease.expiration}`;
    if (drift) r.drift = drift;
    if (this.#lastError) r.detail = this.#lastError;
    if (this.#routesOk) r.programmed = this.#programmed;
    const down = this.#datastoreDown;
    if (down) {
      r.datastoreProblem = `${
        down.unusable ? "the datastore's network config is unusable" : "datastore unreachable"
      } for ${
        Math.round((Date.now() - down.since) / 1000)
      } s (${down.error}); routes kept as they are`;
    }
    return r;
  }

  /**
   * Runs until `signal` aborts. Throws only for problems a retry cannot fix (uplink, device setup).
   * When the node's address changes under it (the uplink renumbered: DHCP, a moved VM), the run
   * starts over in place: the uplink is chosen again, the backend set up with the new address
   * (the vxlan device's local address), and the lease renewed with it, so other nodes follow.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const inner = new AbortController();
      const stop = () => inner.abort();
      signal.addEventListener("abort", stop, { once: true });
      this.#restart = { ac: inner };
      try {
        await this.#runOnce(inner.signal, signal);
      } finally {
        signal.removeEventListener("abort", stop);
      }
      const why = this.#restart.why;
      if (signal.aborted || why === undefined) return;
      this.#log.info("starting over: the node's address changed", { change: why });
    }
  }

  /**
   * After a kernel event on the uplink: when the uplink chosen now differs from the running one
   * (another address or interface), the run starts over. An uplink with no address at all (one
   * removed before the new one is added) changes nothing yet.
   */
  #checkUplink(): void {
    const was = this.#uplink, r = this.#restart;
    if (!was || !r || r.ac.signal.aborted) return;
    let now: UplinkChoice;
    try {
      const h = this.#d.openHandle();
      try {
        now = chooseUplink(h, this.#cfg);
      } finally {
        h.close();
      }
    } catch {
      return; // no uplink to choose now (an address on its way), or no handle: keep the running one
    }
    if (now.publicIP === was.publicIP && now.name === was.name) return;
    r.why = `${was.name} ${was.publicIP} -> ${now.name} ${now.publicIP}`;
    r.ac.abort();
  }

  async #runOnce(signal: AbortSignal, outer: AbortSignal): Promise<void> {
    const c = this.#cfg;
    this.#log.info("starting", {
      node: c.name,
      backend: c.backend.type,
      datastore: c.datastore.type,
      netns: c.netns ?? "(own)",
    });
    this.metrics.info.set(1, { backend: c.backend.type, datastore: c.datastore.type });
    this.#events.close();
    this.#events = this.#eventReconciles();
    this.#informer = this.#newInformer();
    this.#grace.close();
    this.#grace = this.#newGrace();
    this.#programmed = new Set();
    const handle = this.#d.openHandle();
    try {
      migrateLegacyRoutes(handle, this.#log);
      const up = chooseUplink(handle, c);
      this.#uplink = up;
      this.#log.info("uplink chosen", {
        iface: up.name,
        index: up.index,
        mtu: up.mtu,
        publicIP: up.publicIP,
        by: up.reason,
      });
      this.#backend = this.#d.createBackend(backendOptions(c, up, handle));
      this.#setup = this.#backend.setup();
      await this.#backend.start?.(this.#host("backend", signal));
      this.#log.info("backend ready", {
        backend: c.backend.type,
        mtu: this.#setup.mtu,
        ...flat(this.#setup.backendData),
      });
      await this.#d.store.start?.(this.#host("datastore", signal));

      const net = await this.#retry("config", () => this.#networkConfig(), signal);
      this.metrics.datastoreUp.set(1);
      if (!net) return;
      this.#net = net;
      this.#warnUnderlayOverlap(handle, net.network);
      const lease = await this.#retry(
        "acquire",
        () => this.#d.store.acquire(this.#acquireRequest()),
        signal,
      );
      if (!lease) return;
      this.#takeLease(lease, "lease acquired");

      await Promise.all([
        this.#kernelLoop(signal),
        this.#fileLoop(signal),
        this.#d.openRenewer ? this.#workerRenewLoop(signal) : this.#renewLoop(signal),
        this.#informer.run(signal),
        this.#timerLoop(signal),
        this.#probeLoop(signal),
      ]);
    } finally {
      this.#events.close();
      this.#grace.close();
      if (this.#lease && c.releaseOnExit && outer.aborted) {
        await this.#d.store.release(this.#lease).then(
          () => this.#log.info("lease released", { subnet: this.#lease?.subnet }),
          (e) => this.#log.warn("cannot release the lease", { error: e }),
        );
      }
      await this.#closeBackend();
      handle.close();
      this.#log.info("stopped; dataplane left in place", { subnet: this.#lease?.subnet });
    }
  }

  /**
   * A cluster network that overlaps the uplink's own network: pod subnets there take addresses of
   * hosts on the node's LAN. The allocator never hands out a subnet holding a node's address, but
   * other hosts of that LAN are unknown to it.
   */
  #warnUnderlayOverlap(handle: NetHandle, network: string): void {
    const up = this.#uplink!;
    const net = tryParseCidr(network);
    const lans = handle.addrList({ dev: up.index }).filter((a) =>
      a.family === 4 && a.scope !== "host"
    )
      .map((a) => tryParseCidr(a.cidr)).filter((c): c is Cidr => c !== undefined && c.prefix < 32);
    const lan = net && lans.find((c) => overlaps(c, net));
    if (!lan) return;
    this.#log.warn(
      "the cluster network overlaps the uplink's network: pods may get LAN hosts' addresses",
      {
        network,
        uplink: up.name,
        lan: `${formatIp(networkOf(lan))}/${lan.prefix}`,
      },
    );
  }

  #acquireRequest() {
    const up = this.#uplink!;
    const req = {
      node: this.#cfg.name,
      publicIP: up.publicIP,
      backendType: this.#cfg.backend.type,
      backendData: this.#setup?.backendData ?? {},
      ttlSeconds: this.#cfg.datastore.ttl,
    } as Parameters<LeaseStore["acquire"]>[0];
    if (up.publicIP6 && this.#cfg.network6) req.publicIP6 = up.publicIP6;
    const prev = this.#lease?.subnet ?? tryReadLeaseFile(this.#cfg.leaseFile)?.subnet;
    if (prev) req.previousSubnet = prev;
    return req;
  }

  async #networkConfig(): Promise<NetworkConfig> {
    const c = this.#cfg;
    if (!c.network) {
      const stored = await this.#d.store.getNetworkConfig();
      if (!stored) {
        throw new Error(
          "the datastore has no network config and this node's config sets no network",
        );
      }
      return stored;
    }
    const mine: NetworkConfig = {
      network: c.network,
      subnetLen: c.subnetLen,
      backend: { type: c.backend.type },
    };
    Object.assign(mine.backend, backendSettings(c.backend)); // vxlan: vni, port (as set)
    if (c.network6) {
      mine.network6 = c.network6;
      mine.subnetLen6 = c.subnetLen6;
    }
    if (c.subnetMin) mine.subnetMin = c.subnetMin;
    if (c.subnetMax) mine.subnetMax = c.subnetMax;
    const stored = await this.#d.store.putNetworkConfigIfAbsent(mine);
    if (
      stored.network !== mine.network || stored.subnetLen !== mine.subnetLen ||
      stored.network6 !== mine.network6
    ) {
      this.#log.warn(
        "the datastore's network config differs from this node's; using the datastore's",
        {
          stored: `${stored.network}/${stored.subnetLen}`,
          local: `${mine.network}/${mine.subnetLen}`,
        },
      );
    }
    if (stored.backend.type !== c.backend.type) {
      this.#log.warn("the datastore's backend differs from this node's", {
        stored: stored.backend.type,
        local: c.backend.type,
      });
    }
    return stored;
  }

  /** Retries `fn` with exponential backoff until it succeeds; undefined when stopped first. */
  async #retry<T>(op: string, fn: () => Promise<T>, signal: AbortSignal): Promise<T | undefined> {
    let wait = this.#backoffMin;
    while (!signal.aborted) {
      try {
        const v = await fn();
        if (this.#lastError?.startsWith(`${op}:`)) this.#lastError = undefined;
        return v;
      } catch (e) {
        this.#datastoreError(op, e as Error, wait);
        await sleep(wait, signal);
        wait = Math.min(wait * 2, this.#backoffMax);
      }
    }
    return undefined;
  }

  #datastoreError(op: string, e: Error, retryMs?: number): void {
    this.metrics.datastoreErrors.inc({ op });
    this.#lastError = `${op}: ${e.message}`;
    this.#log.warn("datastore error; dataplane left as is", {
      op,
      error: e.message,
      retryInMs: retryMs,
    });
  }

  #takeLease(lease: Lease, what: string): void {
    const old = this.#lease;
    this.#lease = lease;
    this.#withdrawn = false;
    this.metrics.leaseExpiry.set(Date.parse(lease.expiration) / 1000);
    this.#log.info(what, {
      subnet: lease.subnet,
      subnet6: lease.subnet6,
      publicIP: lease.publicIP,
      expires: lease.expiration,
    });
    if (old && old.subnet !== lease.subnet) {
      this.#log.warn("this node's subnet changed; pods on the old subnet must be recreated", {
        old: old.subnet,
        new: lease.subnet,
      });
    }
    this.#writeFiles();
    if (!old || old.subnet !== lease.subnet) this.#masquerade();
  }

  #leaseFile(): NodeLeaseFile | undefined {
    const l = this.#lease;
    const net = this.#net;
    if (!l || !net || !this.#setup || this.#withdrawn) return undefined;
    const f: NodeLeaseFile = {
      node: this.#cfg.name,
      network: net.network,
      subnet: l.subnet,
      mtu: this.#setup.mtu,
      ipMasq: this.#cfg.ipMasq,
      backend: this.#cfg.backend.type,
    };
    if (this.#cfg.cniSocket !== "none") f.cniSocket = this.#cfg.cniSocket;
    if (net.network6 && l.subnet6) {
      f.network6 = net.network6;
      f.subnet6 = l.subnet6;
    }
    return f;
  }

  #writeFiles(): void {
    const f = this.#leaseFile();
    if (!f) return;
    try {
      writeLeaseFiles(f, this.#cfg);
      if (!this.#fileOk) {
        this.#log.info("lease file written", {
          leaseFile: this.#cfg.leaseFile,
          subnetEnv: this.#cfg.subnetEnv,
        });
      }
      this.#fileOk = true;
    } catch (e) {
      this.#fileOk = false;
      this.#log.error("cannot write the lease file", { path: this.#cfg.leaseFile, error: e });
    }
  }

  /**
   * Removes the lease files while the lease is lost: the subnet may be another node's now, and a
   * CNI ADD reading them would hand out its addresses. ADDs fail until a lease is held again;
   * pods already running keep their addresses.
   */
  #withdrawFiles(): void {
    this.#withdrawn = true;
    this.#fileOk = false;
    for (const path of [this.#cfg.leaseFile, this.#cfg.subnetEnv]) {
      try {
        Deno.removeSync(path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          this.#log.error("cannot withdraw the lease file", { path, error: e });
        }
      }
    }
    this.#log.warn("lease files withdrawn until a lease is held again: new pods wait", {
      leaseFile: this.#cfg.leaseFile,
    });
  }

  /** Rewrites the lease files when they went missing or changed under us. */
  #checkFiles(run?: RunDrift): void {
    const f = this.#leaseFile();
    if (!f) return;
    let cur: string | undefined;
    try {
      Deno.statSync(this.#cfg.subnetEnv);
      // Bounded: a FIFO planted there would block this (synchronous) read, and the daemon.
      cur = readBoundedText(this.#cfg.leaseFile, MAX_LEASE_FILE_BYTES);
    } catch { /* either one missing: rewrite both */ }
    if (cur !== leaseFileText(f)) {
      if (this.#fileOk) {
        this.#log.warn("lease file missing or changed; rewriting it", {
          path: this.#cfg.leaseFile,
        });
      }
      this.#fileOk = false;
      this.#writeFiles();
      if (run) {
        addCounts(run.found, { lease_file: 1 });
        if (!this.#fileOk) {
          addCounts(run.left, { lease_file: 1 });
          this.metrics.reconcileErrors.inc({ kind: "lease_file" });
        }
      }
    }
  }

  #masquerade(): void {
    if (!this.#d.ensureMasquerade || !this.#lease || !this.#net) return;
    const opts: MasqueradeRequest = {
      clusterNetworks: [this.#net.network, ...(this.#net.network6 ? [this.#net.network6] : [])],
      podSubnets: [this.#lease.subnet, ...(this.#lease.subnet6 ? [this.#lease.subnet6] : [])],
      enabled: this.#cfg.ipMasq,
    };
    if (this.#cfg.netns) opts.netns = this.#cfg.netns;
    try {
      this.#d.ensureMasquerade(opts);
      if (this.#cfg.ipMasq) {
        this.#log.info("masquerade rules in place", { podSubnets: opts.podSubnets.join(",") });
      }
    } catch (e) {
      this.#log.error("cannot set up masquerade", { error: e });
    }
  }

  /**
   * One reconcile against every lease known now: the full plan (setup, lease files, then the
   * backend's routes, neighbours and FDB entries), drift accounting, metrics, log.
   */
  reconcile(trigger: string): ReconcileReport | undefined {
    const self = this.#lease;
    const backend = this.#backend;
    // Before the first list the datastore's leases are unknown: a reconcile would prune them all.
    if (!self || !backend || !this.#informer.synced) return undefined;
    // This run sees every lease known now: a scheduled event reconcile would only repeat it.
    this.#events.cancel();
    this.#pendingTrigger = undefined;
    const t0 = performance.now();
    const run: RunDrift = { found: {}, left: {} };
    // The full plan: devices and sysctls, the lease files, then the per-lease entries.
    this.#ensureSetup(run);
    this.#checkFiles(run);
    const { others, outside } = this.#remoteLeases(self);
    this.#routed = new Set(others.flatMap((l) => l.subnet6 ? [l.subnet, l.subnet6] : [l.subnet]));
    let report: ReconcileReport;
    try {
      report = backend.reconcile(others, self, this.#net);
      if (outside.length) report = { ...report, skipped: [...outside, ...report.skipped] };
    } catch (e) {
      this.metrics.reconcileErrors.inc({ kind: "other" });
      this.#lastError = `reconcile: ${(e as Error).message}`;
      this.#log.error("reconcile failed", { trigger, error: e });
      run.failed = `the last reconcile failed (${(e as Error).message})`;
      this.#finishRun(trigger, t0, run);
      return undefined;
    }
    this.#lastRun = { at: new Date().toISOString(), trigger, report };
    if (report.errors.length === 0) this.#lastSuccessAt = this.#lastRun.at;
    addCounts(run.found, report.drift);
    addCounts(run.left, report.driftLeft);
    this.#reportErrors(trigger, report, run);
    if (report.errors.length === 0) {
      if (!this.#routesOk) {
        this.#log.info("routes programmed", { routes: report.routes, leases: this.#leaseCount() });
      }
      this.#routesOk = true;
      const skippedNow = new Set(report.skipped.map((x) => x.subnet));
      const done = others.map((l) => l.subnet).filter((x) => !skippedNow.has(x));
      this.#programmed = new Set([self.subnet, ...done]);
      if (this.#lastError?.startsWith("reconcile:")) this.#lastError = undefined;
    }
    const m = this.metrics;
    m.routes.set(report.routes ?? report.added + report.unchanged);
    m.skipped.set(report.skipped.length);
    m.leases.set(this.#leaseCount());
    this.#logSkipped(report.skipped);
    const ms = this.#finishRun(trigger, t0, run);
    const level = report.added > 0 || report.removed > 0 ? "info" : "debug";
    this.#log[level]("reconciled", {
      trigger,
      added: report.added,
      removed: report.removed,
      unchanged: report.unchanged,
      skipped: report.skipped.length,
      errors: report.errors.length,
      drift: describeDrift(run.found) || undefined,
      ms: Math.round(ms * 10) / 10,
    });
    return report;
  }

  /**
   * Logs what changed in the skipped leases since the last reconcile: each newly skipped lease
   * (or one skipped for another reason now) with its reason, each one no longer skipped, and one
   * line with the count; nothing when nothing changed.
   */
  #logSkipped(now: ReconcileReport["skipped"]): void {
    const ch = skipChanges(this.#lastSkipped, now);
    this.#lastSkipped = ch.next;
    for (const s of ch.skipped) {
      this.#log.warn("lease not programmed", { subnet: s.subnet, reason: s.reason });
    }
    for (const subnet of ch.cleared) this.#log.info("lease no longer skipped", { subnet });
    if (ch.skipped.length === 0 && ch.cleared.length === 0) return;
    this.#log.info("skipped leases changed", {
      skipped: ch.next.size,
      newly: ch.skipped.length,
      cleared: ch.cleared.length,
    });
  }

  /** The other nodes' leases to program, and the records left out (outside the network). */
  #remoteLeases(self: Lease): { others: Lease[]; outside: ReconcileReport["skipped"] } {
    const others: Lease[] = [];
    const outside: ReconcileReport["skipped"] = [];
    const invalid: string[] = [];
    const held = this.#grace.leases();
    const known = this.#informer.leases();
    const all = held.length === 0 ? known.values() : [...known.values(), ...held];
    for (const l of all) {
      // A record claiming this node's subnet for another node is restored by the next renewal
      // (woken by its watch event; the store logs and counts it).
      if (l.subnet === self.subnet) continue;
      // A record outside the cluster network, or with a pod address for its node's, never
      // reaches a backend (never becomes a route).
      const bad = this.#net ? leaseScopeProblem(l, this.#net) : undefined;
      if (bad) {
        outside.push({ subnet: l.subnet, reason: `node ${l.node}: ${bad.why}` });
        invalid.push(`${bad.code}|${l.subnet}|${l.node}`);
      } else others.push(this.#net?.network6 ? l : ipv4Half(l));
    }
    this.#countInvalid(invalid);
    return { others, outside };
  }

  /** Counts (skein_leases_invalid_total) and logs the invalid records not seen last time. */
  #countInvalid(invalid: string[]): void {
    for (const k of invalid) {
      if (this.#invalidSeen.has(k)) continue;
      const reason = k.split("|")[0]!;
      this.metrics.leasesInvalid.inc({ reason });
    }
    this.#invalidSeen = new Set(invalid);
  }

  /** Records whether the datastore answers (skein_datastore_up, /readyz); logs transitions. */
  #datastoreAnswered(ok: boolean, error?: unknown): void {
    this.metrics.datastoreUp.set(ok ? 1 : 0);
    if (ok && this.#datastoreDown) {
      this.#log.info("datastore reachable again", {
        downSeconds: Math.round((Date.now() - this.#datastoreDown.since) / 1000),
      });
      this.#datastoreDown = undefined;
      this.#renewNow(); // renew at once: renewals may have failed meanwhile
    } else if (!ok && !this.#datastoreDown) {
      const msg = error instanceof Error ? error.message : String(error);
      // It answered with a config no node can use: the operator's to fix there, not an outage.
      const unusable = error instanceof BadNetworkConfigError;
      this.#datastoreDown = { since: Date.now(), error: msg, unusable };
      this.#log.warn(
        unusable
          ? "the datastore's network config is unusable; routes and lease files kept as they are"
          : "datastore unreachable; routes and lease files kept as they are",
        { error: msg },
      );
    }
  }

  /** Asks the datastore for the network config every few seconds: is it there? */
  async #probeLoop(signal: AbortSignal): Promise<void> {
    const sleeper = new Sleeper();
    const every = Math.min(5, this.#cfg.reconcileInterval) * 1000;
    while (!signal.aborted) {
      await sleeper.sleep(every, signal);
      if (signal.aborted) return;
      try {
        await this.#d.store.getNetworkConfig();
        this.#datastoreAnswered(true);
      } catch (e) {
        if (signal.aborted) return;
        this.metrics.datastoreErrors.inc({ op: "probe" });
        this.#datastoreAnswered(false, e);
      }
    }
  }

  /** Counts the report's errors by kind (the failed changes; the rest is "other") and logs them. */
  #reportErrors(trigger: string, report: ReconcileReport, run: RunDrift): void {
    if (report.errors.length === 0) return;
    let byKind = 0;
    for (const k of DRIFT_KINDS) {
      const n = report.driftLeft?.[k as keyof typeof report.driftLeft] ?? 0;
      if (n > 0) this.metrics.reconcileErrors.inc({ kind: k }, n);
      byKind += n;
    }
    if (report.errors.length > byKind) {
      this.metrics.reconcileErrors.inc({ kind: "other" }, report.errors.length - byKind);
      // The kernel state could not be read (or a step outside the plan failed): not verified.
      run.failed ??= `the last reconcile could not check the kernel (${report.errors[0]})`;
    }
    this.#lastError = `reconcile: ${report.errors[0]}`;
    for (const err of report.errors) this.#log.warn("reconcile error", { trigger, error: err });
  }

  /** Metrics every run ends with (also a failed one); returns the run's duration in ms. */
  #finishRun(trigger: string, t0: number, run: RunDrift): number {
    const ms = performance.now() - t0;
    const m = this.metrics;
    m.reconcileTotal.inc({ trigger });
    m.reconcileDuration.observe(ms / 1000);
    m.lastReconcile.set(Date.now() / 1000);
    this.#drift.record(run, m);
    m.ready.set(readyzAnswer(this.readiness()).status === 200 ? 1 : 0);
    return ms;
  }

  /** Leases known: the datastore's (as of the informer's revision) plus this node's own. */
  #leaseCount(): number {
    const leases = this.#informer.leases();
    const own = this.#lease;
    return leases.size + (own && !leases.has(leaseKey(own)) ? 1 : 0);
  }

  /** The informer applied a batch: log it, notice changes to this node's lease, reconcile. */
  #leasesChanged(b: InformerBatch): void {
    const own = this.#lease;
    if (b.source === "list") {
      if (this.#informer.relists > 0) {
        this.metrics.datastoreRelists.inc();
        this.#log.info("datastore re-listed", {
          leases: this.#informer.leases().size,
          changes: b.events.length,
        });
      }
      const mine = own ? this.#informer.leases().get(leaseKey(own)) : undefined;
      if (own && (!mine || this.#ownLeaseWrong(mine))) this.#renewNow();
    }
    for (const ev of b.events) {
      if (own && ev.lease.subnet === own.subnet) {
        if (b.source === "watch" && (ev.type === "removed" || this.#ownLeaseWrong(ev.lease))) {
          this.#log.warn("this node's lease changed in the datastore; renewing now", {
            subnet: own.subnet,
            event: ev.type,
            node: ev.lease.node || undefined,
            publicIP: ev.lease.publicIP || undefined,
          });
          this.#renewNow();
        }
        continue;
      }
      if (b.source === "list" && this.#informer.relists === 0) continue; // the first list
      if (ev.type === "added") this.#grace.added(ev.lease);
      const held = ev.type === "removed" && this.#grace.removed(ev.lease);
      this.#log.info(ev.type === "added" ? "lease added" : "lease removed", {
        subnet: ev.lease.subnet,
        node: ev.lease.node || undefined,
        publicIP: ev.lease.publicIP || undefined,
        kept: held
          ? `expired: routes kept up to ${this.#cfg.leaseGrace} s while its node IP answers`
          : undefined,
      });
    }
    this.metrics.leases.set(this.#leaseCount());
    // The first list is programmed at once (readiness waits for it); later changes coalesce.
    if (b.source === "list" && this.#informer.relists === 0) this.reconcile("list");
    else this.#events.request();
  }

  /** The lease this node publishes: the held one with the current address and backend data. */
  #wantLease(): Lease {
    return {
      ...this.#lease!,
      publicIP: this.#uplink!.publicIP,
      backendData: this.#setup?.backendData ?? {},
    };
  }

  /**
   * The datastore's record of this node's subnet says another node, node IP or backend type than
   * this daemon publishes (someone rewrote it): other nodes would route by it. Renewing puts it
   * back; for all but the node at most once per 5 s, so two daemons given one node name do not
   * renew in a storm.
   */
  #ownLeaseWrong(l: Lease): boolean {
    const own = this.#lease;
    if (!own || !this.#uplink) return false;
    if (l.node !== own.node) return true;
    // backendData is not compared: the stores spell its keys their own way (vtepMAC, VtepMAC).
    const same = l.publicIP === this.#uplink.publicIP && l.backendType === this.#cfg.backend.type;
    if (same || Date.now() - this.#lastOwnFix < 5000) return false;
    this.#lastOwnFix = Date.now();
    return true;
  }

  /** Renew at once (the lease changed hands, the backend data changed, the datastore is back). */
  #renewNow(): void {
    this.#renewSleeper.wake();
    if (this.#renewer && this.#lease) this.#renewer.renew(this.#wantLease(), true);
  }

  #renewed(next: Lease): void {
    this.#lease = next;
    this.metrics.renewals.inc();
    this.#datastoreAnswered(true);
    this.metrics.leaseExpiry.set(Date.parse(next.expiration) / 1000);
    if (this.#lastError?.startsWith("renew:")) this.#lastError = undefined;
    this.#log.debug("lease renewed", { subnet: next.subnet, expires: next.expiration });
  }

  /**
   * Renewals on the worker (renewer.ts): its timer runs while this thread is busy; this loop
   * applies the results. Falls back to #renewLoop when the worker cannot start.
   */
  async #workerRenewLoop(signal: AbortSignal): Promise<void> {
    const r = this.#d.openRenewer!();
    this.#renewer = r;
    const stop = () => void r.close();
    signal.addEventListener("abort", stop, { once: true });
    try {
      r.renew(this.#wantLease());
      for await (const res of r.results()) {
        if (signal.aborted) return;
        if (res.type === "renewed") {
          if (res.lease.subnet === this.#lease?.subnet) this.#renewed(res.lease);
        } else if (res.type === "error") {
          this.#datastoreError("renew", new Error(res.message));
          this.#datastoreAnswered(false, new Error(res.message));
        } else if (res.type === "warning") {
          this.#log.warn(res.message, res.fields);
          if (res.message === RESTORED_WARNING) {
            this.metrics.leasesInvalid.inc({ reason: "claims-own-subnet" });
          }
        } else if (res.type === "failed") {
          this.#log.warn("the renewal worker cannot run; renewing on the main thread", {
            error: res.message,
          });
          break;
        } else {
          if (!await this.#reacquire(res.message, signal)) return;
          r.renew(this.#wantLease());
        }
      }
    } finally {
      signal.removeEventListener("abort", stop);
      this.#renewer = undefined;
      await r.close();
    }
    if (!signal.aborted) await this.#renewLoop(signal);
  }

  /**
   * The lease was lost (expired, taken): acquire again (retrying until `signal` aborts) and
   * reconcile with it. False when aborted first.
   */
  async #reacquire(error: string, signal: AbortSignal): Promise<boolean> {
    this.#log.warn("lease lost; acquiring again", { subnet: this.#lease?.subnet, error });
    this.#withdrawFiles();
    const again = await this.#retry(
      "acquire",
      () => this.#d.store.acquire(this.#acquireRequest()),
      signal,
    );
    if (!again) return false;
    this.#takeLease(again, "lease acquired again");
    this.reconcile("lease");
    return true;
  }

  async #renewLoop(signal: AbortSignal): Promise<void> {
    const ttl = this.#cfg.datastore.ttl;
    let wait = (ttl * 1000) / 3;
    while (!signal.aborted) {
      await this.#renewSleeper.sleep(wait, signal);
      if (signal.aborted) return;
      const want = this.#wantLease();
      try {
        this.#renewed(await this.#d.store.renew(want, ttl));
        wait = (ttl * 1000) / 3;
      } catch (e) {
        if (e instanceof LeaseLostError) {
          if (!await this.#reacquire(e.message, signal)) return;
          wait = (ttl * 1000) / 3;
        } else {
          // Keep trying well before the lease runs out.
          wait = Math.min(
            Math.max(this.#backoffMin, wait === (ttl * 1000) / 3 ? this.#backoffMin : wait * 2),
            this.#backoffMax,
            (ttl * 1000) / 6,
          );
          this.#datastoreError("renew", e as Error, wait);
          this.#datastoreAnswered(false, e);
        }
      }
    }
  }

  /** backend.setup() again: recreates or brings up the device, turns forwarding back on. */
  #ensureSetup(run?: RunDrift): void {
    try {
      const s = this.#backend!.setup();
      if (run) { for (const k of s.repaired ?? []) addCounts(run.found, { [k]: 1 }); }
      const changed = JSON.stringify(s.backendData) !== JSON.stringify(this.#setup?.backendData) ||
        s.mtu !== this.#setup?.mtu;
      this.#setup = s;
      if (changed) {
        this.#log.warn("backend data or MTU changed; republishing", {
          mtu: s.mtu,
          ...flat(s.backendData),
        });
        this.#renewNow();
        this.#writeFiles();
      }
      if (this.#lastError?.startsWith("setup:")) this.#lastError = undefined;
    } catch (e) {
      this.#lastError = `setup: ${(e as Error).message}`;
      this.#log.error("backend setup failed", { error: e });
      if (run) {
        addCounts(run.found, { device: 1 });
        addCounts(run.left, { device: 1 });
        this.metrics.reconcileErrors.inc({ kind: "device" });
      }
    }
  }

  /**
   * A config reload (SIGHUP, `cfg` already parsed): the backend applies its live settings (bgp:
   * `peers` and their import/export rules) and a reconcile follows. Returns the fields that
   * differ from the running config but need a restart (nothing else changes).
   */
  reload(cfg: DaemonConfig): string[] {
    const restart: string[] = (Object.keys({ ...this.#cfg, ...cfg }) as (keyof DaemonConfig)[])
      .filter((k) => k !== "backend" && !sameJson(cfg[k], this.#cfg[k]));
    const b = this.#backend;
    const { type: _t, ...rest } = cfg.backend;
    const { type: _o, ...was } = this.#cfg.backend;
    if (cfg.backend.type !== this.#cfg.backend.type || (!b?.reload && !sameJson(rest, was))) {
      restart.push("backend");
    } else if (b?.reload) {
      restart.push(...b.reload(backendSettings(cfg.backend)).map((k) => `backend.${k}`));
      const own = { ...backendSettings(cfg.backend), ...backendSettings(this.#cfg.backend) };
      for (const k of Object.keys({ ...rest, ...was })) {
        const key = k as keyof typeof rest;
        if (!(k in own) && !sameJson(rest[key], was[key])) restart.push(`backend.${k}`);
      }
      this.#request("reload");
    }
    return restart;
  }

  /** What a backend or datastore gets from start(): its way to ask for a reconcile. */
  #host(trigger: "backend" | "datastore", signal: AbortSignal): LifecycleHost {
    return {
      signal,
      requestReconcile: (reason) => {
        this.#log.debug("reconcile requested", { by: trigger, reason });
        this.#request(trigger);
      },
      log: (level, msg, fields) => this.#log[level](msg, { by: trigger, ...fields }),
    };
  }

  /** close() of the backend (its sockets, workers); the dataplane stays. */
  async #closeBackend(): Promise<void> {
    try {
      await this.#backend?.close?.();
    } catch (e) {
      this.#log.warn("cannot close the backend", { error: e });
    }
  }

  /** Asks for a coalesced reconcile on behalf of `trigger`. */
  #request(trigger: string): void {
    this.#pendingTrigger ??= trigger;
    this.#events.request();
  }

  /** What kernel notifications are about that matters to the plan (see _kernel_events.ts). */
  #watched(): WatchedObjects {
    const up = this.#uplink!;
    const w: WatchedObjects = {
      uplink: { name: up.name, index: up.index },
      routesTo: (dst) => this.#routed.has(dst),
    };
    if (this.#setup?.device) w.device = this.#setup.device;
    return w;
  }

  /** Kernel notifications that matter ask for a reconcile (and, on the uplink, a new look at it). */
  #kernelLoop(signal: AbortSignal): Promise<void> {
    const open = this.#d.openMonitor;
    if (!open) return Promise.resolve();
    return watchKernel({
      open,
      watched: () => this.#watched(),
      onEvents: (why) => {
        if (why.has("addr") || why.has("link") || why.has("lost")) this.#checkUplink();
        this.#request("kernel");
      },
      log: this.#log,
      signal,
    });
  }

  /** Rewrites a removed or changed lease file at once (inotify on the files' directories). */
  #fileLoop(signal: AbortSignal): Promise<void> {
    if (this.#d.watchLeaseFiles === false) return Promise.resolve();
    return watchFiles({
      files: [this.#cfg.leaseFile, this.#cfg.subnetEnv],
      onChange: () => this.#request("file"),
      log: this.#log,
      signal,
    });
  }

  async #timerLoop(signal: AbortSignal): Promise<void> {
    const sleeper = new Sleeper();
    while (!signal.aborted) {
      await sleeper.sleep(this.#cfg.reconcileInterval * 1000, signal);
      if (signal.aborted) return;
      this.#checkUplink(); // in case a kernel notification was missed
      if (signal.aborted) return;
      this.reconcile("timer");
    }
  }
}

function flat(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(o).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v]),
  );
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
