/**
 * The lab's datastore as a LeaseStore (the same stores the daemons use), for `lab status`,
 * tests and benchmarks.
 *
 * @module
 */
import { EtcdStore } from "../store/etcd.ts";
import { FileStore } from "../store/file.ts";
import { KubeStore } from "../store/kubernetes.ts";
import { loadKubeconfig } from "../store/kube_config.ts";
import type { LeaseStore } from "../store/types.ts";
import { kubePaths } from "./kube.ts";
import { SKEIN_CONFIG_MAP, SKEIN_NAMESPACE } from "./kube_objects.ts";
import type { LabPlan } from "./plan.ts";

/** Where a lab's control plane keeps its files (`--datastore kubernetes`). */
export function labKubeDir(plan: LabPlan): string {
  return `${plan.stateDir}/kube`;
}

/**
 * The `datastore` section of a lab daemon's config. `as: "admin"`: the lab's own tools (status,
 * diagnose) read a kubernetes lab as its admin; the daemons use the skein service account.
 */
export function labDatastoreSection(
  plan: LabPlan,
  as: "daemon" | "admin" = "daemon",
): Record<string, unknown> {
  const o = plan.options;
  if (o.datastore === "etcd") {
    return {
      type: "etcd",
      endpoints: o.etcdEndpoints ?? [],
      prefix: labEtcdPrefix(plan),
      ttl: o.leaseTtl,
    };
  }
  if (o.datastore === "kubernetes") {
    const p = kubePaths(labKubeDir(plan));
    return {
      type: "kubernetes",
      kubeconfig: as === "admin" ? p.admin : p.daemon,
      namespace: SKEIN_NAMESPACE,
      configMap: SKEIN_CONFIG_MAP,
      // The daemons notice an apiserver outage within this (+ the request timeout).
      configCache: Math.min(30, o.reconcilePeriod * 5),
      ttl: o.leaseTtl,
    };
  }
  return { type: "file", dir: plan.storeDir, ttl: o.leaseTtl };
}

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
  if (plan.options.datastore === "kubernetes") {
    return new KubeStore({
      credentials: loadKubeconfig(kubePaths(labKubeDir(plan)).admin),
      namespace: SKEIN_NAMESPACE,
      timeoutMs: 2000,
      assumedTtlSeconds: plan.options.leaseTtl,
    });
  }
  return new FileStore({ dir: plan.storeDir });
}
