/**
 * skein's dataplane backends: host-gw, vxlan and ipip compute what each remote node's lease
 * needs (routes, neighbours, FDB entries) and one shared reconciler applies the difference to the
 * kernel; plus nftables masquerade for pod traffic leaving the cluster network.
 *
 * ```ts ignore
 * import { createBackend, ensureMasquerade } from "./backends/mod.ts";
 * const backend = createBackend({ type: "host-gw", handle, netns, uplink, publicIP, node });
 * backend.setup();
 * const report = backend.reconcile(leases, self); // { added, removed, unchanged, skipped, errors, routes, durationMs }
 * ensureMasquerade({ netns, clusterNetworks: ["10.244.0.0/16"], podSubnets: [self.subnet], enabled: true });
 * ```
 *
 * The reconciler in three steps, for callers that want to look before they change anything
 * (`skein daemon --dry-run`, `skein diagnose`): `snapshot()` reads the kernel, `plan()` (pure)
 * lists the operations with a reason each, `apply()` runs them.
 *
 * ```ts ignore
 * import { plan, snapshot } from "./backends/mod.ts";
 * const p = plan(desired, snapshot(handle, { devices: desired.ownedDevices }));
 * p.ops.filter((op) => op.reason === "wrong-nexthop"); // routes via the wrong gateway
 * p.skipped.filter((s) => s.code === "shadowed");       // leases hidden by a foreign route
 * ```
 *
 * @module
 */
export { createBackend } from "./backend.ts";
export {
  type BackendCapabilities,
  type BackendDefinition,
  backendDefinition,
  backendNames,
  BACKENDS,
  type DesiredBuild,
} from "./registry.ts";
export { BackendConfigError, BackendSetupError } from "./_context.ts";
export {
  ensureMasquerade,
  MASQ_TABLE,
  MasqueradeError,
  type MasqueradeOptions,
  masqueradeScript,
} from "./masquerade.ts";
export { reconcileState, type ReconcileStateOptions } from "./reconcile.ts";
export {
  isLegacyCniRoute,
  isOwnedRoute,
  type KernelSnapshot,
  MAIN_TABLE,
  snapshot,
  type SnapshotOptions,
} from "./snapshot.ts";
export {
  type FdbOp,
  formatOp,
  type LinkOp,
  type NeighOp,
  type OpAction,
  type OpReason,
  type Plan,
  plan,
  type PlanOp,
  type PlanOptions,
  type PlanSkip,
  type RouteOp,
  type SkipCode,
  type UnchangedEntry,
} from "./plan.ts";
export { apply, type ApplyError, type ApplyResult } from "./apply.ts";
export { fdbKey, kernelRouteKey, linkKey, metricOf, neighKey, routeKey } from "./keys.ts";
export { vtepMacPath } from "./vtep_mac.ts";
export type {
  Backend,
  BackendOptions,
  BackendType,
  DesiredState,
  DeviceSpec,
  FdbSpec,
  LeaseEntries,
  NeighSpec,
  ReconcileReport,
  RouteSpec,
  SetupResult,
  Skipped,
  SysctlGetter,
  SysctlSetter,
  Uplink,
} from "./types.ts";
