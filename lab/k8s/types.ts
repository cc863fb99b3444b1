/**
 * The shape of a `skein lab up --kubernetes` cluster as the lab's Kubernetes modules share it
 * (cluster, node runtime, CNI install, pods): its nodes with their namespaces and paths, and
 * how to run a command on a node.
 *
 * @module
 */
import { runCommand } from "../_proc.ts";

/** One node of a Kubernetes lab: a network namespace plus a private mount namespace. */
export interface KubeLabNode {
  /** Kubernetes node name ("<lab>-n1"), also its network namespace's name. */
  name: string;
  /** Network namespace name under /run/netns ("<lab>-n1"). */
  netns: string;
  /** The file pinning the node's mount namespace (`nsenter --mount=FILE`). */
  mountNs: string;
  /** The node's lab address ("192.168.77.11"): kubelet's --node-ip and --address. */
  address: string;
  /**
   * Per-node state directory; the sources of the node's bind mounts live under `<dir>/fs`
   * (`<dir>/fs/etc/cni/net.d` is what the node sees as /etc/cni/net.d).
   */
  dir: string;
  /** containerd's socket as seen inside the node's mount namespace. */
  containerdSocket: string;
  /** spec.podCIDR once the controller-manager assigned it. */
  podCidr?: string;
}

/** The CNI a Kubernetes lab installs: skein's DaemonSet, or the reference bridge + host-local. */
export type KubeLabCni = "skein" | "reference";

/** A Kubernetes lab. */
export interface KubeLab {
  /** Lab name ("skein"). */
  name: string;
  /** The lab's state directory (`/run/skein/lab/<name>`). */
  dir: string;
  /** A cluster admin's kubeconfig (server: the loopback forwarder, usable from here). */
  adminKubeconfig: string;
  /** The apiserver's URL on the lab segment ("https://192.168.77.2:6443"): nodes and pods use it. */
  apiserverUrl: string;
  nodes: KubeLabNode[];
  /** The cluster's pod network ("10.244.0.0/16"): the controller-manager's --cluster-cidr. */
  network: string;
  /** Per-node pod subnet length (the controller-manager's --node-cidr-mask-size). */
  subnetLen: number;
  /** skein's backend ("vxlan"). */
  backend: string;
  cni: KubeLabCni;
}

/** What a command run on a node returned. */
export interface NodeCommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The per-node file system path `path` (as the node sees it) in the host's view. */
export function nodeHostPath(node: Pick<KubeLabNode, "dir">, path: string): string {
  if (!path.startsWith("/")) throw new TypeError(`a node path is absolute, got ${path}`);
  return `${node.dir}/fs${path}`;
}

/** The `nsenter` prefix that runs a program inside a node (its mount + network namespace). */
export function nodeEnterArgs(node: Pick<KubeLabNode, "mountNs" | "netns">): string[] {
  return ["nsenter", `--mount=${node.mountNs}`, `--net=/run/netns/${node.netns}`];
}

/**
 * Runs `argv` inside `node` (its mount and network namespace, like the node's own kubelet and
 * containerd: `nsenter --mount=FILE --net=/run/netns/NS ARGV`), with optional stdin text.
 */
export async function inNode(
  node: Pick<KubeLabNode, "mountNs" | "netns">,
  argv: string[],
  opts: { stdin?: string; signal?: AbortSignal } = {},
): Promise<NodeCommandResult> {
  if (!argv.length) throw new TypeError("Cannot run an empty command on a node");
  const r = await runCommand([...nodeEnterArgs(node), ...argv], opts);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}
