/**
 * deploy/kubernetes/skein.yaml with only the changes a lab needs, as text for `kubectl apply -f`:
 * the image (`skein.local/skein:<version>`, `imagePullPolicy: Never`: there is no registry), the
 * lab's network and backend in the ConfigMap (net-conf.json and daemon.yaml), `iface: eth0` in
 * daemon.yaml (lab nodes have no default route to pick the uplink by), and the optional
 * `kubernetes-services-endpoint` ConfigMap the DaemonSet reads the apiserver's address from (the
 * lab has no kube-proxy, so the `kubernetes` Service's ClusterIP leads nowhere). Every other
 * object and field is the manifest's own. Pure.
 *
 * @module
 */
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from "yaml";

/** The manifest as shipped, beside the sources (install.sh stages it too). */
export const SKEIN_MANIFEST_URL = new URL("../../deploy/kubernetes/skein.yaml", import.meta.url);

/** The ConfigMap the DaemonSet takes KUBERNETES_SERVICE_HOST/PORT from when it exists. */
export const SERVICES_ENDPOINT_CONFIG_MAP = "kubernetes-services-endpoint";

/** What a lab changes in the manifest. */
export interface LabManifestOptions {
  /** The skein image ("skein.local/skein:0.1.0"). */
  image: string;
  /** Cluster pod network ("10.244.0.0/16"). */
  network: string;
  /** Per-node subnet length (24). */
  subnetLen: number;
  /** skein's backend ("vxlan"). */
  backend: string;
  /** The node's uplink name (lab nodes: "eth0"). */
  iface: string;
  /** Where pods reach the apiserver ("192.168.77.2", 6443). */
  apiserver: { host: string; port: number };
}

/** The manifest cannot be adapted: an object the lab changes is missing. */
export class ManifestError extends Error {
  constructor(message: string) {
    super(`deploy/kubernetes/skein.yaml: ${message}`);
    this.name = "ManifestError";
  }
}

type Obj = Record<string, unknown>;

function adaptConfigMap(data: Obj, o: LabManifestOptions): void {
  if (typeof data["net-conf.json"] !== "string" || typeof data["daemon.yaml"] !== "string") {
    throw new ManifestError("the ConfigMap skein-config has no net-conf.json or daemon.yaml");
  }
  const net = JSON.parse(data["net-conf.json"]) as Obj;
  net.Network = o.network;
  net.SubnetLen = o.subnetLen;
  net.Backend = { ...(net.Backend as Obj | undefined), Type: o.backend };
  data["net-conf.json"] = JSON.stringify(net) + "\n";
  const daemon = parseYaml(data["daemon.yaml"]) as Obj;
  daemon.network = o.network;
  daemon.backend = { ...(daemon.backend as Obj | undefined), type: o.backend };
  daemon.iface = o.iface;
  data["daemon.yaml"] = stringifyYaml(daemon);
}

function adaptDaemonSet(spec: Obj, image: string): number {
  const containers = [
    ...((spec.initContainers as Obj[] | undefined) ?? []),
    ...((spec.containers as Obj[] | undefined) ?? []),
  ];
  for (const c of containers) {
    c.image = image;
    c.imagePullPolicy = "Never";
  }
  return containers.length;
}

/**
 * The manifest text with the lab's changes (see the module doc); throws ManifestError when the
 * ConfigMap `skein-config` or the DaemonSet `skein` is missing.
 */
export function labManifest(text: string, o: LabManifestOptions): string {
  const docs = parseAllDocuments(text);
  const out: Obj[] = [];
  let configMap = false;
  let daemonSet = false;
  for (const d of docs) {
    if (d.errors.length) throw new ManifestError(`not YAML: ${d.errors[0]!.message}`);
    const obj = d.toJS() as Obj | null;
    if (!obj) continue;
    const meta = obj.metadata as { name?: string; namespace?: string } | undefined;
    if (obj.kind === "ConfigMap" && meta?.name === "skein-config") {
      adaptConfigMap(obj.data as Obj, o);
      configMap = true;
    } else if (obj.kind === "DaemonSet" && meta?.name === "skein") {
      const tpl = (obj.spec as { template?: { spec?: Obj } } | undefined)?.template?.spec;
      daemonSet = tpl !== undefined && adaptDaemonSet(tpl, o.image) > 0;
    }
    out.push(obj);
    if (obj.kind === "Namespace") {
      out.push({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: SERVICES_ENDPOINT_CONFIG_MAP, namespace: meta?.name },
        data: {
          KUBERNETES_SERVICE_HOST: o.apiserver.host,
          KUBERNETES_SERVICE_PORT: String(o.apiserver.port),
        },
      });
    }
  }
  if (!configMap) throw new ManifestError("no ConfigMap skein-config");
  if (!daemonSet) throw new ManifestError("no DaemonSet skein with containers");
  return out.map((x) => stringifyYaml(x)).join("---\n");
}
