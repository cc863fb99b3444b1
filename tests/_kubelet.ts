/**
 * Test helpers for a real kubelet v1.20.2 (scripts/build-kube.sh kubelet) on a test node: the
 * binary (built once per machine), the host sysctls kubelet rewrites (saved and restored), a
 * loopback forwarder that lets a process inside a node namespace reach the apiserver on the
 * root namespace's 127.0.0.1, and the kubelet process itself, started inside the node's network
 * namespace and the private mount namespace of a containerd sandbox (tests/_clients.ts).
 *
 * @module
 */
import {
  lockKubeletHost as lockHost,
  readKubeletSysctls,
  restoreSysctls,
} from "../lab/k8s/host_state.ts";
import { kubeletArgs, kubeletConfig } from "../lab/k8s/kubelet.ts";

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

/** Reads the sysctls kubelet rewrites; the returned function writes the saved values back. */
export function saveKubeletSysctls(): () => void {
  const saved = readKubeletSysctls();
  return () => {
    // Best effort: the caller's assertions compare the values.
    restoreSysctls(saved);
  };
}

/**
 * Waits for, then holds, this machine's kubelet lock exclusively (lab/k8s/host_state.ts; a
 * Kubernetes lab's kubelets hold it shared while they run): two savers at once would save each
 * other's rewritten sysctls and restore the wrong values. Returns the release function.
 */
export function lockKubeletHost(bin: string): Promise<() => void> {
  return lockHost(bin, {
    exclusive: true,
    waiting: () =>
      console.log(`waiting for the kubelet lock on ${bin} (a kubelet test or lab runs)`),
  });
}

/**
 * Holds this machine's kubelet lock shared, like a Kubernetes lab (`lab up --kubernetes` takes
 * it shared itself, and an exclusive lock held here would block that lab's kubelets): for a test
 * around a lab, so no kubelet test rewrites the sysctls between its snapshots.
 */
export function shareKubeletHost(bin: string): Promise<() => void> {
  return lockHost(bin, {
    exclusive: false,
    waiting: () => console.log(`waiting for the kubelet lock on ${bin} (a kubelet test runs)`),
  });
}

/** Current values of the sysctls kubelet rewrites (path → value), to compare before/after. */
export const kubeletSysctls = readKubeletSysctls;

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
 * Starts kubelet in the node's network namespace and the sandbox's mount namespace (kubelet
 * bind-mounts its root dir and writes /var/log/pods: both stay inside that mount namespace).
 * Returns at once; wait for the Node to be Ready through the apiserver.
 */
export function startKubelet(o: KubeletOptions): Kubelet {
  for (const d of ["root", "certs", "volume-plugins"]) {
    Deno.mkdirSync(`${o.dir}/${d}`, { recursive: true });
  }
  const port = 20000 + Math.floor(Math.random() * 30000);
  // On loopback only: anonymous access, AlwaysAllow (the lab's kubelets use x509 + webhook).
  Deno.writeTextFileSync(
    `${o.dir}/config.json`,
    kubeletConfig({
      address: "127.0.0.1",
      port,
      healthzPort: 0,
      volumePluginDir: `${o.dir}/volume-plugins`,
    }),
  );
  const log = `${o.dir}/kubelet.log`;
  const child = new Deno.Command("nsenter", {
    args: [
      `--mount=${o.mntns}`,
      `--net=${o.netns}`,
      o.bin,
      ...kubeletArgs({
        config: `${o.dir}/config.json`,
        kubeconfig: o.kubeconfig,
        runtimeSocket: o.runtimeSocket,
        rootDir: `${o.dir}/root`,
        certDir: `${o.dir}/certs`,
        nodeName: o.nodeName,
        nodeIp: o.nodeIp,
        logFile: log,
      }),
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
