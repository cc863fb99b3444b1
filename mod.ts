/**
 * skein as a library: the kernel layer (rtnetlink over FFI, namespaces, sysctl, CIDR math),
 * the datastore types and the backend/reconciler API. The program itself starts in main.ts.
 *
 * ```ts
 * import { openHandle } from "./mod.ts";
 * using h = openHandle();
 * console.log(h.routeList({ family: 4 }).length);
 * ```
 *
 * @module
 */
export * from "./net/mod.ts";
export type { Lease, LeaseEvent, NetworkConfig } from "./store/types.ts";
export {
  type DatastoreDefinition,
  datastoreDefinition,
  datastoreNames,
  DATASTORES,
} from "./store/registry.ts";
export type { Lifecycle, LifecycleHost } from "./component/lifecycle.ts";
export {
  apply,
  type ApplyResult,
  type BackendDefinition,
  backendDefinition,
  backendNames,
  BACKENDS,
  formatOp,
  type KernelSnapshot,
  type Plan,
  plan,
  type PlanOp,
  type PlanSkip,
  snapshot,
} from "./backends/mod.ts";
export type { DesiredState, LeaseEntries } from "./backends/types.ts";
export { CniCode, CniError } from "./cni/errors.ts";
export { VERSION } from "./version.ts";
