/**
 * The check `skein lab up --kubernetes` ends with: one busybox pod per node (image
 * `skein.local/busybox:latest`, `imagePullPolicy: Never`, pinned by `nodeName`), Running and Ready
 * with an address, then every pod pings every other pod with `kubectl exec POD -- ping -c 1 -W 2
 * IP`, through the kubelets, as a user would check a cluster.
 *
 * @module
 */
import { mapLimit } from "../_proc.ts";
import { formatMatrix, matrixPairs, type MatrixResult, summarize } from "../matrix.ts";
import { sleep } from "../../store/sleeper.ts";
import { kubectl, kubectlJson, kubectlRun, pollUntil, warningEvents } from "./kubectl.ts";
import type { KubeLab, KubeLabNode } from "./types.ts";

/** The lab's pod image (lab/k8s/images.ts builds and imports it on every node). */
export const BUSYBOX_IMAGE = "skein.local/busybox:latest";

/** The label of the lab's check pods (`kubectl get pods -l app.kubernetes.io/name=skein-lab-ping`). */
export const PING_POD_LABEL = "skein-lab-ping";

/** A pod of the lab as the checks see it. */
export interface LabPod {
  namespace: string;
  name: string;
  /** The node it runs on (Kubernetes node name). */
  node: string;
  ip: string;
}

/** A Pod object of the parts read here. */
export interface PodObject {
  metadata: { name: string; namespace?: string; creationTimestamp?: string };
  spec?: { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
  };
}

/**
 * A busybox pod pinned to `node` that sleeps until deleted (exits on SIGTERM: a plain `sleep` as
 * PID 1 ignores it and waits for the kill).
 */
export function busyboxPod(
  o: { name: string; node: string; namespace?: string; labels?: Record<string, string> },
): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: o.name,
      namespace: o.namespace ?? "default",
      labels: { "app.kubernetes.io/name": PING_POD_LABEL, ...o.labels },
    },
    spec: {
      nodeName: o.node,
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      containers: [{
        name: "busybox",
        image: BUSYBOX_IMAGE,
        imagePullPolicy: "Never",
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"],
      }],
    },
  };
}

/** The check pod's name on `node` ("ping-<node>"). */
export function pingPodName(node: Pick<KubeLabNode, "name">): string {
  return `ping-${node.name}`;
}

/** A pod's address when it is Running and Ready, else undefined. */
export function readyPodIp(p: PodObject | undefined): string | undefined {
  const s = p?.status;
  const ready = s?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
  return s?.phase === "Running" && ready && s.podIP ? s.podIP : undefined;
}

/**
 * Creates `pods` with `kubectl apply -f -`, retried while the namespace's default
 * ServiceAccount does not exist yet (the controller-manager makes it just after start).
 */
export async function applyPods(
  kubeconfig: string,
  pods: readonly Record<string, unknown>[],
  timeoutMs: number,
): Promise<void> {
  const text = JSON.stringify({ apiVersion: "v1", kind: "List", items: pods });
  await pollUntil("the pods to be accepted", timeoutMs, async () => {
    const r = await kubectlRun(kubeconfig, ["apply", "-f", "-"], { stdin: text });
    return r.success ? { done: true } : { seen: r.stderr.trim() };
  }, { intervalMs: 500 });
}

/**
 * Waits until every pod named in `names` (namespace `ns`) is Running and Ready with an IP;
 * `recreate` runs when one is absent (an earlier pod of that name was still terminating when it
 * was applied). The timeout's message ends with the namespace's warning events.
 */
export async function waitPodsReady(
  kubeconfig: string,
  ns: string,
  names: readonly string[],
  timeoutMs: number,
  recreate?: () => Promise<void>,
): Promise<Map<string, string>> {
  const what = `pods ${names.join(", ")} to be Ready`;
  try {
    return await pollUntil<Map<string, string>>(what, timeoutMs, async () => {
      const list = await kubectlJson<{ items: PodObject[] }>(kubeconfig, ["-n", ns, "get", "pods"]);
      const ips = new Map<string, string>();
      const waiting: string[] = [];
      for (const name of names) {
        const p = list.items.find((x) => x.metadata.name === name);
        const ip = readyPodIp(p);
        if (ip) ips.set(name, ip);
        else waiting.push(`${name} ${p?.status?.phase ?? "absent"}`);
      }
      if (waiting.some((w) => w.endsWith(" absent"))) await recreate?.();
      return waiting.length ? { seen: waiting.join(", ") } : { done: ips };
    }, { intervalMs: 500 });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${await warningEvents(kubeconfig, ns)}`, {
      cause: e,
    });
  }
}

/** Starts one busybox pod per lab node (namespace "default") and waits until all are Ready. */
export async function startPingPods(
  lab: Pick<KubeLab, "adminKubeconfig" | "nodes">,
  timeoutMs = 180_000,
): Promise<LabPod[]> {
  const specs = lab.nodes.map((n) => busyboxPod({ name: pingPodName(n), node: n.name }));
  const apply = () => applyPods(lab.adminKubeconfig, specs, timeoutMs);
  await apply();
  const names = lab.nodes.map(pingPodName);
  const ips = await waitPodsReady(lab.adminKubeconfig, "default", names, timeoutMs, apply);
  return lab.nodes.map((n) => ({
    namespace: "default",
    name: pingPodName(n),
    node: n.name,
    ip: ips.get(pingPodName(n))!,
  }));
}

/** One `kubectl exec POD -- ping -c 1 -W 2 IP`: ok, round trip, or the reason. */
export async function kubectlPing(
  kubeconfig: string,
  from: LabPod,
  ip: string,
): Promise<{ ok: boolean; rttMs?: number; error?: string }> {
  const r = await kubectlRun(kubeconfig, [
    "-n",
    from.namespace,
    "exec",
    from.name,
    "--",
    "ping",
    "-c",
    "1",
    "-W",
    "2",
    ip,
  ]);
  if (r.success) {
    const m = /time=([\d.]+) ms/.exec(r.stdout);
    return m ? { ok: true, rttMs: Number(m[1]) } : { ok: true };
  }
  const lines = (r.stdout + r.stderr).trim().split("\n").filter((l) => l.trim());
  const error = lines.find((l) => /loss|unreachable|error/i.test(l)) ?? lines.pop();
  return { ok: false, error: error ?? `exit ${r.code}` };
}

/** The result of podPingMatrix(). */
export interface PodPingMatrix {
  pods: LabPod[];
  results: MatrixResult[];
  ok: boolean;
  /** formatMatrix()'s table (one row per pod). */
  text: string;
}

/**
 * Every pod pings every other pod (`kubectl exec`), `parallel` at once; failed pairs are tried
 * again until `retryMs` has passed (routes to a node that just got its lease may be a moment
 * behind its pod's readiness).
 */
export async function podPingMatrix(
  kubeconfig: string,
  pods: readonly LabPod[],
  opts: { parallel?: number; retryMs?: number } = {},
): Promise<PodPingMatrix> {
  const end = Date.now() + (opts.retryMs ?? 30_000);
  const results: MatrixResult[] = matrixPairs(pods.length).map((p) => ({ ...p, ok: false }));
  while (true) {
    const todo = results.filter((r) => !r.ok);
    const done = await mapLimit(todo, opts.parallel ?? 4, async (r) => ({
      ...r,
      ...await kubectlPing(kubeconfig, pods[r.from]!, pods[r.to]!.ip),
    }));
    for (const d of done) results[results.findIndex((r) => r.from === d.from && r.to === d.to)] = d;
    if (summarize(results).failed === 0 || Date.now() >= end) break;
    await sleep(1000);
  }
  const ok = summarize(results).failed === 0;
  const view = pods.map((p) => ({ name: p.name, ip: p.ip }));
  return { pods: [...pods], results, ok, text: formatMatrix(view, results) };
}

/**
 * `lab up --kubernetes`'s last step: a busybox pod per node, Ready, and the ping matrix between
 * them (`ok` false when a pair stays unreachable).
 */
export async function checkPodNetwork(
  lab: Pick<KubeLab, "adminKubeconfig" | "nodes">,
  opts: { timeoutMs?: number; retryMs?: number } = {},
): Promise<PodPingMatrix> {
  const pods = await startPingPods(lab, opts.timeoutMs);
  return await podPingMatrix(lab.adminKubeconfig, pods, { retryMs: opts.retryMs });
}

/** Deletes the lab's check pods (`kubectl delete pods -l ...`), not waiting for them to go. */
export async function deletePingPods(kubeconfig: string): Promise<void> {
  await kubectl(kubeconfig, [
    "-n",
    "default",
    "delete",
    "pods",
    "-l",
    `app.kubernetes.io/name=${PING_POD_LABEL}`,
    "--wait=false",
  ]);
}
