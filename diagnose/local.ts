/**
 * `skein diagnose` on a node: the local node is inspected directly (its namespace, lease file,
 * IPAM directory, daemon); every other node is known from its lease in the datastore and, when
 * its daemon listens on an address this node can reach, from its `/debug/state`.
 *
 * @module
 */
import type { Lease } from "../store/types.ts";
import { findSkeinNetwork } from "./cni_conf.ts";
import type { DiagnoseOptions, Diagnosis, NodeFacts, NodeView } from "./context.ts";
import { writeBundle } from "./bundle.ts";
import { askDaemon } from "./daemon_client.ts";
import { resolveEndpoint } from "./endpoint.ts";
import { lookupPodNames } from "./pod_names.ts";
import { Kernel } from "./kernel.ts";
import type { Report } from "./check.ts";
import { runDiagnosis, runPairDiagnosis } from "./run.ts";
import { readStore, type StoreSpec } from "./store_read.ts";
import { tunnelFacts, type TunnelSettings } from "./tunnel_facts.ts";

/** What diagnose takes from the daemon's config (cmd/diagnose.ts maps DaemonConfig to this). */
export interface LocalSetup {
  /** The node name (the daemon's `name`). */
  name: string;
  /** The node's network namespace (name under /run/netns or a path); undefined: this one. */
  netns?: string;
  backend: TunnelSettings & { vni?: number };
  network?: string;
  iface?: string;
  /** The node IP the config sets (`publicIP`), if it sets one. */
  publicIP?: string;
  /** The daemon's health address. */
  listen: string;
  leaseFile: string;
  datastore: StoreSpec;
  /** Where to look for the skein CNI config (default /etc/cni/net.d). */
  cniConfDir?: string;
  /** The daemon config file diagnose read (copied, redacted, into the bundle). */
  configFile?: string;
  /** The kubeconfig pod names (`namespace/pod`) are looked up with (pod_names.ts kubeconfigFor). */
  kubeconfig?: string;
}

/** How long a daemon may take to answer (a loaded node answers late; a stopped one never). */
const DAEMON_TIMEOUT_MS = 2000;

function facts(s: LocalSetup, backend: string): NodeFacts {
  const f: NodeFacts = {
    backend,
    vni: s.backend.vni ?? 1,
    ...tunnelFacts({ ...s.backend, type: backend }),
    bridge: "cni0",
  };
  if (s.network) f.network = s.network;
  return f;
}

function nsPath(ns: string | undefined): string | undefined {
  if (!ns) return undefined;
  return ns.includes("/") ? ns : `/run/netns/${ns}`;
}

function isLoopback(listen: string): boolean {
  return /^(127\.|\[::1\]|localhost)/.test(listen);
}

/** The local node and a view of every other leased node. */
async function collectNodes(
  s: LocalSetup,
  opts: DiagnoseOptions,
): Promise<{ store: Diagnosis["store"]; local: NodeView; all: NodeView[] }> {
  const store = await readStore(s.datastore, opts.timeoutMs);
  const f = facts(s, s.backend.type);
  if (s.iface) f.iface = s.iface;
  if (s.publicIP) f.publicIP = s.publicIP;
  f.leaseFile = s.leaseFile;
  f.listen = s.listen;
  if (s.configFile) f.configFile = s.configFile;
  const cni = findSkeinNetwork(s.cniConfDir);
  if (cni) {
    f.ipamDir = cni.ipamDir;
    f.bridge = cni.bridge;
    f.gatewayOnBridge = cni.gatewayOnBridge;
  }
  const local: NodeView = {
    name: s.name,
    nodeName: s.name,
    kernel: new Kernel(nsPath(s.netns)),
    facts: f,
  };
  const mine = store.leases?.find((l) => l.node === s.name);
  if (mine) local.lease = mine;
  const all = [local];
  for (const l of store.leases ?? []) {
    if (l.node === s.name) continue;
    all.push(remoteView(s, l));
  }
  return { store, local, all };
}

function remoteView(s: LocalSetup, l: Lease): NodeView {
  const v: NodeView = { name: l.node, nodeName: l.node, facts: facts(s, l.backendType), lease: l };
  const port = s.listen.slice(s.listen.lastIndexOf(":") + 1);
  if (isLoopback(s.listen)) {
    v.unreachable =
      `daemons listen on ${s.listen} (loopback): ${l.node}'s /debug/state cannot be asked from here`;
  } else {
    v.facts.listen = `${l.publicIP}:${port}`;
  }
  return v;
}

/** Diagnoses FROM -> TO from this node. */
export async function localPairDiagnose(
  s: LocalSetup,
  from: string,
  to: string,
  opts: DiagnoseOptions,
): Promise<Report> {
  const started = performance.now();
  const pods = await lookupPodNames([from, to], s.kubeconfig, { timeoutMs: opts.timeoutMs });
  const { store, local, all } = await collectNodes(s, opts);
  try {
    const a = resolveEndpoint(from, { nodes: all, pods });
    const b = resolveEndpoint(to, { nodes: all, pods });
    const nodes = [
      ...new Set([a.node ?? local, b.node].filter((x) => x !== undefined)),
    ] as NodeView[];
    return await runPairDiagnosis({
      from: a,
      to: b,
      nodes,
      store,
      options: opts,
      daemonTimeoutMs: DAEMON_TIMEOUT_MS,
      started,
    });
  } finally {
    local.kernel?.close();
  }
}

/** Node-wide checks of this node (`skein diagnose --node`). */
export async function localNodeDiagnose(s: LocalSetup, opts: DiagnoseOptions): Promise<Report> {
  const started = performance.now();
  const { store, local } = await collectNodes(s, opts);
  try {
    local.daemon = await askDaemon(s.listen, {
      timeoutMs: Math.min(opts.timeoutMs, DAEMON_TIMEOUT_MS),
      metrics: opts.bundle !== undefined,
    });
    const d: Diagnosis = { nodes: [local], store, options: opts, memo: new Map() };
    const report = await runDiagnosis(d, undefined, started);
    if (opts.bundle) await writeBundle(opts.bundle, d, report);
    return report;
  } finally {
    local.kernel?.close();
  }
}
