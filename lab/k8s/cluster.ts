/**
 * `skein lab up --kubernetes`: after the lab's namespaces and the control plane (etcd,
 * kube-apiserver, kube-scheduler, kube-controller-manager in `<lab>-cp`), a containerd and a
 * kubelet per node in the node's network namespace and private mount namespace; waits until
 * every kubelet registered its Node and the controller-manager gave it a pod CIDR. Every host
 * change is recorded in lab.json before it is made (`kube`), so `lab down` undoes it even after
 * a half-failed or interrupted `up`.
 *
 * @module
 */
import { KubeClient } from "../../store/_kube_client.ts";
import { loadKubeconfig } from "../../store/kube_config.ts";
import { sleep } from "../../store/sleeper.ts";
import { mapLimit, tailFile } from "../_proc.ts";
import { kubePaths } from "../kube.ts";
import type { LabPlan } from "../plan.ts";
import type { KubeState, LabState } from "../state.ts";
import { labKubeDir } from "../store.ts";
import {
  cgroupHierarchies,
  lockKubeletHost,
  readKubeletSysctls,
  recordMadePath,
} from "./host_state.ts";
import { kubeBinary } from "./control_plane.ts";
import { mountNsDir, preparePinDir } from "./mount_ns.ts";
import {
  NODE_CONTAINERD_SOCKET,
  prepareNode,
  runsInMountNs,
  startContainerd,
  startKubelet,
} from "./node_runtime.ts";
import { mountNsId } from "./mount_ns.ts";
import type { KubeLab, KubeLabNode } from "./types.ts";
import { pingPodName } from "./pods.ts";

/** The pods' sandbox (pause) image: kimg's busybox image. */
export const SANDBOX_IMAGE = "skein.local/busybox:latest";

/** A lab being built: its plan, its recorded state and the saver. */
export interface KubeLabBuild {
  plan: LabPlan;
  state: LabState;
  save(): void;
}

/** The Kubernetes lab a plan (and its recorded state) describes. */
export function kubeLabOf(plan: LabPlan, state?: LabState): KubeLab {
  const cp = plan.controlPlane;
  if (!plan.options.kubernetes || !cp) {
    throw new TypeError(`lab ${plan.options.name} is not a Kubernetes lab (lab up --kubernetes)`);
  }
  const pinDir = mountNsDir(plan.stateDir);
  return {
    name: plan.options.name,
    dir: plan.stateDir,
    adminKubeconfig: kubePaths(labKubeDir(plan)).admin,
    apiserverUrl: `https://${cp.ip}:${cp.apiserverPort}`,
    nodes: plan.nodes.map((n): KubeLabNode => {
      const pod = state?.kube?.nodes.find((x) => x.node === n.name);
      return {
        name: n.nodeName,
        netns: n.netns,
        mountNs: pod?.mountNs ?? `${pinDir}/${n.name}`,
        address: n.ip,
        dir: n.dir,
        containerdSocket: NODE_CONTAINERD_SOCKET,
      };
    }),
    network: plan.options.network,
    subnetLen: plan.options.subnetLen,
    backend: plan.options.backend,
    cni: plan.options.cni ?? "skein",
  };
}

/**
 * The kubelet sysctls as they were before any Kubernetes lab ran: another running lab's saved
 * values (its kubelets rewrote the current ones), else the current values.
 */
function sysctlsBeforeKubelets(plan: LabPlan): Record<string, string> {
  const root = plan.stateDir.slice(0, plan.stateDir.lastIndexOf("/"));
  try {
    for (const e of Deno.readDirSync(root)) {
      if (e.name === plan.options.name) continue;
      try {
        const other = JSON.parse(Deno.readTextFileSync(`${root}/${e.name}/lab.json`)) as LabState;
        if (other.kube?.hostSysctls) return other.kube.hostSysctls;
      } catch { /* not a lab */ }
    }
  } catch { /* no labs */ }
  return readKubeletSysctls();
}

/** Records the host state the lab is about to change (before it changes anything). */
function recordHostState(b: KubeLabBuild): KubeState {
  const kube: KubeState = {
    hostSysctls: sysctlsBeforeKubelets(b.plan),
    madePaths: [],
    madeCgroups: cgroupHierarchies().map((h) => `${h}/k8s.io`).filter((d) => {
      try {
        Deno.statSync(d);
        return false;
      } catch {
        return true;
      }
    }),
    mounts: [],
    nodes: [],
  };
  b.state.kube = kube;
  b.save();
  return kube;
}

/**
 * Builds every node's runtime: files and mount namespace (one node after the other: the CA's
 * serial file), then containerd, `images` (the images every node needs) and kubelet per node
 * in parallel, each pid recorded as soon as it runs.
 */
export async function startNodeRuntimes(
  b: KubeLabBuild,
  progress: (m: string) => void,
  images: (node: KubeLabNode) => Promise<void>,
): Promise<KubeLab> {
  // The sysctls are saved and the kubelets started under the machine's kubelet lock: a test
  // running its own kubelet (exclusive lock) may have rewritten them meanwhile.
  const unlock = await lockKubeletHost(kubeBinary("kubelet"), {
    exclusive: false,
    waiting: () => progress("waiting for a kubelet test on this machine to end (kubelet lock)"),
  });
  try {
    return await startLocked(b, progress, images);
  } finally {
    unlock();
  }
}

async function startLocked(
  b: KubeLabBuild,
  progress: (m: string) => void,
  images: (node: KubeLabNode) => Promise<void>,
): Promise<KubeLab> {
  const kube = recordHostState(b);
  const lab = kubeLabOf(b.plan, b.state);
  const pinDir = mountNsDir(b.plan.stateDir);
  kube.mounts.push(pinDir);
  b.save();
  preparePinDir(pinDir);
  const labsRoot = b.plan.stateDir.slice(0, b.plan.stateDir.lastIndexOf("/"));
  const recordPath = (p: string) => {
    recordMadePath(labsRoot, p);
    if (!kube.madePaths.includes(p)) kube.madePaths.push(p);
    b.save();
  };
  const kubeDir = labKubeDir(b.plan);
  for (const [i, node] of lab.nodes.entries()) {
    const short = b.plan.nodes[i]!.name;
    kube.nodes.push({ node: short, mountNs: node.mountNs });
    b.save();
    await prepareNode({
      node,
      pinDir,
      kubeDir,
      apiserverUrl: lab.apiserverUrl,
      sandboxImage: SANDBOX_IMAGE,
      recordPath,
    });
  }
  progress(`starting containerd and kubelet on ${lab.nodes.length} nodes`);
  await mapLimit(lab.nodes, 4, async (node, i) => {
    const rec = kube.nodes[i]!;
    rec.containerd = await startContainerd(node);
    b.save();
    await images(node);
    rec.kubelet = await startKubelet(node);
    b.save();
    progress(`node ${node.name}: containerd ${rec.containerd}, kubelet ${rec.kubelet}`);
  });
  return lab;
}

interface NodeObject {
  metadata: { name: string };
  spec?: { podCIDR?: string };
}

/** Throws with the kubelet's log tail when a node's kubelet or containerd is gone. */
function checkNodeProcesses(b: KubeLabBuild, lab: KubeLab): void {
  for (const [i, node] of lab.nodes.entries()) {
    const rec = b.state.kube?.nodes[i];
    const id = mountNsId(node.mountNs);
    for (const what of ["containerd", "kubelet"] as const) {
      const pid = rec?.[what];
      if (pid !== undefined && !runsInMountNs(pid, id)) {
        const log = `${node.dir}/${what}.log`;
        throw new Error(`${what} on ${node.name} exited; its log ${log}:\n${tailFile(log)}`);
      }
    }
  }
}

/**
 * Waits until every node's kubelet registered its Node and the controller-manager assigned
 * spec.podCIDR; fills `podCidr` in `lab.nodes`. `check` also runs each round (the control
 * plane's processes).
 */
export async function waitNodesRegistered(
  b: KubeLabBuild,
  lab: KubeLab,
  opts: { timeoutMs?: number; check?: () => void } = {},
): Promise<void> {
  const admin = new KubeClient(loadKubeconfig(lab.adminKubeconfig));
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let seen: NodeObject[] = [];
  try {
    while (Date.now() < deadline) {
      checkNodeProcesses(b, lab);
      opts.check?.();
      try {
        const list = await admin.request<{ items: NodeObject[] }>({
          verb: "list",
          resource: "nodes",
          method: "GET",
          path: "/api/v1/nodes",
        });
        seen = list.items;
      } catch { /* the apiserver is busy: next round */ }
      for (const node of lab.nodes) {
        node.podCidr = seen.find((x) => x.metadata.name === node.name)?.spec?.podCIDR;
      }
      if (lab.nodes.every((n) => n.podCidr)) return;
      await sleep(500);
    }
  } finally {
    admin.close();
  }
  const missing = lab.nodes.filter((n) => !n.podCidr).map((n) =>
    seen.some((x) => x.metadata.name === n.name)
      ? `${n.name} (registered, no podCIDR)`
      : `${n.name} (not registered; log ${n.dir}/kubelet.log)`
  );
  throw new Error(`nodes not registered with a pod CIDR in time: ${missing.join(", ")}`);
}

/** The admin kubeconfig of a lab with a control plane (`skein lab kubeconfig`). */
export function labAdminKubeconfig(plan: LabPlan): string {
  return kubePaths(labKubeDir(plan)).admin;
}

/** What `lab up --kubernetes` prints at the end: the kubeconfig and commands to go on with. */
export function kubeNextSteps(lab: KubeLab): string {
  const nameArg = lab.name === "skein" ? "" : ` --name ${lab.name}`;
  const n1 = lab.nodes[0]!;
  const rows: [string, string][] = [
    [
      `export KUBECONFIG=${lab.adminKubeconfig}`,
      `or: export KUBECONFIG=$(skein lab kubeconfig${nameArg})`,
    ],
    ["kubectl get nodes -o wide", "the nodes, their InternalIP and state"],
    ["kubectl get nodes -o custom-columns=NAME:.metadata.name,CIDR:.spec.podCIDR", "pod CIDRs"],
    ["kubectl -n skein get pods -o wide", "skein's DaemonSet pods"],
    [
      `nsenter --mount=${n1.mountNs} --net=/run/netns/${n1.netns} ls /etc/cni/net.d`,
      `node ${n1.name} as it sees itself (its CNI conf)`,
    ],
    [`less ${n1.dir}/kubelet.log`, "its kubelet's log (containerd.log beside it)"],
    [
      `skein lab diagnose${nameArg} default/${pingPodName(n1)} default/${
        pingPodName(lab.nodes[1] ?? n1)
      }`,
      "why one pod cannot reach another, by pod name",
    ],
    [`skein lab down${nameArg}`, "remove everything (processes, mounts, cgroups, sysctls)"],
  ];
  const w = Math.max(...rows.map(([c]) => c.length));
  return [
    `\nKubernetes lab ${lab.name}: ${lab.nodes.length} nodes, apiserver ${lab.apiserverUrl}`,
    `Admin kubeconfig: ${lab.adminKubeconfig}`,
    "Next:",
    ...rows.map(([c, why]) => `  ${c.padEnd(w)}  # ${why}`),
  ].join("\n");
}
