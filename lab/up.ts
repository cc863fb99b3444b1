/**
 * `skein lab up`: plan, wires, daemons, pods, connectivity matrix. Every step is recorded in
 * lab.json before (namespaces) or right after (processes) it happens.
 *
 * @module
 */
import { mapLimit, tailFile } from "./_proc.ts";
import { nodeSubnet, startDaemon, waitReady } from "./daemons.ts";
import { startEtcd } from "./etcd.ts";
import { startKube } from "./kube.ts";
import { labKubeDir } from "./store.ts";
import { formatMatrix, type MatrixPod, type MatrixResult, summarize } from "./matrix.ts";
import { pingMatrix } from "./ping.ts";
import {
  type ControlPlanePlan,
  isLabNamespace,
  LAB_ROOT,
  type LabOptions,
  type LabPlan,
  type NodePlan,
  planLab,
} from "./plan.ts";
import { attachPod } from "./pods.ts";
import { type LabState, newLabState, readLabState, writeLabState } from "./state.ts";
import { createControlPlane, createLan, createNode, createPodNetns } from "./topology.ts";
import { freePort } from "./_proc.ts";
import { netnsList } from "../net/mod.ts";
import { backendDefinition } from "../backends/registry.ts";
import { startNodeRuntimes, waitNodesRegistered } from "./k8s/cluster.ts";
import {
  checkComponents,
  KUBE_BINARIES,
  kubeBinary,
  startControllers,
} from "./k8s/control_plane.ts";
import type { KubeLab } from "./k8s/types.ts";
import { installCni } from "./k8s/install.ts";
import { checkPodNetwork } from "./k8s/pods.ts";
import { buildNodeImages, importNodeImages } from "./k8s/node_images.ts";

/** Progress output (stderr lines in the CLI). */
export type Progress = (message: string) => void;

/** A lab that exists already (or its leftovers). */
export class LabExistsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LabExistsError";
  }
}

/** `lab up` was interrupted (its signal aborted): it stops at its next step. */
export class LabInterruptedError extends Error {
  constructor(name: string) {
    super(`lab "${name}": building was interrupted`);
    this.name = "LabInterruptedError";
  }
}

/**
 * Creates the lab's state directory, failing when it exists: two `lab up` of one name at once
 * both pass checkNoLab(), only one gets the directory.
 */
function claimStateDir(plan: LabPlan, name: string, root: string): void {
  Deno.mkdirSync(root, { recursive: true });
  try {
    Deno.mkdirSync(plan.stateDir);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    throw new LabExistsError(
      `lab "${name}" is being built by another "skein lab up" or was left half-made (${plan.stateDir} exists); if none runs, remove it with: skein lab down --name ${name}`,
    );
  }
}

/** A loaded lab: its plan and recorded state, with a saver. */
export interface Lab {
  plan: LabPlan;
  state: LabState;
  save(): void;
}

/** Loads lab `name` from lab.json; undefined when there is none. */
export function loadLab(name: string, root: string = LAB_ROOT): Lab | undefined {
  const file = `${root}/${name}/lab.json`;
  const state = readLabState(file);
  if (!state) return undefined;
  const plan = planLab(state.options, root);
  return { plan, state, save: () => writeLabState(plan.stateFile, state) };
}

/** The pods of a lab as the matrix sees them (those with an address). */
export function matrixPods(state: LabState): MatrixPod[] {
  return state.pods.filter((p) => p.ip).map((p) => ({
    name: p.name,
    ip: p.ip!,
    netnsPath: `/run/netns/${p.netns}`,
  }));
}

/** What labUp() built. */
export interface UpResult {
  lab: Lab;
  /** The cluster of a Kubernetes lab (`--kubernetes`; its pods are not in `pods`, the check's
   * busybox pods are in `results` and `matrixText`). */
  kube?: KubeLab;
  pods: MatrixPod[];
  results: MatrixResult[];
  /** All pairs reachable. */
  ok: boolean;
  /** The printed matrix. */
  matrixText: string;
}

/** Refuses to build over an existing lab or its leftover namespaces. */
function checkNoLab(plan: LabPlan, name: string): void {
  if (readLabState(plan.stateFile)) {
    throw new LabExistsError(
      `lab "${name}" already exists (${plan.stateFile}); remove it with: skein lab down --name ${name}`,
    );
  }
  const leftovers = netnsList().filter((n) => isLabNamespace(name, n));
  if (leftovers.length) {
    throw new LabExistsError(
      `namespaces of a lab "${name}" are left over (${
        leftovers.join(", ")
      }); remove them with: skein lab down --name ${name}`,
    );
  }
}

/** Records a namespace in lab.json before it is created. */
type Recorder = (netns: string) => void;

/** Starts one daemon per node, each recorded as soon as it runs. */
async function startDaemons(lab: Lab, progress: Progress): Promise<void> {
  const { plan, state } = lab;
  for (const node of plan.nodes) {
    const listen = `127.0.0.1:${freePort()}`;
    const pid = await startDaemon(plan, node, listen);
    state.daemons.push({ node: node.name, pid, listen, startedAt: new Date().toISOString() });
    lab.save();
    progress(
      `started daemon for ${node.name} (pid ${pid}, ${state.options.backend}, http://${listen})`,
    );
  }
}

/**
 * Waits until node's daemon is ready. Its port was free when the lab picked it, but another
 * process may bind it first: a daemon that exits with "cannot listen" is started once more on
 * a new port.
 */
async function readyOrRebind(lab: Lab, node: NodePlan, progress: Progress): Promise<void> {
  const d = lab.state.daemons.find((x) => x.node === node.name)!;
  try {
    await waitReady(node, d.pid, d.listen);
  } catch (e) {
    if (!/exited before it was ready/.test((e as Error).message)) throw e;
    if (!/cannot listen/.test(tailFile(node.logFile))) throw e;
    d.listen = `127.0.0.1:${freePort()}`;
    d.pid = await startDaemon(lab.plan, node, d.listen);
    d.startedAt = new Date().toISOString();
    lab.save();
    progress(
      `daemon for ${node.name} lost its port; started again (pid ${d.pid}, http://${d.listen})`,
    );
    await waitReady(node, d.pid, d.listen);
  }
}

/** Waits until every daemon is ready and has routes to every node's subnet. */
async function waitDaemons(lab: Lab, progress: Progress): Promise<void> {
  const { plan, state } = lab;
  const daemonOf = (name: string) => state.daemons.find((x) => x.node === name)!;
  progress("waiting for the daemons to be ready");
  await Promise.all(plan.nodes.map(async (node) => {
    await readyOrRebind(lab, node, progress);
    progress(`daemon ${node.name} ready`);
  }));
  // Ready means "every lease known at my first list is programmed"; a daemon that listed before
  // a later node's lease existed gets it through its watch. Wait until every daemon has
  // routes to every node's subnet, so the lab is complete when `up` says so.
  const subnets = plan.nodes.map((node) => nodeSubnet(node)!); // waitReady() saw each one
  await Promise.all(plan.nodes.map((node) => {
    const d = daemonOf(node.name);
    return waitReady(node, d.pid, d.listen, { subnets: reachableSubnets(plan, node) });
  }));
  if (plan.router && onLinkOnly(plan)) {
    progress(
      `every daemon has routes to the subnets of its own segment; ${plan.options.backend} ` +
        `cannot cross the router ${plan.router.netns} (the daemons skip those nodes with the reason)`,
    );
  } else progress(`every daemon has routes to all ${subnets.length} node subnets`);
}

/** True when the lab's backend reaches only nodes on its own segment (host-gw). */
function onLinkOnly(plan: LabPlan): boolean {
  return backendDefinition(plan.options.backend)?.capabilities.needsOnLinkPeers === true;
}

/**
 * The node subnets `node`'s daemon can route: all of them, or with a backend that needs on-link
 * peers (host-gw) only those of nodes on its own segment (two-subnets).
 */
function reachableSubnets(plan: LabPlan, node: NodePlan): string[] {
  const peers = onLinkOnly(plan)
    ? plan.nodes.filter((n) => n.segment.netns === node.segment.netns)
    : plan.nodes;
  return peers.map((n) => nodeSubnet(n)!);
}

/** Creates every pod's namespace and attaches the pods through the CNI plugin. */
async function attachPods(lab: Lab, record: Recorder, progress: Progress): Promise<void> {
  const { plan, state } = lab;
  const pods = plan.nodes.flatMap((node) => node.pods.map((pod) => ({ node, pod })));
  for (const { pod } of pods) createPodNetns(pod.netns, record);
  if (pods.length) progress(`attaching ${pods.length} pods through the CNI plugin`);
  // Nodes in parallel, each node's pods in order (so p1 gets the first address).
  await mapLimit(plan.nodes, 4, async (node) => {
    for (const pod of node.pods) {
      const ip = await attachPod(node, pod);
      state.pods.push({
        name: pod.name,
        node: node.name,
        netns: pod.netns,
        containerId: pod.containerId,
        ip,
      });
      lab.save();
      progress(`pod ${pod.name} ${ip}`);
    }
  });
  const order = pods.map((p) => p.pod.name);
  state.pods.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}

/** The control-plane namespace, etcd and kube-apiserver in it, and the loopback forwarder. */
async function buildControlPlane(
  lab: Lab,
  cp: ControlPlanePlan,
  record: Recorder,
  progress: Progress,
): Promise<void> {
  const { plan, state } = lab;
  const options = state.options;
  progress(`creating control plane ${cp.netns} (eth0 ${cp.cidr})`);
  createControlPlane(cp, record);
  progress(
    `starting etcd and kube-apiserver in ${cp.netns} (${cp.ip}:${cp.apiserverPort}${
      options.kubernetes ? "" : "; a Node object per lab node"
    })`,
  );
  const cluster = options.kubernetes === true;
  const kube = await startKube(
    labKubeDir(plan),
    { netns: cp.netns, ip: cp.ip, port: cp.apiserverPort },
    {
      network: options.network,
      subnetLen: options.subnetLen,
      backend: { type: options.backend },
    },
    cluster ? [] : plan.nodes.map((n) => n.nodeName),
    (p) => {
      state.processes.push(p);
      lab.save();
    },
    { cluster },
  );
  progress(
    `kube-apiserver ${kube.apiserver.url} in ${cp.netns}, forwarded from ${kube.forwarder.url} ` +
      `(admin kubeconfig ${kube.adminKubeconfig})`,
  );
}

/**
 * Everything labUp() builds, in order: etcd (if the lab runs its own), lan, the control plane
 * (`--datastore kubernetes`), nodes, daemons, pods.
 */
async function build(
  lab: Lab,
  record: Recorder,
  progress: Progress,
): Promise<KubeLab | undefined> {
  const { plan, state } = lab;
  const options = state.options;
  if (options.datastore === "etcd" && !options.etcdEndpoints?.length) {
    progress("starting etcd on 127.0.0.1");
    const etcd = await startEtcd(`${plan.stateDir}/etcd`);
    state.processes.push({ name: "etcd", pid: etcd.pid, dir: etcd.dir, url: etcd.url });
    options.etcdEndpoints = [etcd.url];
    state.options = options;
    lab.save();
  }
  progress(
    plan.router
      ? `creating lans ${
        plan.segments.map((x) => `${x.netns} (${x.network})`).join(", ")
      } and router ${plan.router.netns}`
      : `creating lan ${plan.lanNetns} (bridge br0)`,
  );
  createLan(plan, record);
  if (plan.controlPlane) await buildControlPlane(lab, plan.controlPlane, record, progress);
  for (const node of plan.nodes) {
    progress(`creating node ${node.netns} (eth0 ${node.cidr})`);
    createNode(node, record);
  }
  if (options.kubernetes) return await buildKubeNodes(lab, progress);
  await startDaemons(lab, progress);
  await waitDaemons(lab, progress);
  await attachPods(lab, record, progress);
  return undefined;
}

/**
 * A Kubernetes lab's nodes (`--kubernetes`): kube-scheduler and kube-controller-manager beside
 * the apiserver (the images build meanwhile), containerd with the images and kubelet per node;
 * once every Node is registered with a pod CIDR, the CNI (installCni: skein's DaemonSet or the
 * reference plugins) until every node is Ready.
 */
async function buildKubeNodes(lab: Lab, progress: Progress): Promise<KubeLab> {
  const { plan, state } = lab;
  const cp = plan.controlPlane!;
  const cni = plan.options.cni ?? "skein";
  const images = buildNodeImages(cni, plan.options.skeinVersion, progress);
  images.catch(() => {}); // awaited below; a control-plane failure must not leave it unhandled
  progress(`starting kube-scheduler and kube-controller-manager in ${cp.netns}`);
  const components = await startControllers({
    kubeDir: labKubeDir(plan),
    site: { netns: cp.netns, ip: cp.ip, port: cp.apiserverPort },
    clusterName: plan.options.name,
    clusterCidr: plan.options.network,
    nodeCidrMaskSize: plan.options.subnetLen,
    record: (p) => {
      state.processes.push({ name: p.name, pid: p.pid, dir: p.dir });
      lab.save();
    },
  });
  const built = await images;
  const kube = await startNodeRuntimes(lab, progress, (n) => importNodeImages(n, built));
  progress("waiting for the kubelets to register their Nodes and get pod CIDRs");
  const check = () => checkComponents(components);
  await waitNodesRegistered(lab, kube, { check });
  const since = ((Date.now() - Date.parse(state.createdAt)) / 1000).toFixed(1);
  progress(
    `nodes registered ${since} s after lab up started: ${
      kube.nodes.map((n) => `${n.name} ${n.podCidr}`).join(", ")
    }`,
  );
  await installCni(kube, { image: built.skein?.ref ?? "", progress });
  return kube;
}

/** How labUp() runs. */
export interface UpOptions {
  /**
   * Aborted when the build must stop (Ctrl-C): every later step that records something throws
   * LabInterruptedError before it creates anything; the caller then removes the lab (labDown).
   */
  signal?: AbortSignal;
}

/**
 * Builds the lab: lan + nodes, one daemon per node (waits for /readyz), K pods per node through
 * the CNI plugin, then the connectivity matrix. On failure the lab is left as far as it got
 * (phase "failed") for `lab down` to remove; the error says what failed.
 */
export async function labUp(
  options: LabOptions,
  progress: Progress = () => {},
  root: string = LAB_ROOT,
  opts: UpOptions = {},
): Promise<UpResult> {
  const plan = planLab(options, root);
  checkNoLab(plan, options.name);
  // A Kubernetes lab needs all four binaries: say which is missing before anything is built.
  if (options.kubernetes) { for (const b of KUBE_BINARIES) kubeBinary(b); }
  claimStateDir(plan, options.name, root);
  Deno.mkdirSync(plan.storeDir, { recursive: true });
  for (const n of plan.nodes) Deno.mkdirSync(n.ipamDir, { recursive: true });
  const state: LabState = { ...newLabState(options), upPid: Deno.pid };
  const lab: Lab = {
    plan,
    state,
    save: () => {
      // Interrupted: nothing new is recorded (or, recorded first, created); the build stops here.
      if (opts.signal?.aborted) throw new LabInterruptedError(options.name);
      writeLabState(plan.stateFile, state);
    },
  };
  lab.save();
  const record = (ns: string) => {
    if (!state.namespaces.includes(ns)) state.namespaces.push(ns);
    lab.save();
  };
  let kube: KubeLab | undefined;
  try {
    kube = await build(lab, record, progress);
    state.phase = "ready";
    lab.save();
  } catch (e) {
    state.phase = "failed";
    lab.save();
    throw e;
  }
  if (kube) return { lab, kube, ...await kubePodCheck(kube, progress) };
  const mp = matrixPods(state);
  if (mp.length > 1) progress(`pinging ${mp.length * (mp.length - 1)} pod pairs`);
  const results = await pingMatrix(mp);
  return {
    lab,
    ...(kube ? { kube } : {}),
    pods: mp,
    results,
    ok: summarize(results).failed === 0,
    matrixText: formatMatrix(mp, results),
  };
}

/**
 * A Kubernetes lab's last step: a busybox pod per node and `kubectl exec ... ping` between them
 * (lab/k8s/pods.ts). Pods that never get Ready are a failed check (ok false, the reason as the
 * text), not a failed `up`: the cluster stays for a look.
 */
async function kubePodCheck(
  kube: KubeLab,
  progress: Progress,
): Promise<Pick<UpResult, "pods" | "results" | "ok" | "matrixText">> {
  progress(`a busybox pod on each of the ${kube.nodes.length} nodes, then kubectl exec ping`);
  try {
    const m = await checkPodNetwork(kube);
    return { pods: [], results: m.results, ok: m.ok, matrixText: m.text };
  } catch (e) {
    return { pods: [], results: [], ok: false, matrixText: `FAILED: ${(e as Error).message}` };
  }
}

/** How to look around a lab (printed after `up`). */
export function lookAroundText(plan: LabPlan, state?: LabState): string {
  const n1 = plan.nodes[0]!;
  const p1 = n1.pods[0];
  const name = plan.options.name;
  const nameArg = name === "skein" ? "" : ` --name ${name}`;
  const other = state?.pods.find((p) => p.node !== n1.name && p.ip);
  const device = backendDefinition(plan.options.backend)?.capabilities.device?.name;
  const rows: [string, string][] = [
    [`skein lab status${nameArg}`, "nodes, leases, pods, daemon health"],
    [`ip netns exec ${n1.netns} ip route`, "routes to other nodes' pod subnets (proto 100)"],
    [
      `ip netns exec ${n1.netns} ip -d link show`,
      `eth0, cni0, ${device ? `the ${plan.options.backend} device ${device}, ` : ""}pod veths`,
    ],
    ...(plan.router
      ? [[
        `ip netns exec ${plan.router.netns} ip addr`,
        `the router between ${plan.segments.map((x) => x.network).join(" and ")}`,
      ] as [string, string]]
      : []),
    ...(p1 ? [[`ip netns exec ${p1.netns} ip addr`, "a pod"] as [string, string]] : []),
    ...(p1 && other
      ? [
        [`ip netns exec ${p1.netns} ping -c 1 ${other.ip}`, `${p1.name} -> ${other.name}`] as [
          string,
          string,
        ],
      ]
      : []),
    [`cat ${n1.leaseFile}`, "what the daemon told the CNI plugin"],
    [`less ${n1.logFile}`, "the daemon's log"],
    [`skein lab down${nameArg}`, "remove everything"],
  ];
  const w = Math.max(...rows.map(([c]) => c.length));
  return ["Look around:", ...rows.map(([c, why]) => `  ${c.padEnd(w)}  # ${why}`)].join("\n");
}
