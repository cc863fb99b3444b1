/**
 * skein under a real Kubernetes node (root): kube-apiserver v1.20.2 (tests/_kube_server.ts),
 * kubelet v1.20.2 and Debian's containerd 1.6 with its CRI plugin (the CRI v1alpha2 kubelet 1.20
 * speaks). containerd and kubelet run inside a test node network namespace and a private mount
 * namespace (ContainerdSandbox in _clients.ts); kubelet reaches the apiserver through a loopback
 * forwarder (no link or route in the root namespace). Two such nodes run at once against one
 * apiserver: each node's CNI config is skein in bridge mode with a host-local style range; node
 * a's plugin does the work itself, node b's forwards every call to skein's CNI service (the
 * daemon's socket), which must find CRI's /var/run/netns/cni-... inside containerd's mount
 * namespace. Pods name their node directly (no scheduler); the pause and the pod image are the
 * Kubernetes lab's busybox image (lab/k8s/images.ts), imported with `ctr images import`.
 *
 * Checked on each node: the Node gets Ready, two pods get Running with addresses from skein's
 * range, they ping each other, and deleting a pod runs skein's DEL for it (its reservation and
 * veth gone). The host sysctls kubelet rewrites are restored afterwards.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { cleanupOnInterrupt, testPrefix, withNamespaces } from "./_netns.ts";
import { cniBinDir, cniService, inNs, links, REF_CNI_DIR, reservations } from "./_cni.ts";
import { ContainerdSandbox, ensurePackages, run, skipped } from "./_clients.ts";
import { buildBusyboxImage, BUSYBOX_IMAGE } from "../lab/k8s/images.ts";
import { withKube } from "./_kube_server.ts";
import {
  forwardIntoNetns,
  kubeBinDir,
  type Kubelet,
  kubeletSysctls,
  lockKubeletHost,
  saveKubeletSysctls,
  startKubelet,
} from "./_kubelet.ts";

/** The lab's busybox image (lab/k8s/images.ts): the pods' image and the sandbox (pause) image. */
const IMAGE = BUSYBOX_IMAGE;
const NETWORK = "skkube";
const NODE_IP = "192.168.230.2";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hostVeths(ns: string): string[] {
  return links(ns).map((l) => l.ifname).filter((n) => /^sk[0-9a-f]{12}$/.test(n));
}

/** Polls `f` every 200 ms until it returns a value (not undefined) or `ms` passes. */
async function until<T>(ms: number, what: string, f: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  while (true) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** skein behind a wrapper that logs each call: command, container id, CNI_ARGS. */
function loggingPlugin(work: string, callLog: string): string {
  Deno.writeTextFileSync(callLog, "");
  Deno.writeTextFileSync(
    `${work}/skein`,
    `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID args=$CNI_ARGS" >>'${callLog}'\nexec '${cniBinDir()}/skein' "$@"\n`,
    { mode: 0o755 },
  );
  return `${work}/skein`;
}

function pod(name: string, node: string): unknown {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default" },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      containers: [{
        name: "c",
        image: IMAGE,
        imagePullPolicy: "Never",
        // Exits on SIGTERM (a plain `sleep` as PID 1 ignores it and waits for the SIGKILL).
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
      }],
    },
  };
}

interface PodView {
  phase: string;
  ip?: string;
  containerId?: string;
}

Deno.test("kubelet v1.20 + containerd CRI: Node Ready, pods Running on skein, ping, DEL on delete", async () => {
  const test = "kubelet";
  const pkgs = ["containerd", "busybox-static", "etcd-server"];
  // Any kubectl will do (Debian's kubernetes-client conflicts with other kubectl packages).
  if (run(["kubectl", "version", "--client"]).code !== 0) pkgs.push("kubernetes-client");
  if (skipped(test, ensurePackages(pkgs))) return;
  const bins = await kubeBinDir(test, ["kube-apiserver", "kubelet"]);
  if (!bins) return;
  const work = Deno.makeTempDirSync({ prefix: "skein-kubelet-work-" });
  const image = (await buildBusyboxImage({ cacheDir: work })).archive;
  const unlock = await lockKubeletHost(`${bins}/kubelet`);
  const sysctlsBefore = kubeletSysctls();
  const restoreSysctls = saveKubeletSysctls();
  const unregister = cleanupOnInterrupt(restoreSysctls);
  try {
    await withKube(test, async (k) => {
      // Two nodes at once: node a's plugin does the work itself, node b's forwards every call
      // to skein's CNI service (the daemon's socket) in its namespace.
      await withNamespaces(["a", "b"], async (ns) => {
        const node = (name: "a" | "b", mode: NodeRun["mode"], subnet: string) => {
          const dir = `${work}/${name}`;
          Deno.mkdirSync(dir);
          const callLog = `${dir}/calls.log`;
          const plugin = loggingPlugin(dir, callLog);
          const bin = `${bins}/kubelet`;
          return onNode({
            k,
            name,
            mode,
            subnet,
            node: ns[name]!,
            work: dir,
            plugin,
            callLog,
            image,
            bin,
          });
        };
        const runs = await Promise.allSettled([
          node("a", "in-process", "10.242.30"),
          node("b", "daemon", "10.242.31"),
        ]);
        for (const x of runs) if (x.status === "rejected") throw x.reason;
      });
    }, { extraArgs: ["--disable-admission-plugins=ServiceAccount"] });
  } finally {
    restoreSysctls();
    unregister();
    unlock();
    Deno.removeSync(work, { recursive: true });
  }
  assertEquals(kubeletSysctls(), sysctlsBefore);
});

interface NodeRun {
  k: Parameters<Parameters<typeof withKube>[1]>[0];
  /** Short node name (pods are named after it). */
  name: "a" | "b";
  /** How skein's plugin calls are served on this node. */
  mode: "in-process" | "daemon";
  /** The node's pod range (x.y.z of x.y.z.0/24). */
  subnet: string;
  /** The node's network namespace (path). */
  node: string;
  work: string;
  plugin: string;
  callLog: string;
  image: string;
  bin: string;
}

async function onNode(r: NodeRun): Promise<void> {
  // The node's "uplink": a veth pair inside the node namespace, for kubelet's --node-ip.
  inNs(r.node, ["ip", "link", "set", "lo", "up"]);
  inNs(r.node, ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
  inNs(r.node, ["ip", "addr", "add", `${NODE_IP}/24`, "dev", "eth0"]);
  inNs(r.node, ["ip", "link", "set", "eth0", "up"]);
  inNs(r.node, ["ip", "link", "set", "eth0p", "up"]);
  inNs(r.node, ["ip", "route", "add", "default", "via", "192.168.230.1", "dev", "eth0"]);
  const port = Number(new URL(r.k.server).port);
  const fwd = await forwardIntoNetns(r.node, port);
  let sb: ContainerdSandbox | undefined;
  let kubelet: Kubelet | undefined;
  try {
    // containerd hands its environment down to the plugins it runs.
    const env = { SKEIN_CNI_SOCKET: r.mode === "daemon" ? cniService(r.node) : "off" };
    sb = await ContainerdSandbox.start({
      hostNs: r.node,
      namespace: "k8s.io",
      plugins: { skein: r.plugin, loopback: `${REF_CNI_DIR}/loopback` },
      cri: { sandboxImage: IMAGE },
      // kubelet's fixed /var/log/pods, /var/log/containers and /var/lib/kubelet/device-plugins.
      tmpfs: ["/var/log", "/var/lib"],
      env,
    });
    const ipamDir = `${sb.dir}/ipam`;
    Deno.writeTextFileSync(
      `${sb.confDir}/10-skein.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: NETWORK,
        plugins: [{
          type: "skein",
          bridge: "skkube0",
          isGateway: true,
          isDefaultGateway: true,
          ipam: { type: "skein", subnet: `${r.subnet}.0/24`, dataDir: ipamDir },
        }],
      }),
    );
    sb.ctrOk(["images", "import", "--snapshotter", "native", r.image]);
    const nodeName = `${testPrefix()}-${r.name}`;
    const started = Date.now();
    kubelet = startKubelet({
      bin: r.bin,
      dir: `${r.work}/kubelet`,
      netns: r.node,
      mntns: `${sb.dir}/mntns`,
      kubeconfig: r.k.kubeconfig(r.k.admin, `kubelet-${r.name}`),
      runtimeSocket: `${sb.dir}/containerd.sock`,
      nodeName,
      nodeIp: NODE_IP,
    });
    await pods({ ...r, sb, kubelet, nodeName, started, ipamDir });
  } finally {
    await kubelet?.stop();
    await sb?.stop();
    await fwd.close();
  }
}

async function pods(
  r: NodeRun & {
    sb: ContainerdSandbox;
    kubelet: Kubelet;
    nodeName: string;
    started: number;
    ipamDir: string;
  },
): Promise<void> {
  const kc = r.k.kubeconfig(r.k.admin, `admin-${r.name}`);
  const [n1, n2] = [`${r.name}-p1`, `${r.name}-p2`];
  const kubectl = (args: string[]) => run(["kubectl", `--kubeconfig=${kc}`, ...args]);
  const fail = (what: string) => `${what}\n--- kubelet log tail:\n${r.kubelet.logTail()}`;

  await until(90_000, "the Node to be Ready", () => {
    const g = kubectl(["get", "node", r.nodeName, "-o", "json"]);
    if (g.code !== 0) return undefined;
    const conds = JSON.parse(g.stdout).status?.conditions ?? [];
    return conds.some((c: { type: string; status: string }) =>
        c.type === "Ready" && c.status === "True"
      )
      ? true
      : undefined;
  }).catch((e) => {
    throw new Error(fail((e as Error).message));
  });
  const readyMs = Date.now() - r.started;

  const created = Date.now();
  for (const name of [n1, n2]) {
    Deno.writeTextFileSync(`${r.work}/${name}.json`, JSON.stringify(pod(name, r.nodeName)));
    const c = kubectl(["create", "-f", `${r.work}/${name}.json`]);
    assertEquals(c.code, 0, c.stderr);
  }
  const view = (name: string): PodView | undefined => {
    const g = kubectl(["get", "pod", name, "-o", "json"]);
    if (g.code !== 0) return undefined;
    const s = JSON.parse(g.stdout).status ?? {};
    return {
      phase: s.phase,
      ip: s.podIP,
      containerId: s.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, ""),
    };
  };
  const running = await until(60_000, "both pods Running", () => {
    const v = [n1, n2].map(view);
    return v.every((p) => p?.phase === "Running" && p.ip) ? v as PodView[] : undefined;
  }).catch((e) => {
    throw new Error(
      fail(`${(e as Error).message}: ${kubectl(["get", "pods", "-o", "wide"]).stdout}`),
    );
  });
  const runningMs = Date.now() - created;
  const [p1, p2] = running as [PodView, PodView];
  for (const p of [p1, p2]) {
    assert(p.ip!.startsWith(`${r.subnet}.`), `pod IP ${p.ip} not from skein`);
  }
  assert(p1.ip !== p2.ip, "two pods share an address");
  assertEquals(reservations(r.ipamDir, NETWORK), [p1.ip!, p2.ip!].sort());
  assertEquals(hostVeths(r.node).length, 2);

  // Pod to pod: from p1's network namespace (its task's pid, through ctr) to p2 and back.
  const pidOf = (id: string) => {
    const line = r.sb.ctrOk(["tasks", "ls"]).split("\n").find((l) => l.startsWith(id + " "));
    return Number(line?.trim().split(/\s+/)[1]);
  };
  for (const [from, to] of [[p1, p2], [p2, p1]] as const) {
    const pid = pidOf(from.containerId!);
    assert(pid > 0, `no task for ${from.containerId}`);
    const ping = run(["nsenter", `--net=/proc/${pid}/ns/net`, "ping", "-c1", "-W2", to.ip!]);
    assertEquals(ping.code, 0, `ping ${from.ip} -> ${to.ip}: ${ping.stdout}${ping.stderr}`);
  }

  // Deleting p1 runs skein's DEL for its sandbox: its address and veth go, p2's stay.
  const deleted = Date.now();
  const d = kubectl(["delete", "pod", n1, "--wait=false"]);
  assertEquals(d.code, 0, fail(d.stderr));
  await until(
    30_000,
    "p1's reservation to be freed",
    () => reservations(r.ipamDir, NETWORK).includes(p1.ip!) ? undefined : true,
  );
  const delMs = Date.now() - deleted;
  assertEquals(reservations(r.ipamDir, NETWORK), [p2.ip!]);
  assertEquals(hostVeths(r.node).length, 1);
  await until(
    30_000,
    "the Pod object p1 to go",
    () => kubectl(["get", "pod", n1, "-o", "name"]).code === 0 ? undefined : true,
  ).catch((e) => {
    throw new Error(fail((e as Error).message));
  });
  const goneMs = Date.now() - deleted;
  const calls = Deno.readTextFileSync(r.callLog).trim().split("\n");
  const forPod = (cmd: string, name: string) =>
    calls.filter((c) => c.startsWith(`${cmd} `) && new RegExp(`K8S_POD_NAME=${name}(;|$)`).test(c))
      .length;
  assertEquals([forPod("ADD", n1), forPod("ADD", n2)], [1, 1], calls.join("\n"));
  assert(forPod("DEL", n1) >= 1, `no DEL for p1: ${calls.join("\n")}`);
  assertEquals(forPod("DEL", n2), 0, calls.join("\n"));
  console.log(
    `kubelet node ${r.name} (CNI ${r.mode}): Node Ready ${readyMs} ms after kubelet start; 2 pods Running ${runningMs} ms ` +
      `after creation; after deleting p1 its reservation was freed in ${delMs} ms, the Pod ` +
      `object gone in ${goneMs} ms; CNI calls: ADD p1 1, ADD p2 1, DEL p1 ` +
      `${forPod("DEL", n1)}`,
  );
  const d2 = kubectl(["delete", "pod", n2, "--wait=false"]);
  assertEquals(d2.code, 0, fail(d2.stderr));
  await until(
    30_000,
    "p2's reservation to be freed",
    () => reservations(r.ipamDir, NETWORK).length === 0 ? true : undefined,
  );
  assertEquals(hostVeths(r.node), []);
}
