/**
 * Pods as `skein diagnose` reads them: one v1 Pod by namespace and name (`kubectl get pod -n NS
 * NAME -o json`), parsed at the boundary into {@linkcode KubePod}: its addresses, node, phase and
 * whether it uses the host's network. Read-only.
 *
 * @module
 */
import { KubeClient } from "./_kube_client.ts";
import type { KubeCredentials } from "./kube_config.ts";

/** The parts of a v1 Pod skein reads. */
export interface KubePod {
  namespace: string;
  name: string;
  /** spec.nodeName ("" while unscheduled). */
  nodeName: string;
  /** spec.hostNetwork: the pod shares its node's network namespace (its IP is the node's). */
  hostNetwork: boolean;
  /** status.phase ("Pending", "Running", ...; "" when the status has none yet). */
  phase: string;
  /** status.podIP ("" until the runtime reported one). */
  podIP: string;
  /** status.podIPs (dual stack: v4 and v6), podIP first. */
  podIPs: string[];
  /** status.hostIP: the node's address ("" until scheduled and reported). */
  hostIP: string;
}

/** A Pod object the apiserver sent that is not one (a field of the wrong type, no name). */
export class BadPodError extends SyntaxError {
  constructor(readonly pod: string, reason: string) {
    super(`Cannot read ${pod}: ${reason}`);
    this.name = "BadPodError";
  }
}

/** A DNS-1123 label: a namespace (at most 63 characters). */
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS-1123 subdomain: a pod name (at most 253 characters). */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Whether `namespace` and `name` are a valid namespace and pod name. */
export function validPodRef(namespace: string, name: string): boolean {
  return LABEL.test(namespace) && name.length <= 253 && SUBDOMAIN.test(name);
}

function text(v: unknown, what: string, pod: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new BadPodError(pod, `${what} is not a string`);
  return v;
}

/** A Pod object (JSON) as {@linkcode KubePod}; BadPodError for one that is not a Pod. */
export function parsePod(o: unknown): KubePod {
  if (typeof o !== "object" || o === null) throw new BadPodError("pod", "not an object");
  const p = o as {
    metadata?: { name?: unknown; namespace?: unknown };
    spec?: { nodeName?: unknown; hostNetwork?: unknown };
    status?: { phase?: unknown; podIP?: unknown; podIPs?: unknown; hostIP?: unknown };
  };
  const name = text(p.metadata?.name, "metadata.name", "pod");
  if (!name) throw new BadPodError("pod", "metadata.name is missing");
  const id = `pod ${text(p.metadata?.namespace, "metadata.namespace", name)}/${name}`;
  const podIP = text(p.status?.podIP, "status.podIP", id);
  const listed = Array.isArray(p.status?.podIPs)
    ? (p.status.podIPs as unknown[]).map((x) =>
      text((x as { ip?: unknown } | null)?.ip, "status.podIPs[].ip", id)
    ).filter((x) => x)
    : [];
  const podIPs = podIP ? [podIP, ...listed.filter((x) => x !== podIP)] : listed;
  return {
    namespace: text(p.metadata?.namespace, "metadata.namespace", id),
    name,
    nodeName: text(p.spec?.nodeName, "spec.nodeName", id),
    hostNetwork: p.spec?.hostNetwork === true,
    phase: text(p.status?.phase, "status.phase", id),
    podIP,
    podIPs,
    hostIP: text(p.status?.hostIP, "status.hostIP", id),
  };
}

/**
 * One Pod (`kubectl get pod -n NAMESPACE NAME -o json`). Throws KubeNotFoundError when there is
 * none, the other typed errors of kube_errors.ts, StoreError when the apiserver is unreachable.
 */
export async function getPod(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<KubePod> {
  const o = await client.request<unknown>({
    verb: "get",
    resource: "pods",
    namespace,
    name,
    method: "GET",
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`,
  });
  return parsePod(o);
}

/** Reads Pods from one apiserver; close() when done. */
export interface PodReader {
  /** One Pod; errors as getPod(). */
  get(namespace: string, name: string): Promise<KubePod>;
  close(): void;
}

/** A PodReader on `creds` (each request bounded by `timeoutMs`, default 5 s). */
export function podReader(creds: KubeCredentials, opts: { timeoutMs?: number } = {}): PodReader {
  const client = new KubeClient(creds, { timeoutMs: opts.timeoutMs ?? 5000 });
  return {
    get: (namespace, name) => getPod(client, namespace, name),
    close: () => client.close(),
  };
}
