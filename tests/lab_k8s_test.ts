/**
 * Issue 18's proof (root): `skein lab up --kubernetes --nodes 2 --backend vxlan`, a real cluster
 * (control plane in `<lab>-cp`, containerd + kubelet v1.20.2 per node) with skein installed by
 * `kubectl apply -f deploy/kubernetes/skein.yaml`. One lab for every step:
 *   - both nodes Ready, the skein DaemonSet 2/2;
 *   - busybox pods on both nodes reach each other (`kubectl exec ... ping`), and `skein lab
 *     diagnose default/POD default/POD` finds them by name with no failing check;
 *   - a deleted pod's address is freed: its reservation is gone from the node's own
 *     /var/lib/cni/networks/skein (read inside the node's mount namespace);
 *   - the skein DaemonSet pod of a node is deleted (and recreated) while a pod there pings a pod
 *     on the other node every 20 ms: at most 1 ping is lost (the daemon's restart keeps routes);
 *   - `lab down` leaves the machine as it was: namespaces, mounts, cgroups, processes, sysctls
 *     and the nodes' host paths compared before and after (lab/k8s/snapshot.ts).
 * Waits are generous and nothing is timed: the machine may be loaded.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { labDefaults, labDiagnose, labDown, labUp } from "../lab/mod.ts";
import { inNode, type KubeLab, type KubeLabNode } from "../lab/k8s/types.ts";
import { kubectl, kubectlJson, pollUntil } from "../lab/k8s/kubectl.ts";
import {
  applyPods,
  busyboxPod,
  checkPodNetwork,
  type LabPod,
  type PodObject,
  waitPodsReady,
} from "../lab/k8s/pods.ts";
import { labScope, machineSnapshot, snapshotDiff } from "../lab/k8s/snapshot.ts";
import { sleep } from "../store/sleeper.ts";
import { ensurePackages, skipped } from "./_clients.ts";
import { kubeBinDir, shareKubeletHost } from "./_kubelet.ts";
import { VERSION } from "../version.ts";
import { testPrefix } from "./_netns.ts";

const isRoot = Deno.uid() === 0;
const PACKAGES = [
  "containerd",
  "busybox-static",
  "etcd-server",
  "containernetworking-plugins",
  "nftables",
  "iputils-ping",
];

/** The addresses reserved on `node` (its own /var/lib/cni/networks/skein, as the node sees it). */
async function reservations(node: KubeLabNode): Promise<string[]> {
  const r = await inNode(node, ["ls", "/var/lib/cni/networks/skein"]);
  assertEquals(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort();
}

/** The skein DaemonSet's pod on `node`: name and uid. */
async function skeinPodOn(lab: KubeLab, node: string): Promise<{ name: string; uid: string }> {
  const list = await kubectlJson<{ items: (PodObject & { metadata: { uid: string } })[] }>(
    lab.adminKubeconfig,
    ["-n", "skein", "get", "pods", "-l", "app.kubernetes.io/name=skein"],
  );
  const p = list.items.find((x) => x.spec?.nodeName === node);
  assert(p, `no skein pod on ${node}`);
  return { name: p.metadata.name, uid: p.metadata.uid };
}

interface DaemonSetStatus {
  desiredNumberScheduled?: number;
  numberReady?: number;
  updatedNumberScheduled?: number;
}

async function daemonSetStatus(lab: KubeLab): Promise<DaemonSetStatus> {
  const ds = await kubectlJson<{ status?: DaemonSetStatus }>(lab.adminKubeconfig, [
    "-n",
    "skein",
    "get",
    "daemonset",
    "skein",
  ]);
  return ds.status ?? {};
}

async function nodesReady(lab: KubeLab): Promise<Record<string, boolean>> {
  const list = await kubectlJson<{
    items: {
      metadata: { name: string };
      status: { conditions: { type: string; status: string }[] };
    }[];
  }>(lab.adminKubeconfig, ["get", "nodes"]);
  return Object.fromEntries(list.items.map((n) => [
    n.metadata.name,
    n.status.conditions.some((c) => c.type === "Ready" && c.status === "True"),
  ]));
}

/** Deleting a pod frees its address on its node (the kubelet's CNI DEL through skein). */
async function deletedPodFreesAddress(lab: KubeLab): Promise<void> {
  const node = lab.nodes[0]!;
  await applyPods(lab.adminKubeconfig, [busyboxPod({ name: "free-me", node: node.name })], 120_000);
  const ip = (await waitPodsReady(lab.adminKubeconfig, "default", ["free-me"], 120_000))
    .get("free-me")!;
  assert((await reservations(node)).includes(ip), `${ip} not reserved on ${node.name}`);
  await kubectl(lab.adminKubeconfig, ["delete", "pod", "free-me", "--wait=false"]);
  await pollUntil(`${ip}'s reservation on ${node.name} to go`, 120_000, async () => {
    const held = await reservations(node);
    return held.includes(ip) ? { seen: held.join(" ") } : { done: true };
  });
}

/**
 * The network namespace of the pod holding `ip`, as /proc/PID/ns/net of one of its processes
 * (CRI's cni-* namespaces are mounted inside the node's mount namespace, not in the host's
 * /run/netns). `ip -j addr` is the oracle.
 */
async function podNetns(ip: string): Promise<string> {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let cmd = "";
    try {
      cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (!cmd.startsWith("sleep 86400")) continue;
    const path = `/proc/${e.name}/ns/net`;
    const r = await new Deno.Command("nsenter", {
      args: [`--net=${path}`, "ip", "-j", "-4", "addr", "show"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const links = JSON.parse(new TextDecoder().decode(r.stdout) || "[]") as {
      addr_info: { local: string }[];
    }[];
    if (links.some((l) => l.addr_info.some((a) => a.local === ip))) return path;
  }
  throw new Error(`no pod process holds ${ip}`);
}

/** Packets sent and received by a ping (iputils' summary line). */
function pingCounts(out: string): { sent: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  assert(m, `no ping summary in: ${out}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

/** The last lines of `node`'s kubelet log that mention pod `pod` (to explain a slow step). */
function kubeletLines(lab: KubeLab, node: string, pod: string): string {
  const n = lab.nodes.find((x) => x.name === node);
  let text = "";
  try {
    text = Deno.readTextFileSync(`${n?.dir}/kubelet.log`);
  } catch (e) {
    return `  (no kubelet log for ${node}: ${(e as Error).message})`;
  }
  const lines = text.split("\n").filter((l) => l.includes(pod)).slice(-30);
  return `  ${node}'s kubelet on ${pod}:\n    ${lines.join("\n    ")}`;
}

/**
 * The skein pod of `from`'s node is deleted while `from` pings `to` every 20 ms; the DaemonSet
 * recreates it. Returns the ping's counts once the new pod is Ready (and 2 s more).
 */
async function daemonRestartUnderPing(
  lab: KubeLab,
  from: LabPod,
  to: LabPod,
): Promise<{ sent: number; received: number }> {
  const netns = await podNetns(from.ip);
  const ping = new Deno.Command("nsenter", {
    args: [`--net=${netns}`, "ping", "-n", "-q", "-i", "0.02", "-W", "1", to.ip],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    await sleep(1000);
    const old = await skeinPodOn(lab, from.node);
    const t0 = performance.now();
    let replaced: number | undefined;
    await kubectl(lab.adminKubeconfig, ["-n", "skein", "delete", "pod", old.name, "--wait=false"]);
    await pollUntil("the skein DaemonSet pod to be recreated and Ready", 240_000, async () => {
      const now = await skeinPodOn(lab, from.node).catch(() => undefined);
      const s = await daemonSetStatus(lab);
      const fresh = now !== undefined && now.uid !== old.uid;
      if (fresh) replaced ??= performance.now() - t0;
      return fresh && s.numberReady === lab.nodes.length
        ? { done: true }
        : { seen: `new pod ${fresh}, ready ${s.numberReady}` };
    });
    const took = performance.now() - t0;
    console.log(
      `  ${old.name} deleted: replaced after ${((replaced ?? took) / 1000).toFixed(1)} s, ` +
        `the new pod Ready after ${(took / 1000).toFixed(1)} s`,
    );
    // Usually about 10 s; a slow one says where the time went (the node's kubelet on that pod).
    if (took > 25_000) console.log(kubeletLines(lab, from.node, old.name));
    await sleep(2000);
  } finally {
    ping.kill("SIGINT");
  }
  const out = await ping.output();
  return pingCounts(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name:
    "lab up --kubernetes: Ready nodes, DaemonSet 2/2, pods ping, DEL frees, daemon restart, clean down",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const what = "lab --kubernetes";
    if (skipped(what, ensurePackages(PACKAGES))) return;
    const bins = await kubeBinDir(what, [
      "kube-apiserver",
      "kubelet",
      "kube-scheduler",
      "kube-controller-manager",
    ]);
    if (!bins) return;
    // No kubelet test (exclusive lock) rewrites the host sysctls between the two snapshots; the
    // lab holds the same lock shared.
    const unlock = await shareKubeletHost(`${bins}/kubelet`);
    const name = `${testPrefix()}k`;
    const before = machineSnapshot();
    let down = false;
    try {
      const t0 = performance.now();
      const up = await labUp(
        labDefaults({
          name,
          nodes: 2,
          podsPerNode: 0,
          backend: "vxlan",
          datastore: "kubernetes",
          kubernetes: true,
          skeinVersion: VERSION,
        }),
        (m) => console.log(`  up: ${m}`),
      );
      console.log(`  lab up --kubernetes: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const lab = up.kube!;
      assert(lab, "labUp returned no cluster");
      console.log(up.matrixText);
      assert(up.ok, `lab up's own pod check failed:\n${up.matrixText}`);

      await t.step("both nodes Ready, the skein DaemonSet 2/2", async () => {
        assertEquals(
          await nodesReady(lab),
          Object.fromEntries(lab.nodes.map((n) => [n.name, true])),
        );
        const s = await daemonSetStatus(lab);
        assertEquals([s.desiredNumberScheduled, s.numberReady, s.updatedNumberScheduled], [
          2,
          2,
          2,
        ]);
      });

      let pods: LabPod[] = [];
      await t.step("busybox pods on both nodes reach each other (kubectl exec ping)", async () => {
        const m = await checkPodNetwork(lab);
        console.log(m.text);
        assert(m.ok, m.text);
        pods = m.pods;
        assertEquals(new Set(pods.map((p) => p.node)).size, 2);
      });

      await t.step(
        "skein lab diagnose NAMESPACE/POD: the pods by name, no check fails",
        async () => {
          const [a, b] = pods as [LabPod, LabPod];
          const r = await labDiagnose(name, `${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`);
          assertEquals([r.from?.ip, r.to?.ip], [a.ip, b.ip]);
          // Each pod's own namespace, found among its node's CRI namespaces (another lab's pod
          // may hold the same address in the host's /run/netns).
          for (const e of [r.from, r.to]) {
            assert(/^\/proc\/\d+\/root\/run\/netns\/cni-/.test(e?.netns ?? ""), e?.netns);
          }
          const failed = r.checks.filter((c) => c.status === "fail");
          assertEquals(failed.map((c) => `${c.id} ${c.summary}`), []);
          assert(r.checks.some((c) => c.id === "pod.eth0" && c.status === "pass"), "pod.eth0 ran");
        },
      );

      await t.step(
        "a deleted pod's address is freed on its node",
        () => deletedPodFreesAddress(lab),
      );

      await t.step(
        "the skein pod deleted and recreated under a 20 ms ping: at most 1 lost",
        async () => {
          const [from, to] = pods as [LabPod, LabPod];
          const c = await daemonRestartUnderPing(lab, from, to);
          console.log(`  ping ${from.ip} -> ${to.ip} across the restart: ${c.received}/${c.sent}`);
          assert(c.sent > 100, `only ${c.sent} pings sent`);
          assert(c.sent - c.received <= 1, `${c.sent - c.received} of ${c.sent} pings lost`);
        },
      );

      await t.step("lab down leaves the machine as it was", async () => {
        const r = await labDown(name);
        down = true;
        assertEquals(r.errors, []);
        const after = machineSnapshot();
        assertEquals(snapshotDiff(before, after, labScope(name, before, after)), []);
      });
    } finally {
      if (!down) await labDown(name).catch((e) => console.error(`lab down ${name}: ${e}`));
      unlock();
    }
  },
});
