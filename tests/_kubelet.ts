/**
 * Test helpers for a real kubelet v1.20.2 (scripts/build-kube.sh kubelet) on a test node: the
 * binary (built once per machine), the host sysctls kubelet rewrites (saved and restored), a
 * loopback forwarder that lets a process inside a node namespace reach the apiserver on the
 * root namespace's 127.0.0.1, and the kubelet process itself, started inside the node's network
 * namespace and the private mount namespace of a containerd sandbox (tests/_clients.ts).
 *
 * @module
 */
const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * The directory holding the wanted Kubernetes binaries, building them when needed (cached per
 * machine). Outside CI an unavailable build is a skip (undefined, the reason printed); with `CI`
 * or `SKEIN_REQUIRE_KUBE` set (scripts/test.sh) it fails.
 */
export async function kubeBinDir(what: string, binaries: string[]): Promise<string | undefined> {
  const out = await new Deno.Command("bash", {
    args: [`${REPO}/scripts/build-kube.sh`, ...binaries],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const dir = new TextDecoder().decode(out.stdout).trim();
  if (out.success && dir) return dir;
  const why = `scripts/build-kube.sh could not build ${binaries.join(" ")}`;
  if (Deno.env.get("CI") || Deno.env.get("SKEIN_REQUIRE_KUBE")) {
    throw new Error(`${what}: ${why} (CI and scripts/test.sh must run the kubernetes tests)`);
  }
  console.log(`SKIP ${what}: ${why}`);
  return undefined;
}

/**
 * The host-wide sysctls kubelet's container manager sets at start (setupKernelTunables): not
 * namespaced, so a test saves them first and puts them back afterwards.
 */
const KUBELET_SYSCTLS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
];

/** Reads the sysctls kubelet rewrites; the returned function writes the saved values back. */
export function saveKubeletSysctls(): () => void {
  const saved = KUBELET_SYSCTLS.map((k) => ({
    path: `/proc/sys/${k}`,
    value: Deno.readTextFileSync(`/proc/sys/${k}`).trim(),
  }));
  return () => {
    for (const s of saved) {
      try {
        if (Deno.readTextFileSync(s.path).trim() !== s.value) {
          Deno.writeTextFileSync(s.path, s.value);
        }
      } catch {
        // Best effort: report nothing here, the caller's assertions compare the values.
      }
    }
  };
}

/**
 * Waits for, then holds, this machine's kubelet-test lock (an exclusive flock on the kubelet
 * binary, so no extra file): two test processes running kubelets at once would save each
 * other's rewritten sysctls and restore the wrong values. Returns the release function.
 */
export async function lockKubeletHost(bin: string): Promise<() => void> {
  const f = await Deno.open(bin, { read: true });
  await f.lock(true);
  return () => {
    try {
      f.unlockSync();
    } finally {
      f.close();
    }
  };
}

/** Current values of the sysctls kubelet rewrites (path → value), to compare before/after. */
export function kubeletSysctls(): Record<string, string> {
  return Object.fromEntries(
    KUBELET_SYSCTLS.map((k) => [k, Deno.readTextFileSync(`/proc/sys/${k}`).trim()]),
  );
}

/** A running loopback forwarder (see {@link forwardIntoNetns}). */
export interface Forwarder {
  /** Stops listening, closes every forwarded connection and ends the worker. */
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1:`port` inside network namespace `netns` and forwards each connection to
 * 127.0.0.1:`port` of this process's own (root) namespace: loopback to loopback, so a kubelet in
 * a node namespace reaches the test's apiserver without any link or route in the root namespace.
 * The forwarding runs in a Worker (tests/_forward_worker.ts), on its own thread.
 */
export async function forwardIntoNetns(netns: string, port: number): Promise<Forwarder> {
  const w = new Worker(new URL("./_forward_worker.ts", import.meta.url).href, { type: "module" });
  const next = () =>
    new Promise<unknown>((res) => {
      w.onmessage = (e) => res(e.data);
    });
  const started = next();
  w.postMessage({ netns, port });
  const got = await started;
  if (got !== "ready") {
    w.terminate();
    throw new Error(`cannot forward 127.0.0.1:${port} into ${netns}: ${JSON.stringify(got)}`);
  }
  return {
    close: async () => {
      const closed = next();
      w.postMessage("close");
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
      w.terminate();
    },
  };
}

/** Options for {@link startKubelet}. */
export interface KubeletOptions {
  /** The kubelet binary. */
  bin: string;
  /** A directory of the test for kubelet's root dir, config, certificates and log. */
  dir: string;
  /** The node's network namespace (path). */
  netns: string;
  /** The mount namespace to run in (a containerd sandbox's `<dir>/mntns`). */
  mntns: string;
  /** The kubeconfig kubelet registers and reports with. */
  kubeconfig: string;
  /** containerd's CRI socket path. */
  runtimeSocket: string;
  /** Node name (lower case). */
  nodeName: string;
  /** The node's address (must be on an interface in `netns`). */
  nodeIp: string;
}

/** A started kubelet. */
export interface Kubelet {
  /** Its log file (--log-file). */
  log: string;
  /** The last `n` characters of the log, for failure messages. */
  logTail(n?: number): string;
  /** SIGKILL and wait. */
  stop(): Promise<void>;
}

/**
 * The KubeletConfiguration for a test node: no QoS cgroups and no node-allocatable enforcement
 * (no cgroups of its own in the host hierarchy), no eviction thresholds, no iptables chains,
 * AlwaysAllow on a loopback port, image GC off, frequent status updates.
 */
function kubeletConfig(dir: string, port: number): string {
  return JSON.stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: "127.0.0.1",
    port,
    readOnlyPort: 0,
    healthzPort: 0,
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: "AlwaysAllow" },
    cgroupDriver: "cgroupfs",
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    oomScoreAdj: 0,
    makeIPTablesUtilChains: false,
    evictionHard: {},
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    volumePluginDir: `${dir}/volume-plugins`,
    nodeStatusUpdateFrequency: "2s",
    syncFrequency: "5s",
    runtimeRequestTimeout: "60s",
    serializeImagePulls: false,
  });
}

/**
 * Starts kubelet in the node's network namespace and the sandbox's mount namespace (kubelet
 * bind-mounts its root dir and writes /var/log/pods: both stay inside that mount namespace).
 * Returns at once; wait for the Node to be Ready through the apiserver.
 */
export function startKubelet(o: KubeletOptions): Kubelet {
  for (const d of ["root", "certs", "volume-plugins"]) {
    Deno.mkdirSync(`${o.dir}/${d}`, { recursive: true });
  }
  const port = 20000 + Math.floor(Math.random() * 30000);
  Deno.writeTextFileSync(`${o.dir}/config.json`, kubeletConfig(o.dir, port));
  const log = `${o.dir}/kubelet.log`;
  const child = new Deno.Command("nsenter", {
    args: [
      `--mount=${o.mntns}`,
      `--net=${o.netns}`,
      o.bin,
      `--config=${o.dir}/config.json`,
      `--kubeconfig=${o.kubeconfig}`,
      "--container-runtime=remote",
      `--container-runtime-endpoint=unix://${o.runtimeSocket}`,
      `--root-dir=${o.dir}/root`,
      `--cert-dir=${o.dir}/certs`,
      `--hostname-override=${o.nodeName}`,
      `--node-ip=${o.nodeIp}`,
      "--logtostderr=false",
      "--alsologtostderr=false",
      `--log-file=${log}`,
      "--v=1",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    log,
    logTail: (n = 3000) => {
      try {
        return Deno.readTextFileSync(log).slice(-n);
      } catch {
        return "(no kubelet log)";
      }
    },
    stop: async () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited
      }
      await child.status;
    },
  };
}
