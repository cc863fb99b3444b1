/**
 * `skein daemon`: the node agent. Parses the config, wires the real datastore, netlink handle
 * and backend into daemon/daemon.ts, serves /healthz /readyz /metrics, and stops cleanly on
 * SIGTERM/SIGINT leaving the dataplane in place.
 *
 * @module
 */
import {
  ConfigError,
  type DaemonConfig,
  loadConfig,
  parseDaemonArgs,
  renewOnWorker,
} from "../daemon/config.ts";
import { configHelp } from "../daemon/config_help.ts";
import { NodeDaemon } from "../daemon/daemon.ts";
import { buildDebugState } from "../daemon/debug_state.ts";
import { serveHealth } from "../daemon/http.ts";
import { createLogger, type Logger } from "../daemon/log.ts";
import { createDaemonMetrics, type DaemonMetrics } from "../daemon/metrics.ts";
import { workerRenewer } from "../daemon/renewer.ts";
import { lockNode, type NodeLock, NodeLockedError } from "../daemon/node_lock.ts";
import { removeAbandonedTemps } from "../node/atomic_write.ts";
import type { LeaseStore } from "../store/types.ts";
import { RESTORED_WARNING } from "../store/flannel.ts";

/** `skein daemon --help` (the flags and fields come from the config tables). */
const help = () =>
  `skein daemon: lease this node's pod subnet and program routes to every other node

Usage:
  skein daemon --config FILE [flags]
  skein daemon --network 10.244.0.0/16 --backend vxlan [flags]

${configHelp()}

Endpoints: GET /healthz (alive), /readyz (200 when the lease is held, every lease known at the
first datastore list is programmed, the lease file is written, the kernel has not differed from
the plan for longer than driftGrace and the datastore answers; else 503 naming every reason;
?subnets=A,B also waits for routes to those subnets), /metrics (Prometheus text), /debug/state
(read-only JSON for "skein diagnose": desired and owned routes, sysctls, health, last reconcile;
no secrets).
SIGHUP reads the config again: the backend applies what it can live (bgp: peers and their
import/export rules; a changed import rule sends ROUTE-REFRESH), other changes are logged as
needing a restart; a config that does not parse changes nothing.
Exit codes: 0 stopped by a signal, 1 runtime failure, 2 bad config or flags.
`;

/** Opens the configured datastore through the datastore table (store/registry.ts). */
async function openStore(
  cfg: DaemonConfig,
  log: Logger,
  metrics: DaemonMetrics,
): Promise<LeaseStore> {
  const { datastoreDefinition } = await import("../store/registry.ts");
  const { type, ...settings } = cfg.datastore;
  return await datastoreDefinition(type)!.open(settings, {
    ttl: cfg.datastore.ttl,
    onWarning: (msg, fields) => {
      if (msg === "skipping bad lease record") metrics.leasesInvalid.inc({ reason: "undecodable" });
      if (msg === RESTORED_WARNING) metrics.leasesInvalid.inc({ reason: "claims-own-subnet" });
      log.warn(msg, fields);
    },
    onError: (e) => {
      metrics.datastoreErrors.inc({ op: "watch" });
      log.warn(`${type} watch interrupted; resuming`, { error: e.message });
    },
  });
}

/** Serves CNI calls on cfg.cniSocket; a failure is logged and plugins run in-process. */
async function startCni(
  cfg: DaemonConfig,
  log: Logger,
): Promise<{ close(): Promise<void> } | undefined> {
  if (cfg.cniSocket === "none") return undefined;
  try {
    const { serveCni } = await import("../daemon/cni_server.ts");
    return serveCni({ socketPath: cfg.cniSocket, hostNetns: cfg.netns, log });
  } catch (e) {
    log.error("cannot serve CNI calls; plugins run in-process", {
      socket: cfg.cniSocket,
      error: e,
    });
    return undefined;
  }
}

type Net = typeof import("../net/mod.ts");

/** The NodeDaemon wired to the real netlink handle, backend table, monitor and renewer. */
async function wireDaemon(
  cfg: DaemonConfig,
  net: Net,
  store: LeaseStore,
  log: Logger,
  metrics: DaemonMetrics,
): Promise<NodeDaemon> {
  const backends = await import("../backends/mod.ts");
  const ns = cfg.netns ? { netns: cfg.netns } : {};
  return new NodeDaemon({
    config: cfg,
    store,
    openHandle: () => net.openHandle(ns),
    createBackend: backends.createBackend,
    ensureMasquerade: backends.ensureMasquerade,
    // Batches of 256: the daemon handles each before decoding the next (see maxBatch).
    ...(cfg.kernelEvents
      ? { openMonitor: () => net.KernelMonitor.open({ ...ns, maxBatch: 256 }) }
      : {}),
    ...(renewOnWorker(cfg)
      ? {
        openRenewer: () =>
          workerRenewer({ datastore: cfg.datastore, backoff: { minMs: 500, maxMs: 30_000 } }),
      }
      : {}),
    probeNode: (ip: string) => net.pingOnce({ ...ns, ip, timeoutMs: 1000 }),
    log,
    metrics,
  });
}

/** Serves /healthz /readyz /metrics /debug/state for `daemon` on cfg.listen. */
function startHealth(
  cfg: DaemonConfig,
  net: Net,
  daemon: NodeDaemon,
  metrics: DaemonMetrics,
): { addr: string; shutdown(): Promise<void> } {
  const ns = cfg.netns ? { netns: cfg.netns } : {};
  return serveHealth({
    listen: cfg.listen,
    readiness: () => daemon.readiness(),
    metrics: () => metrics.registry.render(),
    debugState: () => {
      using h = net.openHandle(ns);
      return buildDebugState(daemon.debugInfo(), {
        handle: h,
        sysctl: (key) => {
          try {
            return net.sysctlGet(key, ns);
          } catch {
            return undefined;
          }
        },
      });
    },
  });
}

/** Parses flags and config: the config, or the exit code (help printed, or a ConfigError). */
async function parseMain(
  args: string[],
): Promise<{ cfg: DaemonConfig; dry?: { json: boolean } } | number> {
  try {
    const parsed = parseDaemonArgs(args);
    if (parsed.help) {
      console.log(help());
      return 0;
    }
    const cfg = await loadConfig(parsed);
    return parsed.dryRun ? { cfg, dry: { json: parsed.json === true } } : { cfg };
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`skein daemon: ${e.message}\nRun "skein daemon --help" for the options.`);
      return 2;
    }
    throw e;
  }
}

/** `skein daemon [flags]`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = await parseMain(args);
  if (typeof parsed === "number") return parsed;
  const { cfg, dry } = parsed;
  if (dry) return await dryRunMain(cfg, dry.json);
  const log = createLogger(cfg.logLevel);
  const metrics = createDaemonMetrics();
  const ac = new AbortController();
  const onSignal = (sig: string) => () => {
    if (ac.signal.aborted) return;
    log.info("signal received; stopping", { signal: sig });
    ac.abort();
  };
  const sigterm = onSignal("SIGTERM");
  const sigint = onSignal("SIGINT");
  Deno.addSignalListener("SIGTERM", sigterm);
  Deno.addSignalListener("SIGINT", sigint);
  let daemonRef: NodeDaemon | undefined;
  const sighup = () => void reload(args, daemonRef, log);
  Deno.addSignalListener("SIGHUP", sighup);

  let store: LeaseStore | undefined;
  let server: { addr: string; shutdown(): Promise<void> } | undefined;
  let cni: { close(): Promise<void> } | undefined;
  let lock: NodeLock | undefined;
  try {
    lock = await takeNodeLock(cfg, log);
    if (!lock) return 1;
    // This daemon is the lease files' only writer now: what a killed one left half-written goes.
    const left = [cfg.leaseFile, cfg.subnetEnv].flatMap((p) => removeAbandonedTemps(p));
    if (left.length) {
      log.info("removed temporary files a killed daemon left", { files: left.join(",") });
    }
    const net = await import("../net/mod.ts");
    store = await openStore(cfg, log, metrics);
    const daemon = await wireDaemon(cfg, net, store, log, metrics);
    daemonRef = daemon;
    try {
      server = startHealth(cfg, net, daemon, metrics);
    } catch (e) {
      log.error("cannot listen", { listen: cfg.listen, error: e });
      return 1;
    }
    log.info("serving health and metrics", { listen: server.addr });
    cni = await startCni(cfg, log);
    await daemon.run(ac.signal);
    return ac.signal.aborted ? 0 : 1;
  } catch (e) {
    log.error("daemon failed", { error: e, kind: (e as Error).name });
    return 1;
  } finally {
    Deno.removeSignalListener("SIGTERM", sigterm);
    Deno.removeSignalListener("SIGINT", sigint);
    Deno.removeSignalListener("SIGHUP", sighup);
    await cni?.close();
    await server?.shutdown();
    await store?.close();
    lock?.release();
  }
}

/**
 * One daemon per node (daemon/node_lock.ts): undefined (logged) when another daemon holds the
 * lock. A lock file that cannot be made (a read-only or full state directory) does not stop the
 * node: it runs without the lock, with a warning.
 */
async function takeNodeLock(cfg: DaemonConfig, log: Logger): Promise<NodeLock | undefined> {
  const path = `${cfg.stateDir.replace(/\/+$/, "")}/daemon.lock`;
  try {
    return await lockNode(path);
  } catch (e) {
    if (e instanceof NodeLockedError) {
      log.error("another skein daemon runs for this node; not starting", { path, error: e });
      return undefined;
    }
    log.warn("cannot take the node lock; running without it", { path, error: e });
    return { path, release: () => {} };
  }
}

/**
 * SIGHUP: reads the config again (same flags and file); a config that does not parse changes
 * nothing. The backend applies what it can live (bgp: peers and their import/export rules,
 * ROUTE-REFRESH for a changed import rule); other changed fields are logged: restart to apply.
 */
async function reload(args: string[], daemon: NodeDaemon | undefined, log: Logger): Promise<void> {
  if (!daemon) return;
  try {
    const cfg = await loadConfig(parseDaemonArgs(args));
    const restart = daemon.reload(cfg);
    log.info("config reloaded", {
      ...(restart.length ? { needRestart: restart.join(",") } : {}),
    });
  } catch (e) {
    log.error("config reload refused; the running config stays", { error: e });
  }
}

/**
 * `skein daemon --dry-run [--json]`: prints daemon/dry_run.ts's report; 0 when it could be
 * computed, 1 when not (no uplink, datastore unreachable, ...).
 */
async function dryRunMain(cfg: DaemonConfig, json: boolean): Promise<number> {
  const log = createLogger("warn");
  let store: LeaseStore | undefined;
  try {
    const net = await import("../net/mod.ts");
    const backends = await import("../backends/mod.ts");
    const { dryRun, dryRunJson, formatDryRun } = await import("../daemon/dry_run.ts");
    // The file store creates its directory when opened: a missing one holds no lease anyway.
    const fileless = cfg.datastore.type === "file" && !exists(`${cfg.datastore.dir}/subnets`);
    if (!fileless) store = await openStore(cfg, log, createDaemonMetrics());
    const report = await dryRun({
      config: cfg,
      store,
      openHandle: () => net.openHandle(cfg.netns ? { netns: cfg.netns } : {}),
      createBackend: backends.createBackend,
    });
    console.log(json ? JSON.stringify(dryRunJson(report), null, 2) : formatDryRun(report));
    return 0;
  } catch (e) {
    console.error(`skein daemon --dry-run: ${(e as Error).message}`);
    return 1;
  } finally {
    await store?.close();
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
