/**
 * `skein lab up --kubernetes`: a real Kubernetes cluster in the lab (control plane in
 * `<lab>-cp`, containerd + kubelet per node in the node's network namespace and a private mount
 * namespace).
 *
 * @module
 */
export * from "./types.ts";
export {
  kubeLabOf,
  kubeNextSteps,
  labAdminKubeconfig,
  SANDBOX_IMAGE,
  startNodeRuntimes,
  waitNodesRegistered,
} from "./cluster.ts";
export {
  controllerManagerArgs,
  kubeBinary,
  kubeBinDir,
  schedulerArgs,
  startControllers,
} from "./control_plane.ts";
export { containerdConfig, CRI_NAMESPACE, LAB_SNAPSHOTTER } from "./containerd.ts";
export { kubeletArgs, kubeletConfig } from "./kubelet.ts";
export {
  cgroupDirs,
  KUBELET_SYSCTLS,
  readKubeletSysctls,
  removeCgroups,
  restoreSysctls,
} from "./host_state.ts";
export { NODE_PATHS } from "./mount_ns.ts";
export { NODE_CONTAINERD_SOCKET, NODE_KUBELET } from "./node_runtime.ts";
export { kubeTeardown } from "./teardown.ts";
export {
  labScope,
  type MachineSnapshot,
  machineSnapshot,
  snapshotDiff,
  type SnapshotScope,
} from "./snapshot.ts";
