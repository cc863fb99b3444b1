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
 * @module
 */
export { createBackend } from "./backend.ts";
export { BackendConfigError, BackendSetupError } from "./_context.ts";
export {
  ensureMasquerade,
  MASQ_TABLE,
  MasqueradeError,
  type MasqueradeOptions,
  masqueradeScript,
} from "./masquerade.ts";
export { isOwnedRoute, reconcileState, type ReconcileStateOptions } from "./reconcile.ts";
export { vtepMacPath } from "./vtep_mac.ts";
export type {
  Backend,
  BackendOptions,
  BackendType,
  DesiredState,
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
