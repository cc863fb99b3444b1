/**
 * containerd's config.toml for a Kubernetes node of the lab (and for the tests' containerd
 * sandboxes): own root, state and socket; the CRI plugin with its CNI conf and bin dirs, the
 * pause image, `restrict_oom_score_adj` (root here lacks CAP_SYS_RESOURCE: a negative
 * oom_score_adj fails inside runc) and runc v2 with the cgroupfs driver (cgroup v1).
 *
 * @module
 */

/** The snapshotter a lab node's CRI plugin unpacks images with (`ctr images import` must match). */
export const LAB_SNAPSHOTTER = "overlayfs";

/** containerd's CRI namespace (images a kubelet uses live there; also the cgroup parent). */
export const CRI_NAMESPACE = "k8s.io";

/** What containerdConfig() writes. */
export interface ContainerdConfigInputs {
  /** Persistent root (images, snapshots): /var/lib/containerd on a node. */
  root: string;
  /** State (shim sockets, runc state): /run/containerd on a node. */
  state: string;
  /** The gRPC socket: /run/containerd/containerd.sock on a node. */
  address: string;
  /**
   * Where the opt plugin installs into (default /opt/containerd on the host, which the lab
   * keeps per node: /var/lib/containerd/opt).
   */
  optDir?: string;
  /** The CRI plugin for a kubelet; absent: the CRI plugin is disabled (plain `ctr`). */
  cri?: {
    /** The pods' sandbox (pause) image, e.g. "skein.local/busybox:latest". */
    sandboxImage: string;
    /** CNI conf dir (/etc/cni/net.d on a node). */
    confDir: string;
    /** CNI plugin dir (/opt/cni/bin on a node). */
    binDir: string;
    /** Default LAB_SNAPSHOTTER. */
    snapshotter?: string;
  };
}

/** containerd's config.toml (version 2) for `o`. */
export function containerdConfig(o: ContainerdConfigInputs): string {
  const head = ["version = 2", `root = "${o.root}"`, `state = "${o.state}"`];
  if (!o.cri) head.push('disabled_plugins = ["io.containerd.grpc.v1.cri"]');
  head.push("[grpc]", `address = "${o.address}"`);
  if (o.optDir) head.push('[plugins."io.containerd.internal.v1.opt"]', `path = "${o.optDir}"`);
  if (!o.cri) return [...head, ""].join("\n");
  const p = '[plugins."io.containerd.grpc.v1.cri"';
  return [
    ...head,
    `${p}]`,
    `sandbox_image = "${o.cri.sandboxImage}"`,
    "restrict_oom_score_adj = true",
    'stream_server_address = "127.0.0.1"',
    'stream_server_port = "0"',
    `${p}.containerd]`,
    `snapshotter = "${o.cri.snapshotter ?? LAB_SNAPSHOTTER}"`,
    'default_runtime_name = "runc"',
    `${p}.containerd.runtimes.runc]`,
    'runtime_type = "io.containerd.runc.v2"',
    `${p}.cni]`,
    `bin_dir = "${o.cri.binDir}"`,
    `conf_dir = "${o.cri.confDir}"`,
    "",
  ].join("\n");
}
