/**
 * `skein lab`: a multi-node cluster of network namespaces on this machine.
 *
 * @module
 */
export * from "./plan.ts";
export * from "./state.ts";
export * from "./matrix.ts";
export {
  type Lab,
  LabExistsError,
  LabInterruptedError,
  labUp,
  loadLab,
  lookAroundText,
  matrixPods,
  type Progress,
  type UpOptions,
  type UpResult,
} from "./up.ts";
export { type DownResult, labDown } from "./down.ts";
export {
  formatStatus,
  type LabStatus,
  labStatus,
  type NodeStatus,
  statusHealthy,
} from "./status.ts";
export { pingMatrix, type PingOptions } from "./ping.ts";
export { attachPod, cniCall, podNetconf } from "./pods.ts";
export {
  daemonConfig,
  nodeSubnet,
  probe,
  startDaemon,
  waitReady,
  type WaitReadyOptions,
} from "./daemons.ts";
export { skeinCommand } from "./skein_bin.ts";
export { labEtcdPrefix, openLabStore } from "./store.ts";
export { restartNodeDaemon, stopNodeDaemon } from "./ops.ts";
export { labDiagnose, NoLabError, NotSkeinLabError } from "./diagnose.ts";
export { type ForwarderOptions, parseHostPort, runForwarder } from "./forward.ts";
