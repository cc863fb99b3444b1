/**
 * Kubernetes pod names (`namespace/pod`) as diagnose endpoints: each is looked up on the
 * apiserver of a kubeconfig (`--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`, as
 * kubectl does; `skein lab diagnose` uses the lab's admin kubeconfig) and becomes a KnownPod with
 * the pod's IPv4 address and node. A pod that does not exist, has no address yet, or uses the
 * host's network is a {@linkcode PodNameError} (exit code 2) naming the pod and why.
 *
 * @module
 */
import { inClusterCredentials, KubeConfigError, loadKubeconfig } from "../store/kube_config.ts";
import { KubeNotFoundError } from "../store/kube_errors.ts";
import { type KubePod, type PodReader, podReader, validPodRef } from "../store/kube_pod.ts";
import { DiagnoseInputError, type KnownPod } from "./endpoint.ts";

/** Why a pod name could not become an address. */
export type PodNameProblem =
  | "no-kubeconfig"
  | "kubeconfig"
  | "not-found"
  | "no-ip"
  | "host-network"
  | "lookup";

/** A pod name that does not resolve to a pod-network address (exit code 2). */
export class PodNameError extends DiagnoseInputError {
  constructor(readonly pod: string, readonly problem: PodNameProblem, message: string) {
    super(message);
    this.name = "PodNameError";
  }
}

/**
 * `namespace/pod` split into its parts, or undefined when `query` is not one (a netns path starts
 * with "/" or "."; a pod name is a DNS-1123 label, "/", a DNS-1123 subdomain).
 */
export function parsePodName(query: string): { namespace: string; name: string } | undefined {
  const m = /^([^/]+)\/([^/]+)$/.exec(query);
  if (!m || !validPodRef(m[1]!, m[2]!)) return undefined;
  return { namespace: m[1]!, name: m[2]! };
}

/**
 * The kubeconfig pod names are looked up with, as kubectl picks it: `flag`, else the first
 * existing file of `$KUBECONFIG` (a colon-separated list), else `$HOME/.kube/config` when it
 * exists; undefined when there is none.
 */
export function kubeconfigFor(
  flag: string | undefined,
  env: { get(k: string): string | undefined } = Deno.env,
): string | undefined {
  if (flag) return flag;
  const exists = (p: string) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  };
  const list = (env.get("KUBECONFIG") ?? "").split(":").filter((p) => p);
  if (list.length) return list.find(exists) ?? list[0];
  const home = env.get("HOME");
  return home && exists(`${home}/.kube/config`) ? `${home}/.kube/config` : undefined;
}

/** The pod's first IPv4 address, or a PodNameError saying why it has none to diagnose. */
function podAddress(id: string, p: KubePod): string {
  if (p.hostNetwork) {
    throw new PodNameError(
      id,
      "host-network",
      `pod ${id} uses the host's network (hostNetwork: true): ${p.podIP || "its address"} is node ${
        p.nodeName || "?"
      }'s own address, not one skein gave a pod; ` +
        `diagnose that node with "skein diagnose --node" there`,
    );
  }
  const v4 = p.podIPs.find((ip) => /^\d{1,3}(\.\d{1,3}){3}$/.test(ip));
  if (!v4) {
    const where = p.nodeName ? `on node ${p.nodeName}` : "not scheduled to a node";
    const has = p.podIPs.length ? ` (only ${p.podIPs.join(", ")})` : "";
    throw new PodNameError(
      id,
      "no-ip",
      `pod ${id} has no IPv4 address yet${has}: phase ${p.phase || "unknown"}, ${where}; ` +
        `"kubectl -n ${p.namespace} describe pod ${p.name}" shows why`,
    );
  }
  return v4;
}

/**
 * Looks up every `namespace/pod` among `queries` through `reader` (other queries are left to
 * resolveEndpoint()); `where` names the apiserver in messages.
 */
export async function resolvePodNames(
  queries: readonly string[],
  reader: PodReader,
  where: string,
): Promise<KnownPod[]> {
  const out: KnownPod[] = [];
  for (const q of queries) {
    const ref = parsePodName(q);
    if (!ref || out.some((p) => p.name === q)) continue;
    let pod: KubePod;
    try {
      pod = await reader.get(ref.namespace, ref.name);
    } catch (e) {
      if (e instanceof KubeNotFoundError) {
        throw new PodNameError(
          q,
          "not-found",
          `no pod "${ref.name}" in namespace "${ref.namespace}" (${where})`,
        );
      }
      throw new PodNameError(q, "lookup", `cannot look up pod ${q} (${where}): ${String(e)}`);
    }
    out.push({ name: q, ip: podAddress(q, pod), ...(pod.nodeName ? { node: pod.nodeName } : {}) });
  }
  return out;
}

/**
 * resolvePodNames() through the apiserver of `kubeconfig` (a path); without pod names among
 * `queries` nothing is read. Without a kubeconfig the in-cluster service account is used (as
 * kubectl does in a pod); neither while a query is a pod name is a PodNameError.
 */
export async function lookupPodNames(
  queries: readonly string[],
  kubeconfig: string | undefined,
  opts: { timeoutMs?: number } = {},
): Promise<KnownPod[]> {
  const named = queries.filter((q) => parsePodName(q) !== undefined);
  if (!named.length) return [];
  let creds;
  let source: string;
  if (!kubeconfig) {
    // As kubectl: without a kubeconfig, inside a pod, the pod's service account.
    try {
      creds = inClusterCredentials();
      source = "in-cluster service account";
    } catch {
      throw new PodNameError(
        named[0]!,
        "no-kubeconfig",
        `${named[0]} is a pod name (namespace/pod), which needs a kubeconfig to look it up: ` +
          "give --kubeconfig FILE or set KUBECONFIG (or run it in a pod with a service account)",
      );
    }
  } else {
    try {
      creds = loadKubeconfig(kubeconfig);
    } catch (e) {
      // KubeConfigError, or a certificate file it names that cannot be read.
      const why = e instanceof KubeConfigError ? e.message : String(e);
      throw new PodNameError(named[0]!, "kubeconfig", `kubeconfig ${kubeconfig}: ${why}`);
    }
    source = `kubeconfig ${kubeconfig}`;
  }
  const reader = podReader(creds, opts);
  try {
    return await resolvePodNames(named, reader, `${source}, ${creds.server}`);
  } finally {
    reader.close();
  }
}
