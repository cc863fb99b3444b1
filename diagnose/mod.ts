/**
 * `skein diagnose`: why pod A cannot reach pod B, hop by hop, with evidence and a fix. The
 * collectors (local.ts for a node with its daemon config, lab/diagnose.ts for the lab) build a
 * Diagnosis; runDiagnosis() runs the check families over it; render.ts prints the report.
 *
 * @module
 */
export * from "./check.ts";
export type {
  DaemonAnswers,
  DiagnoseOptions,
  Diagnosis,
  Endpoint,
  NodeFacts,
  NodeView,
  Pair,
  StoreView,
} from "./context.ts";
export { Kernel } from "./kernel.ts";
export { askDaemon } from "./daemon_client.ts";
export { readStore, type StoreSpec } from "./store_read.ts";
export { DiagnoseInputError, type KnownPod, resolveEndpoint } from "./endpoint.ts";
export {
  kubeconfigFor,
  lookupPodNames,
  parsePodName,
  PodNameError,
  type PodNameProblem,
  resolvePodNames,
} from "./pod_names.ts";
export { type PairRun, runDiagnosis, runPairDiagnosis } from "./run.ts";
export { rankChecks } from "./rank.ts";
export { counts, renderHuman, renderJson } from "./render.ts";
export { FAMILIES } from "./families/mod.ts";
export type { Family } from "./family.ts";
export { localNodeDiagnose, localPairDiagnose, type LocalSetup } from "./local.ts";
export { writeBundle } from "./bundle.ts";
