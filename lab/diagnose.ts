/**
 * `skein lab diagnose FROM TO`: diagnoses a pod pair of a running lab with direct access to
 * both nodes (their namespaces, lease files, IPAM directories and daemons), merging what each
 * node shows into one report.
 *
 * @module
 */
import {
  type DiagnoseOptions,
  type KnownPod,
  kubeconfigFor,
  lookupPodNames,
  type NodeView,
  readStore,
  type Report,
  resolveEndpoint,
  runPairDiagnosis,
} from "../diagnose/mod.ts";
import { Kernel } from "../diagnose/kernel.ts";
import { findNetnsOf } from "../diagnose/endpoint.ts";
import { nodeHostPath } from "./k8s/types.ts";
import { runForwarder } from "./forward.ts";
import { tunnelFacts } from "../diagnose/tunnel_facts.ts";
import { LAB_ROOT, type NodePlan } from "./plan.ts";
import { kubePaths } from "./kube.ts";
import { labDatastoreSection, labKubeDir } from "./store.ts";
import { type Lab, loadLab } from "./up.ts";
import { labInfraFamily } from "./diagnose_infra.ts";

/** The IPAM network name the lab's pods are attached with (podNetconf's "name"). */
const LAB_CNI_NETWORK = "skein-lab";

/** A lab that does not exist (exit code 2 in the CLI). */
export class NoLabError extends Error {
  constructor(name: string) {
    super(`no lab "${name}" (no ${LAB_ROOT}/${name}/lab.json)`);
    this.name = "NoLabError";
  }
}

/**
 * A lab without skein's network (`lab up --kubernetes --cni reference`: the reference bridge and
 * host-local plugins with static host-gw routes): no daemon, lease or tunnel for the checks to
 * judge, so it is refused rather than reported as a dozen failures (exit code 2 in the CLI).
 */
export class NotSkeinLabError extends Error {
  constructor(name: string) {
    super(
      `lab "${name}" runs the reference CNI plugins (bridge + host-local, static host-gw routes), ` +
        "not skein: there is no skein daemon, lease or tunnel to diagnose (a lab up without " +
        "--cni reference has them)",
    );
    this.name = "NotSkeinLabError";
  }
}

function nodeView(lab: Lab, n: NodePlan): NodeView {
  const o = lab.plan.options;
  const d = lab.state.daemons.find((x) => x.node === n.name);
  return {
    name: n.name,
    nodeName: n.nodeName,
    kernel: new Kernel(`/run/netns/${n.netns}`),
    facts: {
      backend: o.backend,
      vni: 1,
      ...tunnelFacts({
        type: o.backend,
        directRouting: o.directRouting,
        encapsulation: o.bgp?.encapsulation,
        crossSubnet: o.bgp?.crossSubnet,
      }),
      iface: "eth0",
      network: o.network,
      leaseFile: n.leaseFile,
      ipamDir: `${n.ipamDir}/${LAB_CNI_NETWORK}`,
      bridge: "cni0",
      ...(d ? { listen: d.listen, daemonPid: { pid: d.pid, marker: n.configFile } } : {}),
      logFile: n.logFile,
      configFile: n.configFile,
    },
  };
}

/**
 * A Kubernetes lab's node (`lab up --kubernetes`): skein runs as the DaemonSet's pod, so its
 * lease file and IPAM directory are the node's own /run/skein/subnet.json and
 * /var/lib/cni/networks/skein (under `<node dir>/fs`), and its daemon answers only on the
 * node's loopback.
 */
function kubeNodeView(lab: Lab, n: NodePlan): NodeView {
  const v = nodeView(lab, n);
  const { logFile: _l, configFile: _c, ...facts } = v.facts;
  v.facts = {
    ...facts,
    leaseFile: nodeHostPath(n, "/run/skein/subnet.json"),
    ipamDir: nodeHostPath(n, "/var/lib/cni/networks/skein"),
  };
  v.unreachable = `${n.name}'s daemon runs in its skein DaemonSet pod and listens on the ` +
    `node's ${KUBE_DAEMON_LISTEN.address}:${KUBE_DAEMON_LISTEN.port} only`;
  return v;
}

/** Where the DaemonSet's daemon listens (deploy/kubernetes/skein.yaml's daemon.yaml), per node. */
const KUBE_DAEMON_LISTEN = { address: "127.0.0.1", port: 9472 };

/**
 * Makes each Kubernetes node's daemon askable from here: a loopback forwarder in this process
 * (lab/forward.ts) whose connections are made from inside the node's namespace to the daemon's
 * own loopback address, as `kubectl -n skein exec POD -- wget 127.0.0.1:9472/...` would reach
 * it. Returns the function that stops them.
 */
async function forwardToDaemons(lab: Lab, views: NodeView[]): Promise<() => void> {
  const stop = new AbortController();
  await Promise.all(lab.plan.nodes.map((n, i) =>
    new Promise<void>((listening) => {
      runForwarder({
        listen: { hostname: "127.0.0.1", port: 0 },
        netns: `/run/netns/${n.netns}`,
        target: KUBE_DAEMON_LISTEN,
        signal: stop.signal,
        onListening: (addr) => {
          views[i]!.facts.listen = addr;
          delete views[i]!.unreachable;
          listening();
        },
      }).catch(() => listening());
    })
  ));
  return () => stop.abort();
}

/**
 * The network namespace of a Kubernetes pod at `ip` on its node: CRI's cni-* namespaces live
 * in the node's mount namespace, seen through its kubelet's /proc/PID/root/run/netns.
 */
function kubePodNetns(lab: Lab, pod: KnownPod): string | undefined {
  const i = lab.plan.nodes.findIndex((n) => n.nodeName === pod.node);
  const node = lab.plan.nodes[i];
  const pid = lab.state.kube?.nodes.find((x) => x.node === node?.name)?.kubelet;
  if (pid === undefined || !node) return undefined;
  // Another lab's pods may hold the same address: only a namespace wired to this node counts.
  return findNetnsOf(pod.ip, new Set(), {
    dir: `/proc/${pid}/root/run/netns`,
    prefix: "cni-",
    node: { netns: `/run/netns/${node.netns}` },
  });
}

/** The daemon's process state letter ("T": stopped), so a stopped daemon is not asked (it would hang). */
function stopped(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const s = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return s === "T" || s === "t";
  } catch {
    return false;
  }
}

/**
 * Where the lab's Kubernetes pods (`namespace/pod`) are looked up: the lab's admin kubeconfig
 * when it runs a control plane, else as kubectl would (`$KUBECONFIG`, `~/.kube/config`).
 */
function labKubeconfig(lab: Lab): string | undefined {
  const admin = kubePaths(labKubeDir(lab.plan)).admin;
  try {
    if (Deno.statSync(admin).isFile) return admin;
  } catch { /* no control plane */ }
  return kubeconfigFor(undefined);
}

/** Collects what the lab's nodes show for FROM -> TO and runs every check. */
export async function labDiagnose(
  name: string,
  from: string,
  to: string,
  options: Partial<DiagnoseOptions> = {},
  root: string = LAB_ROOT,
): Promise<Report> {
  const started = performance.now();
  const lab = loadLab(name, root);
  if (!lab) throw new NoLabError(name);
  if (lab.plan.options.cni === "reference") throw new NotSkeinLabError(name);
  const opts: DiagnoseOptions = { probe: false, trace: false, timeoutMs: 2000, ...options };
  const section = labDatastoreSection(lab.plan, "admin");
  const store = await readStore({ ...section, type: String(section.type) }, opts.timeoutMs);
  const kube = lab.plan.options.kubernetes === true;
  const all = lab.plan.nodes.map((n) => kube ? kubeNodeView(lab, n) : nodeView(lab, n));
  const stopForwarders = kube ? await forwardToDaemons(lab, all) : () => {};
  try {
    for (const v of all) {
      const l = store.leases?.find((x) => x.node === v.nodeName);
      if (l) v.lease = l;
    }
    // Each pod's node from the lab's own records: it stays known when no lease covers the pod.
    const nodeOf = (p: { node: string }) => lab.plan.nodes.find((n) => n.name === p.node)?.nodeName;
    const pods: KnownPod[] = lab.state.pods.filter((p) => p.ip).map((p) => ({
      name: p.name,
      ip: p.ip!,
      netns: `/run/netns/${p.netns}`,
      containerId: p.containerId,
      ...(nodeOf(p) ? { node: nodeOf(p) } : {}),
    }));
    for (const p of await lookupPodNames([from, to], labKubeconfig(lab), opts)) {
      const netns = kube ? kubePodNetns(lab, p) : undefined;
      pods.push(netns ? { ...p, netns } : p);
    }
    const a = resolveEndpoint(from, { nodes: all, pods });
    const b = resolveEndpoint(to, { nodes: all, pods });
    const nodes = [...new Set([a.node, b.node].filter((x) => x !== undefined))] as NodeView[];
    return await runPairDiagnosis({
      from: a,
      to: b,
      nodes,
      store,
      options: opts,
      daemonTimeoutMs: 2000,
      // A stopped daemon would only time out; daemon.running names it.
      skipDaemon: (n) => n.facts.daemonPid !== undefined && stopped(n.facts.daemonPid.pid),
      // The lab's segments and router are namespaces too: the network between the nodes.
      extraFamilies: [labInfraFamily(lab)],
      started,
    });
  } finally {
    stopForwarders();
    for (const v of all) v.kernel?.close();
  }
}
