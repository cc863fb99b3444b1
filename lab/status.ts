/**
 * `skein lab status`: nodes, leases, pods and daemon health of a lab, from lab.json plus live
 * checks (namespaces, processes, /readyz, the datastore, skein's routes in each node).
 *
 * @module
 */
import { netnsExists, openHandle, SKEIN_ROUTE_PROTOCOL } from "../net/mod.ts";
import { RTPROT_BGP } from "../net/types.ts";
import { tryReadLeaseFile } from "../node/lease_file.ts";
import type { Lease } from "../store/types.ts";
import { processAlive } from "./_proc.ts";
import { probe } from "./daemons.ts";
import { LAB_ROOT, type LabPlan } from "./plan.ts";
import { openLabStore } from "./store.ts";
import { loadLab } from "./up.ts";
import { mountNsId } from "./k8s/mount_ns.ts";
import { runsInMountNs } from "./k8s/node_runtime.ts";
import { nodeHostPath } from "./k8s/types.ts";

/** One node's live status. */
export interface NodeStatus {
  name: string;
  netns: string;
  netnsExists: boolean;
  ip: string;
  daemon?: { pid: number; listen: string; running: boolean; ready: boolean; readyz: string };
  /** This node's lease file (what the daemon told the CNI plugin). */
  leaseFile?: { subnet?: string; mtu?: number };
  /** Routes tagged proto 100 in the node. */
  skeinRoutes?: number;
  /** A Kubernetes lab's node runtime (skein itself runs in its DaemonSet: kubectl shows it). */
  runtime?: { kubelet?: ProcessRun; containerd?: ProcessRun };
}

/** A process of a node and whether it still runs. */
export interface ProcessRun {
  pid: number;
  running: boolean;
}

/** One of the lab's wiring namespaces (a segment or the router) and whether it exists. */
export interface WireStatus {
  netns: string;
  /** "192.168.77.0/24 (n1, n3)" for a segment, "router" for the router. */
  what: string;
  exists: boolean;
}

/** A lab's live status. */
export interface LabStatus {
  name: string;
  phase: string;
  /** "one-subnet" or "two-subnets". */
  topology?: string;
  /** The segments' and router's namespaces (absent in an old status). */
  wires?: WireStatus[];
  backend: string;
  datastore: string;
  createdAt: string;
  nodes: NodeStatus[];
  leases: Lease[];
  leaseError?: string;
  pods: { name: string; node: string; ip?: string; netnsExists: boolean }[];
  processes: { name: string; pid: number; running: boolean; url?: string }[];
}

/** Reads lab `name`'s state and checks everything live; undefined when there is no such lab. */
export async function labStatus(
  name: string,
  root: string = LAB_ROOT,
): Promise<LabStatus | undefined> {
  const lab = loadLab(name, root);
  if (!lab) return undefined;
  const { plan, state } = lab;
  const nodes = await Promise.all(plan.nodes.map(async (n): Promise<NodeStatus> => {
    const s: NodeStatus = {
      name: n.name,
      netns: n.netns,
      netnsExists: netnsExists(n.netns),
      ip: n.ip,
    };
    const d = state.daemons.find((x) => x.node === n.name);
    if (d) {
      const running = processAlive(d.pid, n.configFile);
      const h = running ? await probe(d.listen) : { ok: false, body: "not running" };
      s.daemon = {
        pid: d.pid,
        listen: d.listen,
        running,
        ready: h.ok,
        readyz: h.body.split("\n")[0] ?? "",
      };
    }
    const rec = state.kube?.nodes.find((x) => x.node === n.name);
    if (rec) {
      const id = mountNsId(rec.mountNs);
      const run = (pid?: number) =>
        pid === undefined ? undefined : { pid, running: runsInMountNs(pid, id) };
      s.runtime = { kubelet: run(rec.kubelet), containerd: run(rec.containerd) };
    }
    // A Kubernetes lab's daemon writes the lease file at the node's own /run/skein.
    const leaseFile = rec ? nodeHostPath(n, "/run/skein/subnet.json") : n.leaseFile;
    const lease = tryReadLeaseFile(leaseFile); // undefined: not written yet
    if (lease) s.leaseFile = { subnet: lease.subnet, mtu: lease.mtu };
    if (s.netnsExists) {
      try {
        using h = openHandle({ netns: `/run/netns/${n.netns}` });
        // A bgp node's routes are its speaker's (proto bgp), not the reconciler's.
        const protocol = lab.plan.options.backend === "bgp" ? RTPROT_BGP : SKEIN_ROUTE_PROTOCOL;
        s.skeinRoutes = h.routeList({ protocol }).length;
      } catch { /* leave unknown */ }
    }
    return s;
  }));
  let leases: Lease[] = [];
  let leaseError: string | undefined;
  try {
    leases = await listLeases(lab.plan);
  } catch (e) {
    leaseError = (e as Error).message;
  }
  return {
    name,
    phase: state.phase,
    topology: state.options.topology ?? "one-subnet",
    wires: wiresOf(plan),
    backend: state.options.backend,
    datastore: state.options.datastore,
    createdAt: state.createdAt,
    nodes,
    leases,
    leaseError,
    pods: state.pods.map((p) => ({
      name: p.name,
      node: p.node,
      ip: p.ip,
      netnsExists: netnsExists(p.netns),
    })),
    processes: state.processes.map((p) => ({
      name: p.name,
      pid: p.pid,
      running: processAlive(p.pid, p.dir ?? String(p.pid)),
      url: p.url,
    })),
  };
}

/** The segments (with their nodes) and the router, each with whether its namespace exists. */
function wiresOf(plan: LabPlan): WireStatus[] {
  const out: WireStatus[] = plan.segments.map((seg) => ({
    netns: seg.netns,
    what: `${seg.network} (${
      plan.nodes.filter((n) => n.segment.netns === seg.netns).map((n) => n.name).join(", ")
    })`,
    exists: netnsExists(seg.netns),
  }));
  if (plan.controlPlane) {
    const cp = plan.controlPlane;
    const what =
      `control plane eth0 ${cp.cidr}, kube-apiserver https://${cp.ip}:${cp.apiserverPort}`;
    out.push({ netns: cp.netns, what, exists: netnsExists(cp.netns) });
  }
  if (plan.router) {
    const r = plan.router;
    const what = `router ${r.ports.map((p) => `${p.name} ${p.cidr}`).join(", ")}`;
    out.push({ netns: r.netns, what, exists: netnsExists(r.netns) });
  }
  return out;
}

async function listLeases(plan: LabPlan): Promise<Lease[]> {
  const store = openLabStore(plan);
  try {
    return (await store.list()).leases;
  } finally {
    await store.close();
  }
}

/** Renders a status as text. */
export function formatStatus(s: LabStatus): string {
  const lines: string[] = [];
  // The phase is how far "lab up" got; a built lab with something down says so at once.
  const phase = s.phase === "ready" && !statusHealthy(s) ? "ready but DEGRADED (below)" : s.phase;
  lines.push(
    `lab ${s.name}: ${phase}, backend ${s.backend}, datastore ${s.datastore}, created ${s.createdAt}`,
  );
  if (s.wires?.length) {
    lines.push(`topology ${s.topology ?? "one-subnet"}:`);
    for (const w of s.wires) {
      lines.push(`  ${w.netns.padEnd(20)}  ${w.what}${w.exists ? "" : "  (namespace GONE)"}`);
    }
  }
  lines.push("");
  lines.push("NODE  NAMESPACE             ADDRESS         SUBNET            ROUTES  DAEMON");
  for (const n of s.nodes) {
    const daemon = n.runtime
      ? runtimeText(n.runtime)
      : !n.daemon
      ? "not started"
      : !n.daemon.running
      ? `pid ${n.daemon.pid} NOT RUNNING`
      : `pid ${n.daemon.pid} ${
        n.daemon.ready ? "ready" : `NOT READY (${n.daemon.readyz})`
      } http://${n.daemon.listen}`;
    lines.push(
      [
        n.name.padEnd(4),
        (n.netns + (n.netnsExists ? "" : " (gone)")).padEnd(20),
        n.ip.padEnd(14),
        (n.leaseFile?.subnet ?? "-").padEnd(16),
        String(n.skeinRoutes ?? "-").padStart(6),
        daemon,
      ].join("  "),
    );
  }
  lines.push("");
  if (s.leaseError) {
    lines.push(`leases: ${s.leaseError}`);
  } else {
    lines.push(`leases in the datastore (${s.leases.length}):`);
    for (const l of s.leases) {
      const data = l.backendData && Object.keys(l.backendData).length
        ? ` ${JSON.stringify(l.backendData)}`
        : "";
      lines.push(
        `  ${l.subnet.padEnd(16)}  ${l.node.padEnd(12)}  ${
          l.publicIP.padEnd(14)
        }  ${l.backendType}${data}  expires ${l.expiration}`,
      );
    }
  }
  lines.push("");
  lines.push(`pods (${s.pods.length}):`);
  for (const p of s.pods) {
    const gone = p.netnsExists ? "" : "  (namespace gone)";
    lines.push(`  ${p.name.padEnd(8)}  node ${p.node.padEnd(4)}  ${p.ip ?? "-"}${gone}`);
  }
  for (const p of s.processes) {
    lines.push(
      `${p.name}: pid ${p.pid} ${p.running ? "running" : "NOT RUNNING"}${p.url ? ` ${p.url}` : ""}`,
    );
  }
  return lines.join("\n");
}

/** "kubelet pid 1 running, containerd pid 2 NOT RUNNING". */
function runtimeText(r: NonNullable<NodeStatus["runtime"]>): string {
  const one = (what: string, p?: ProcessRun) =>
    p ? `${what} pid ${p.pid} ${p.running ? "running" : "NOT RUNNING"}` : `${what} not started`;
  return `${one("kubelet", r.kubelet)}, ${one("containerd", r.containerd)}`;
}

/** A node's own processes are up: its daemon ready, or a Kubernetes node's kubelet and containerd. */
function nodeUp(n: NodeStatus): boolean {
  if (n.runtime) {
    return n.runtime.kubelet?.running === true && n.runtime.containerd?.running === true;
  }
  return n.daemon?.running === true && n.daemon.ready;
}

/**
 * True when every node's processes run (a daemon ready, or a Kubernetes node's kubelet and
 * containerd) and every namespace exists.
 */
export function statusHealthy(s: LabStatus): boolean {
  return s.nodes.every((n) => n.netnsExists && nodeUp(n)) &&
    s.pods.every((p) => p.netnsExists) && s.processes.every((p) => p.running) &&
    (s.wires ?? []).every((w) => w.exists);
}
