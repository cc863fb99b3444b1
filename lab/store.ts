/**
 * The lab's datastore as a LeaseStore (the same stores the daemons use), for `lab status`,
 * tests and benchmarks.
 *
 * @module
 */
import { EtcdStore } from "../store/etcd.ts";
import { FileStore } from "../store/file.ts";
import type { LeaseStore } from "../store/types.ts";
import type { LabPlan } from "./plan.ts";

/** The key prefix a lab uses in etcd (one per lab, so labs share an etcd safely). */
export function labEtcdPrefix(plan: LabPlan): string {
  return plan.options.etcdPrefix ?? `/skein-lab/${plan.options.name}/network`;
}

/** Opens the lab's lease store; close() it when done. */
export function openLabStore(plan: LabPlan): LeaseStore {
  if (plan.options.datastore === "etcd") {
    const endpoints = plan.options.etcdEndpoints ?? [];
    if (!endpoints.length) {
      throw new Error(`Lab ${plan.options.name} has no etcd endpoint recorded`);
    }
    return new EtcdStore({
      endpoints,
      prefix: labEtcdPrefix(plan),
      timeoutMs: 2000,
      assumedTtlSeconds: plan.options.leaseTtl,
    });
  }
  return new FileStore({ dir: plan.storeDir });
}
