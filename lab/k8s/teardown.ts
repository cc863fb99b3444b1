/**
 * `skein lab down` for a Kubernetes lab: per node, the kubelet, then every process in the
 * node's mount namespace (containerd, its shims, whatever ran there), the containers' processes
 * (found through the cgroups of the node's containers: `/sys/fs/cgroup/<h>/k8s.io/<id>`), those
 * cgroups, CRI's `cni-*` network namespaces of the node, the mount-namespace pin (which takes
 * every mount made inside the node with it: kubelet's bind mount of its root dir, pod volumes,
 * the per-node binds). Then the host: the `k8s.io` cgroups the lab made, the kubelet sysctls as
 * found before, the pin directory's mount, the mount-point paths the lab created. Works from
 * lab.json, and without it from what the state directory holds (a half-built lab).
 *
 * @module
 */
import { netnsDel } from "../../net/mod.ts";
import { sleep } from "../../store/sleeper.ts";
import { unmount } from "../../net/mount.ts";
import type { KubeState, LabState } from "../state.ts";
import {
  cgroupDirs,
  cgroupPids,
  madePathsLedger,
  readMadePaths,
  removeCgroups,
  removeMadePaths,
  restoreSysctls,
} from "./host_state.ts";
import {
  criNetnsInNode,
  mountNsDir,
  mountNsId,
  pidsInMountNs,
  removeMountNsPin,
} from "./mount_ns.ts";
import { nodeHostPath } from "./types.ts";

/** What kubeTeardown() did. */
export interface KubeTeardownResult {
  stopped: number[];
  errors: string[];
}

function kill(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch { /* gone */ }
}

/** SIGTERM, then SIGKILL after `graceMs` for those `alive` still reports. */
async function stopAll(
  pids: number[],
  alive: (pid: number) => boolean,
  graceMs: number,
): Promise<void> {
  for (const p of pids) kill(p, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(alive)) await sleep(50);
  for (const p of pids.filter(alive)) kill(p, "SIGKILL");
  for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(20);
}

/** The ids of the containers (and sandboxes) a node's containerd knew, from its directories. */
export function nodeContainerIds(nodeDir: string): string[] {
  const ids = new Set<string>();
  for (
    const d of [
      "/run/containerd/io.containerd.runtime.v2.task/k8s.io",
      "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes",
      "/var/lib/containerd/io.containerd.grpc.v1.cri/containers",
    ]
  ) {
    try {
      for (const e of Deno.readDirSync(nodeHostPath({ dir: nodeDir }, d))) {
        if (/^[0-9a-f]{64}$/.test(e.name)) ids.add(e.name);
      }
    } catch { /* none */ }
  }
  return [...ids];
}

/** Stops one node's runtime and removes what it left on the host. */
async function nodeDown(
  node: { name: string; mountNs: string; dir: string; kubelet?: number },
  progress: (m: string) => void,
  out: KubeTeardownResult,
): Promise<void> {
  const nsId = mountNsId(node.mountNs);
  const inNs = (pid: number) => nsId !== undefined && mountNsId(`/proc/${pid}/ns/mnt`) === nsId;
  const cni = nsId === undefined ? [] : await criNetnsInNode(node.mountNs);
  if (nsId !== undefined) {
    // The kubelet first, so it restarts nothing; then the rest (containerd, shims).
    if (node.kubelet !== undefined && inNs(node.kubelet)) {
      await stopAll([node.kubelet], inNs, 5000);
      out.stopped.push(node.kubelet);
    }
    const rest = pidsInMountNs(nsId);
    await stopAll(rest, inNs, 5000);
    out.stopped.push(...rest);
    if (rest.length) progress(`stopped ${rest.length} processes of node ${node.name}`);
  }
  const ids = nodeContainerIds(node.dir);
  const containerPids = ids.flatMap((id) => cgroupDirs(`k8s.io/${id}`).flatMap(cgroupPids));
  const inCgroup = (pid: number) => {
    try {
      return ids.some((id) => Deno.readTextFileSync(`/proc/${pid}/cgroup`).includes(id));
    } catch {
      return false;
    }
  };
  await stopAll([...new Set(containerPids)], inCgroup, 0);
  out.stopped.push(...containerPids);
  for (const id of ids) {
    for (const d of removeCgroups(`k8s.io/${id}`)) out.errors.push(`cgroup ${d} is still busy`);
  }
  removeMountNsPin(node.mountNs);
  for (const ns of cni) {
    try {
      netnsDel(ns);
    } catch (e) {
      out.errors.push(`network namespace ${ns}: ${(e as Error).message}`);
    }
  }
  if (ids.length || cni.length) {
    progress(
      `node ${node.name}: removed ${ids.length} containers' cgroups, ${cni.length} pod netns`,
    );
  }
}

/**
 * Whether `test` holds for another lab under the same root as `stateDir` (its lab.json; one that
 * cannot be read or tested is not counted).
 */
function anyOtherLab(stateDir: string, test: (s: LabState) => boolean): boolean {
  const root = stateDir.slice(0, stateDir.lastIndexOf("/"));
  const me = stateDir.slice(root.length + 1);
  try {
    for (const e of Deno.readDirSync(root)) {
      if (e.name === me) continue;
      try {
        if (test(JSON.parse(Deno.readTextFileSync(`${root}/${e.name}/lab.json`)) as LabState)) {
          return true;
        }
      } catch { /* not a lab */ }
    }
  } catch { /* no root */ }
  return false;
}

/** True when another lab under the same root is a Kubernetes lab (it shares host state). */
function otherKubeLab(stateDir: string): boolean {
  return anyOtherLab(stateDir, (s) => Boolean(s.kube));
}

/**
 * True when another lab under the same root has a kubelet running (its recorded pid, still in
 * that lab's node mount namespace): only then do the host sysctls still need kubelet's values.
 * A lab whose processes are gone (killed, half removed) does not keep them from being restored.
 */
function otherKubeletRunning(stateDir: string): boolean {
  return anyOtherLab(stateDir, (s) =>
    (s.kube?.nodes ?? []).some((n) => {
      if (n.kubelet === undefined) return false;
      const ns = mountNsId(n.mountNs);
      return ns !== undefined && mountNsId(`/proc/${n.kubelet}/ns/mnt`) === ns;
    }));
}

/** The nodes to tear down: from lab.json, else the pins found in the state directory. */
function nodesOf(stateDir: string, kube: KubeState | undefined) {
  if (kube) {
    return kube.nodes.map((n) => ({ ...n, name: n.node, dir: `${stateDir}/nodes/${n.node}` }));
  }
  try {
    return [...Deno.readDirSync(mountNsDir(stateDir))].filter((e) => e.isFile).map((e) => ({
      name: e.name,
      mountNs: `${mountNsDir(stateDir)}/${e.name}`,
      dir: `${stateDir}/nodes/${e.name}`,
      kubelet: undefined,
    }));
  } catch {
    return [];
  }
}

/** Tears down a Kubernetes lab's node runtimes and host changes (see the module doc). */
export async function kubeTeardown(
  stateDir: string,
  kube: KubeState | undefined,
  progress: (m: string) => void,
): Promise<KubeTeardownResult> {
  const out: KubeTeardownResult = { stopped: [], errors: [] };
  await Promise.all(nodesOf(stateDir, kube).map((n) => nodeDown(n, progress, out)));
  const shared = otherKubeLab(stateDir);
  for (const d of kube?.madeCgroups ?? []) {
    try {
      Deno.removeSync(d); // only when empty: another containerd may use it now
    } catch { /* busy or gone */ }
  }
  if (kube?.hostSysctls && !otherKubeletRunning(stateDir)) {
    out.errors.push(...restoreSysctls(kube.hostSysctls));
    progress("restored the host sysctls kubelet changed");
  }
  for (const m of [...(kube?.mounts ?? []), mountNsDir(stateDir)]) {
    try {
      while (unmount(m, { detach: true })) { /* stacked binds */ }
    } catch (e) {
      out.errors.push(`${m}: ${(e as Error).message}`);
    }
  }
  if (!shared) {
    // The last Kubernetes lab down removes what any of them made (their ledger) and its own.
    const root = stateDir.slice(0, stateDir.lastIndexOf("/"));
    const made = [...new Set([...readMadePaths(root), ...(kube?.madePaths ?? [])])];
    for (const p of removeMadePaths(made)) out.errors.push(`${p} is not empty: kept`);
    try {
      Deno.removeSync(madePathsLedger(root));
    } catch { /* none */ }
  }
  return out;
}
