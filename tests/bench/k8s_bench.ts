/**
 * A real Kubernetes lab with skein's CNI next to the reference bridge + host-local
 * (`--cni reference`), in one run on this machine (root; kubelet v1.20.2 + containerd 1.6):
 *
 * 1. `lab up --kubernetes --nodes N` wall time: from the call to every node Ready with the CNI
 *    installed (skein: its DaemonSet rolled out) and the busybox pods' ping matrix passing; the
 *    images are built (or found in the cache) before either lab, so both find them cached.
 * 2. Pod start latency as the kubelet reports it: a watch on the pods sees each one ADDED and
 *    then with Ready=True and a podIP; the time between, for `--pods` pods created in waves of
 *    one pod per node (each wave waits for its pods), p50 and p99.
 *
 * 3. The part of it that is the sandbox (pause container + CNI ADD) as containerd logs it
 *    (RunPodSandbox start to its sandbox id), p50 and p99 over the same pods.
 *
 * Prints `<label>  <skein>  <ref>  <ratio>` (ratio = skein / reference; below 1 skein is faster).
 * Run: deno task bench:k8s [--nodes 3] [--pods 30]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { labDefaults, labDown, labUp } from "../../lab/mod.ts";
import type { KubeLab } from "../../lab/k8s/types.ts";
import { applyPods, busyboxPod, checkPodNetwork, type PodObject } from "../../lab/k8s/pods.ts";
import { buildNodeImages } from "../../lab/k8s/node_images.ts";
import { KubeClient } from "../../store/_kube_client.ts";
import { loadKubeconfig } from "../../store/kube_config.ts";
import { kubeBinDir, shareKubeletHost } from "../_kubelet.ts";
import { VERSION } from "../../version.ts";
import { testPrefix } from "../_netns.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "3" },
    pods: { type: "string", default: "30" },
  },
});
const NODES = Number(flags.nodes);
const PODS = Number(flags.pods);
const LABEL = "skein-bench";

function pct(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
}

interface WatchEvent {
  type: string;
  object: PodObject;
}

/** Watches the bench's pods: when each was first seen and when it was Ready with an IP. */
class PodTimes {
  added = new Map<string, number>();
  ready = new Map<string, number>();
  #ctl = new AbortController();
  #done: Promise<void>;

  constructor(client: KubeClient, resourceVersion: string) {
    const path = `/api/v1/namespaces/default/pods?watch=1&labelSelector=bench%3D${LABEL}` +
      `&resourceVersion=${resourceVersion}&timeoutSeconds=3600`;
    this.#done = (async () => {
      const req = { verb: "watch", resource: "pods", method: "GET" as const, path };
      for await (const e of client.watch<PodObject>(req, this.#ctl.signal)) {
        this.#seen(e as WatchEvent);
      }
    })();
  }

  #seen(e: WatchEvent): void {
    const now = performance.now();
    const name = e.object.metadata.name;
    if (e.type === "ADDED" && !this.added.has(name)) this.added.set(name, now);
    const s = e.object.status;
    const ready = s?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    if (ready && s?.podIP && !this.ready.has(name)) this.ready.set(name, now);
  }

  async waitReady(names: readonly string[], ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!names.every((n) => this.ready.has(n))) {
      if (Date.now() > end) {
        throw new Error(
          `pods not Ready after ${ms} ms: ${names.filter((n) => !this.ready.has(n))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  latencies(): number[] {
    return [...this.ready].map(([n, t]) => t - this.added.get(n)!);
  }

  async close(): Promise<void> {
    this.#ctl.abort();
    await this.#done.catch(() => {});
  }
}

/** PODS pods in waves of one per node; their start latencies (ms). */
async function podStarts(lab: KubeLab): Promise<number[]> {
  const client = new KubeClient(loadKubeconfig(lab.adminKubeconfig), { timeoutMs: 30_000 });
  try {
    const list = await client.request<{ metadata: { resourceVersion: string } }>({
      verb: "list",
      resource: "pods",
      method: "GET",
      path: "/api/v1/namespaces/default/pods?limit=1",
    });
    const times = new PodTimes(client, list.metadata.resourceVersion);
    try {
      for (let i = 0; times.ready.size < PODS; i++) {
        const wave = lab.nodes.slice(0, PODS - times.ready.size).map((n, j) =>
          busyboxPod({ name: `bench-${i}-${j}`, node: n.name, labels: { bench: LABEL } })
        );
        await applyPods(lab.adminKubeconfig, wave, 120_000);
        await times.waitReady(wave.map((p) => (p.metadata as { name: string }).name), 120_000);
      }
      return times.latencies();
    } finally {
      await times.close();
    }
  } finally {
    client.close();
  }
}

interface Run {
  upS: number;
  starts: number[];
  sandboxes: number[];
}

/**
 * containerd's own time for each bench pod's sandbox (RunPodSandbox: the pause container and the
 * CNI ADD), from the nodes' containerd logs (nanosecond timestamps), in ms.
 */
function sandboxTimes(lab: KubeLab): number[] {
  const out: number[] = [];
  const re =
    /^time="([^"]+)" level=info msg="RunPodSandbox for &PodSandboxMetadata\{Name:(bench-[\w-]+),/;
  for (const n of lab.nodes) {
    const begun = new Map<string, number>();
    for (const line of Deno.readTextFileSync(`${n.dir}/containerd.log`).split("\n")) {
      const m = re.exec(line);
      if (!m) continue;
      const t = Date.parse(m[1]!) + Number(`0.${m[1]!.split(".")[1]?.slice(3, 9) ?? 0}`);
      if (!line.includes("returns sandbox id")) begun.set(m[2]!, t);
      else if (begun.has(m[2]!)) out.push(t - begun.get(m[2]!)!);
    }
  }
  return out;
}

async function runOne(cni: "skein" | "reference"): Promise<Run> {
  const name = `${testPrefix()}${cni === "skein" ? "s" : "r"}`;
  const t0 = performance.now();
  try {
    const up = await labUp(
      labDefaults({
        name,
        nodes: NODES,
        podsPerNode: 0,
        backend: "vxlan",
        datastore: "kubernetes",
        kubernetes: true,
        skeinVersion: VERSION,
        cni,
      }),
      (m) => console.error(`  ${cni}: ${m}`),
    );
    const lab = up.kube!;
    const m = await checkPodNetwork(lab);
    if (!m.ok) throw new Error(`${cni}: pods cannot reach each other:\n${m.text}`);
    const upS = (performance.now() - t0) / 1000;
    console.error(`  ${cni}: lab up + ping matrix ${upS.toFixed(1)} s`);
    const starts = await podStarts(lab);
    return { upS, starts, sandboxes: sandboxTimes(lab) };
  } finally {
    const d = await labDown(name);
    if (d.errors.length) console.error(`  ${cni}: lab down: ${d.errors.join("; ")}`);
  }
}

const bins = await kubeBinDir("bench:k8s", [
  "kube-apiserver",
  "kubelet",
  "kube-scheduler",
  "kube-controller-manager",
]);
if (!bins) Deno.exit(0);
// Both labs find their images in the cache (a changed source tree would otherwise put skein's
// cold image build, 4-10 s, into its lab up time only).
await buildNodeImages("skein", undefined, (m) => console.error(`  images: ${m}`));
const unlock = await shareKubeletHost(`${bins}/kubelet`);
let skein: Run, ref: Run;
try {
  skein = await runOne("skein");
  ref = await runOne("reference");
} finally {
  unlock();
}
const row = (label: string, a: number, b: number, digits: number) =>
  console.log(
    `${label.padEnd(40)} ${a.toFixed(digits).padStart(9)} ${b.toFixed(digits).padStart(9)} ${
      (a / b).toFixed(2).padStart(7)
    }`,
  );
console.log(
  `\nKubernetes lab benchmark: ${NODES} nodes (vxlan), ${PODS} pods in waves of ${NODES}`,
);
console.log(`${"".padEnd(40)} ${"skein".padStart(9)} ${"ref".padStart(9)} ${"ratio".padStart(7)}`);
row("pod start p50 (created -> Ready+IP, ms)", pct(skein.starts, 0.5), pct(ref.starts, 0.5), 0);
row("pod start p99 (ms)", pct(skein.starts, 0.99), pct(ref.starts, 0.99), 0);
row(
  "sandbox p50 (containerd RunPodSandbox, ms)",
  pct(skein.sandboxes, 0.5),
  pct(ref.sandboxes, 0.5),
  0,
);
row("sandbox p99 (ms)", pct(skein.sandboxes, 0.99), pct(ref.sandboxes, 0.99), 0);
row(`lab up --kubernetes --nodes ${NODES} (s)`, skein.upS, ref.upS, 1);
