/**
 * A lab node's Kubernetes runtime: containerd (its CRI plugin) and a kubelet, both inside the
 * node's network namespace and its private mount namespace (lab/k8s/mount_ns.ts), where they
 * use a real node's paths: /etc/containerd/config.toml, /var/lib/containerd, /run/containerd,
 * /var/lib/kubelet (config, kubeconfig, pki), /etc/cni/net.d, /opt/cni/bin. The kubelet
 * authenticates as `system:node:<name>` (a client certificate from the lab's CA) and serves on
 * the node's lab address with x509 + webhook authentication.
 *
 * @module
 */
import { processCmdline, spawnDetached, tailFile } from "../_proc.ts";
import { sleep } from "../../store/sleeper.ts";
import { certKubeconfig, kubeBinary } from "./control_plane.ts";
import { containerdConfig } from "./containerd.ts";
import { kubeletArgs, kubeletConfig } from "./kubelet.ts";
import { createNodeMountNs, mountNsId, prepareNodePaths } from "./mount_ns.ts";
import { makeClientCert } from "./pki.ts";
import { kubeletUnderLock } from "./host_state.ts";
import { type KubeLabNode, nodeHostPath } from "./types.ts";

/** containerd's socket inside a node. */
export const NODE_CONTAINERD_SOCKET = "/run/containerd/containerd.sock";
/** kubelet's files inside a node (kubeadm's layout). */
export const NODE_KUBELET = {
  root: "/var/lib/kubelet",
  config: "/var/lib/kubelet/config.yaml",
  kubeconfig: "/var/lib/kubelet/kubeconfig",
  pki: "/var/lib/kubelet/pki",
  ca: "/var/lib/kubelet/pki/ca.crt",
  volumePlugins: "/var/lib/kubelet/volume-plugins",
} as const;

/** What startContainerd() and startKubelet() are given about the cluster. */
export interface NodeRuntimeInputs {
  node: KubeLabNode;
  /** The lab's pin directory (mount_ns.ts mountNsDir). */
  pinDir: string;
  /** The control plane's directory (ca.crt, ca.key). */
  kubeDir: string;
  /** The apiserver on the lab segment. */
  apiserverUrl: string;
  /** The pods' sandbox image. */
  sandboxImage: string;
  /** Told each host path before the lab creates it. */
  recordPath: (hostPath: string) => void;
}

/** True while `pid` runs in the mount namespace with inode `nsId`. */
export function runsInMountNs(pid: number, nsId: number | undefined): boolean {
  if (nsId === undefined || processCmdline(pid) === undefined) return false;
  return mountNsId(`/proc/${pid}/ns/mnt`) === nsId;
}

/**
 * Writes the node's files (containerd's config; kubelet's config, CA, client certificate and
 * kubeconfig) under its per-node sources, and makes its mount namespace. Certificates are made
 * one node at a time (the CA's serial file): call it for one node after the other.
 */
export async function prepareNode(o: NodeRuntimeInputs): Promise<void> {
  const n = o.node;
  prepareNodePaths(n, o.recordPath);
  Deno.writeTextFileSync(
    nodeHostPath(n, "/etc/containerd/config.toml"),
    containerdConfig({
      root: "/var/lib/containerd",
      state: "/run/containerd",
      address: NODE_CONTAINERD_SOCKET,
      optDir: "/var/lib/containerd/opt",
      cri: { sandboxImage: o.sandboxImage, confDir: "/etc/cni/net.d", binDir: "/opt/cni/bin" },
    }),
  );
  const pki = nodeHostPath(n, NODE_KUBELET.pki);
  Deno.mkdirSync(pki, { recursive: true });
  Deno.copyFileSync(`${o.kubeDir}/ca.crt`, nodeHostPath(n, NODE_KUBELET.ca));
  const cert = await makeClientCert({
    caDir: o.kubeDir,
    outDir: pki,
    name: "kubelet-client",
    cn: `system:node:${n.name}`,
    org: "system:nodes",
  });
  Deno.writeTextFileSync(
    nodeHostPath(n, NODE_KUBELET.kubeconfig),
    certKubeconfig({ server: o.apiserverUrl, caFile: `${o.kubeDir}/ca.crt`, ...cert }),
    { mode: 0o600 },
  );
  Deno.writeTextFileSync(
    nodeHostPath(n, NODE_KUBELET.config),
    kubeletConfig({
      address: n.address,
      volumePluginDir: NODE_KUBELET.volumePlugins,
      clientCaFile: NODE_KUBELET.ca,
    }),
  );
  await createNodeMountNs({ pin: n.mountNs, pinDir: o.pinDir, dir: n.dir });
}

/** Starts containerd in the node and waits for its socket; returns its pid. */
export async function startContainerd(node: KubeLabNode): Promise<number> {
  const log = `${node.dir}/containerd.log`;
  const pid = await spawnDetached(["containerd", "--config", "/etc/containerd/config.toml"], {
    logFile: log,
    netns: node.netns,
    mountNs: node.mountNs,
  });
  const nsId = mountNsId(node.mountNs);
  const sock = nodeHostPath(node, node.containerdSocket);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (!runsInMountNs(pid, nsId)) {
      throw new Error(
        `containerd on ${node.name} exited at start; its log ${log}:\n${tailFile(log)}`,
      );
    }
    try {
      if (Deno.statSync(sock).isSocket) return pid;
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`containerd on ${node.name} did not open ${sock} within 30 s; its log ${log}`);
}

/**
 * Starts the node's kubelet under the machine's shared kubelet lock (host_state.ts
 * lockKubeletHost); returns its pid (it registers its Node on its own).
 */
export async function startKubelet(node: KubeLabNode): Promise<number> {
  const bin = kubeBinary("kubelet");
  const args = [
    bin,
    ...kubeletArgs({
      config: NODE_KUBELET.config,
      kubeconfig: NODE_KUBELET.kubeconfig,
      runtimeSocket: node.containerdSocket,
      rootDir: NODE_KUBELET.root,
      certDir: NODE_KUBELET.pki,
      nodeName: node.name,
      nodeIp: node.address,
    }),
  ];
  // flock execs kubelet, which keeps the machine's shared kubelet lock while it runs.
  return await spawnDetached(kubeletUnderLock(bin, args.slice(1)), {
    logFile: `${node.dir}/kubelet.log`,
    netns: node.netns,
    mountNs: node.mountNs,
    finalArgv: args,
  });
}
