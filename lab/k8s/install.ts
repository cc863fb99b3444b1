/**
 * The CNI of a Kubernetes lab, installed the way a user installs it. `--cni skein`:
 * `kubectl apply -f` of deploy/kubernetes/skein.yaml with only the lab's changes (manifest.ts),
 * then the DaemonSet's rollout; its init container puts the plugin and conflist into each node's
 * own /opt/cni/bin and /etc/cni/net.d (the node's mount namespace), its daemon runs with the
 * manifest's ServiceAccount and roles. `--cni reference`: bridge + host-local per node from
 * spec.podCIDR with static host-gw routes (reference_cni.ts). Either way it ends when every node
 * is Ready (a node stays NotReady until containerd finds a CNI config, as in a real cluster).
 *
 * @module
 */
import { kubectl, kubectlJson, kubectlRun, pollUntil, warningEvents } from "./kubectl.ts";
import { labManifest, SKEIN_MANIFEST_URL } from "./manifest.ts";
import {
  copyNodePlugins,
  programHostGw,
  REFERENCE_PLUGINS,
  writeReferenceConflist,
} from "./reference_cni.ts";
import type { KubeLab, KubeLabNode } from "./types.ts";

/** skein's image in a lab for skein `version` (lab/k8s/images.ts builds and imports it). */
export function labSkeinImage(version: string): string {
  return `skein.local/skein:${version}`;
}

/** The plugins a kubeadm node has in /opt/cni/bin (kubernetes-cni) that skein's conflist needs. */
const SKEIN_NODE_PLUGINS = ["loopback", "portmap"] as const;

/** Options of installCni(). */
export interface InstallCniOptions {
  /** skein's image (`--cni skein`): labSkeinImage(VERSION), VERSION from version.ts via cmd/. */
  image: string;
  /** The manifest's text (default deploy/kubernetes/skein.yaml beside the sources). */
  manifest?: string;
  /** Longest wait for the rollout, and again for every node to be Ready (ms, default 300000). */
  timeoutMs?: number;
  progress?: (message: string) => void;
}

/** What installCni() did and how long it took. */
export interface InstallCniResult {
  cni: KubeLab["cni"];
  /** The manifest as applied (`--cni skein`): `<lab dir>/skein.yaml`. */
  manifestFile?: string;
  /** From apply to the DaemonSet fully rolled out (ms). */
  rolloutMs?: number;
  /** From the start to every node Ready (ms). */
  readyMs: number;
}

interface NodeObject {
  metadata: { name: string };
  spec?: { podCIDR?: string };
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
}

interface DaemonSetObject {
  metadata: { generation?: number };
  status?: {
    observedGeneration?: number;
    desiredNumberScheduled?: number;
    currentNumberScheduled?: number;
    updatedNumberScheduled?: number;
    numberReady?: number;
    numberAvailable?: number;
  };
}

/**
 * Installs the lab's CNI (`lab.cni`) and waits until it is rolled out and every node is Ready;
 * fills each node's `podCidr` from spec.podCIDR.
 */
export async function installCni(
  lab: KubeLab,
  opts: InstallCniOptions,
): Promise<InstallCniResult> {
  const t0 = performance.now();
  const timeout = opts.timeoutMs ?? 300_000;
  const progress = opts.progress ?? (() => {});
  const result: InstallCniResult = { cni: lab.cni, readyMs: 0 };
  if (lab.cni === "reference") {
    await installReference(lab, timeout, progress);
  } else {
    const r = await installSkein(lab, opts, timeout, progress);
    result.manifestFile = r.file;
    result.rolloutMs = r.rolloutMs;
  }
  await waitNodesReady(lab, timeout);
  result.readyMs = Math.round(performance.now() - t0);
  progress(`every node Ready (${lab.nodes.length}/${lab.nodes.length})`);
  return result;
}

async function installSkein(
  lab: KubeLab,
  opts: InstallCniOptions,
  timeout: number,
  progress: (m: string) => void,
): Promise<{ file: string; rolloutMs: number }> {
  for (const n of lab.nodes) copyNodePlugins(n, SKEIN_NODE_PLUGINS);
  const api = new URL(lab.apiserverUrl);
  const text = labManifest(opts.manifest ?? Deno.readTextFileSync(SKEIN_MANIFEST_URL), {
    image: opts.image,
    network: lab.network,
    subnetLen: lab.subnetLen,
    backend: lab.backend,
    iface: "eth0",
    apiserver: { host: api.hostname, port: Number(api.port || 443) },
  });
  const file = `${lab.dir}/skein.yaml`;
  Deno.writeTextFileSync(file, text);
  const t0 = performance.now();
  progress(`kubectl apply -f ${file} (deploy/kubernetes/skein.yaml with the lab's changes)`);
  await kubectl(lab.adminKubeconfig, ["apply", "-f", file]);
  await waitRollout(lab, timeout);
  const rolloutMs = Math.round(performance.now() - t0);
  progress(`DaemonSet skein/skein rolled out ${lab.nodes.length}/${lab.nodes.length}`);
  return { file, rolloutMs };
}

/** Waits until DaemonSet skein/skein runs its newest template Ready on every lab node. */
export async function waitRollout(lab: KubeLab, timeoutMs: number): Promise<void> {
  const want = lab.nodes.length;
  try {
    await pollUntil(`DaemonSet skein/skein to roll out on ${want} nodes`, timeoutMs, async () => {
      const ds = await kubectlJson<DaemonSetObject>(lab.adminKubeconfig, [
        "-n",
        "skein",
        "get",
        "daemonset",
        "skein",
      ]);
      const s = ds.status ?? {};
      const current = (s.observedGeneration ?? 0) >= (ds.metadata.generation ?? 1);
      const n = [s.desiredNumberScheduled, s.updatedNumberScheduled, s.numberReady];
      if (current && n.every((x) => x === want) && s.numberAvailable === want) {
        return { done: true };
      }
      return {
        seen: `desired ${n[0] ?? 0}, updated ${n[1] ?? 0}, ready ${n[2] ?? 0}, available ${
          s.numberAvailable ?? 0
        }`,
      };
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await skeinPodsReport(lab)}`, { cause: e });
  }
}

/**
 * `kubectl -n skein get pods -o wide`, the warning events and every not-ready pod's last log
 * lines (both containers), for a failed rollout.
 */
async function skeinPodsReport(lab: KubeLab): Promise<string> {
  const kc = lab.adminKubeconfig;
  const pods = await kubectlRun(kc, ["-n", "skein", "get", "pods", "-o", "wide"]);
  const out = [`kubectl -n skein get pods -o wide:\n${pods.stdout}${pods.stderr}`];
  out.push(await warningEvents(kc, "skein"));
  const notReady = pods.stdout.split("\n").slice(1).filter((l) => /^\S+\s+0\//.test(l));
  for (const line of notReady.slice(0, 3)) {
    const name = line.split(/\s+/)[0]!;
    const args = ["-n", "skein", "logs", name, "--all-containers", "--tail=10"];
    const logs = await kubectlRun(kc, args);
    out.push(`kubectl ${args.join(" ")}:\n${logs.stdout}${logs.stderr}`);
  }
  return out.join("\n");
}

/** The lab's Node objects by name. */
async function labNodes(lab: KubeLab): Promise<Map<string, NodeObject>> {
  const list = await kubectlJson<{ items: NodeObject[] }>(lab.adminKubeconfig, ["get", "nodes"]);
  return new Map(list.items.map((n) => [n.metadata.name, n]));
}

function ready(n: NodeObject | undefined): boolean {
  return n?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
}

/** Waits until every lab node is Ready; fills `podCidr` from each spec.podCIDR. */
export async function waitNodesReady(lab: KubeLab, timeoutMs: number): Promise<void> {
  await pollUntil(`every node of lab ${lab.name} to be Ready`, timeoutMs, async () => {
    const nodes = await labNodes(lab);
    fillPodCidrs(lab.nodes, nodes);
    const notReady = lab.nodes.filter((n) => !ready(nodes.get(n.name)));
    if (!notReady.length) return { done: true };
    return {
      seen: notReady.map((n) => {
        const c = nodes.get(n.name)?.status?.conditions?.find((x) => x.type === "Ready");
        return `${n.name} ${c ? `Ready=${c.status} (${c.reason ?? ""})` : "not registered"}`;
      }).join(", "),
    };
  });
}

function fillPodCidrs(nodes: KubeLabNode[], objects: Map<string, NodeObject>): void {
  for (const n of nodes) {
    const cidr = objects.get(n.name)?.spec?.podCIDR;
    if (cidr) n.podCidr = cidr;
  }
}

async function installReference(
  lab: KubeLab,
  timeout: number,
  progress: (m: string) => void,
): Promise<void> {
  await pollUntil("every node's spec.podCIDR (kube-controller-manager)", timeout, async () => {
    fillPodCidrs(lab.nodes, await labNodes(lab));
    const missing = lab.nodes.filter((n) => !n.podCidr).map((n) => n.name);
    return missing.length ? { seen: `no podCIDR yet: ${missing.join(", ")}` } : { done: true };
  });
  for (const n of lab.nodes) {
    copyNodePlugins(n, REFERENCE_PLUGINS);
    writeReferenceConflist({ ...n, podCidr: n.podCidr! });
  }
  programHostGw(lab.nodes);
  progress(
    `reference CNI: bridge + host-local on ${lab.nodes.length} nodes, host-gw routes between them`,
  );
}
