/**
 * The objects of deploy/kubernetes/skein.yaml a lab creates on its apiserver (Namespace,
 * ServiceAccount, ClusterRole, Role and their bindings), so the lab's daemons run with exactly
 * the manifest's permissions. `lab/kube_objects_test.ts` checks they equal the manifest's.
 *
 * @module
 */

/** The namespace and service account of the manifest. */
export const SKEIN_NAMESPACE = "skein";
/** The ConfigMap holding `net-conf.json`. */
export const SKEIN_CONFIG_MAP = "skein-config";

const RBAC = "rbac.authorization.k8s.io/v1";
const subject = [{ kind: "ServiceAccount", name: "skein", namespace: SKEIN_NAMESPACE }];

/** The manifest's RBAC and identity objects, in creation order. */
export const SKEIN_RBAC_OBJECTS: readonly Record<string, unknown>[] = [
  {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: SKEIN_NAMESPACE, labels: { "app.kubernetes.io/name": "skein" } },
  },
  {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: "skein", namespace: SKEIN_NAMESPACE },
  },
  {
    apiVersion: RBAC,
    kind: "ClusterRole",
    metadata: { name: "skein" },
    rules: [
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch", "patch"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
    ],
  },
  {
    apiVersion: RBAC,
    kind: "ClusterRoleBinding",
    metadata: { name: "skein" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "skein" },
    subjects: subject,
  },
  {
    apiVersion: RBAC,
    kind: "Role",
    metadata: { name: "skein", namespace: SKEIN_NAMESPACE },
    rules: [
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        verbs: ["get", "list", "create", "delete"],
      },
      {
        apiGroups: [""],
        resources: ["configmaps"],
        resourceNames: [SKEIN_CONFIG_MAP],
        verbs: ["get"],
      },
    ],
  },
  {
    apiVersion: RBAC,
    kind: "RoleBinding",
    metadata: { name: "skein", namespace: SKEIN_NAMESPACE },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "skein" },
    subjects: subject,
  },
];

/** The API collection path an object of the table is created at (POST). */
export function collectionPath(o: Record<string, unknown>): string {
  const kind = o.kind as string;
  const ns = (o.metadata as { namespace?: string }).namespace ?? "";
  switch (kind) {
    case "Namespace":
      return "/api/v1/namespaces";
    case "ServiceAccount":
      return `/api/v1/namespaces/${ns}/serviceaccounts`;
    case "ConfigMap":
      return `/api/v1/namespaces/${ns}/configmaps`;
    case "ClusterRole":
      return `/apis/${RBAC}/clusterroles`;
    case "ClusterRoleBinding":
      return `/apis/${RBAC}/clusterrolebindings`;
    case "Role":
      return `/apis/${RBAC}/namespaces/${ns}/roles`;
    case "RoleBinding":
      return `/apis/${RBAC}/namespaces/${ns}/rolebindings`;
    default:
      throw new TypeError(`No collection path for kind ${kind}`);
  }
}
