/**
 * The rest of a Kubernetes lab's control plane, beside lab/kube.ts's etcd and kube-apiserver in
 * `<lab>-cp`: kube-scheduler and kube-controller-manager v1.20.2 (scripts/build-kube.sh), each
 * with a client certificate from the lab's CA and a kubeconfig for the apiserver on the lab
 * segment. The controller-manager allocates node pod CIDRs (`--allocate-node-cidrs`,
 * `--cluster-cidr` = the lab network, mask = its subnet length), signs service-account tokens
 * (`--service-account-private-key-file`, `--root-ca-file`) and runs each controller as its own
 * service account, as kubeadm sets it up.
 *
 * @module
 */
import { formatKubeconfig } from "../../store/kube_config.ts";
import { processAlive, spawnDetached, tailFile } from "../_proc.ts";
import { type ControlPlaneSite, kubeApiserverBinary, SERVICE_CIDR } from "../kube.ts";
import { makeClientCert } from "./pki.ts";

/** The Kubernetes binaries' directory: SKEIN_KUBE_BIN_DIR or build-kube.sh's cache. */
export function kubeBinDir(): string {
  return Deno.env.get("SKEIN_KUBE_BIN_DIR") ??
    `${Deno.env.get("SKEIN_KUBE_CACHE") ?? "/var/cache/skein/kube"}/v1.20.2/bin`;
}

/** The Kubernetes binaries a cluster lab runs (scripts/build-kube.sh builds them). */
export const KUBE_BINARIES = [
  "kube-apiserver",
  "kubelet",
  "kube-scheduler",
  "kube-controller-manager",
] as const;

/** A Kubernetes binary of the cache, or an error naming the build command. */
export function kubeBinary(name: string): string {
  const bin = name === "kube-apiserver" ? kubeApiserverBinary() : `${kubeBinDir()}/${name}`;
  try {
    Deno.statSync(bin);
  } catch {
    throw new Error(
      `Cannot start ${name}: ${bin} not found (build it: bash scripts/build-kube.sh kube-apiserver kubelet kube-scheduler kube-controller-manager)`,
    );
  }
  return bin;
}

/** Flags shared by the scheduler and the controller-manager. */
function componentArgs(kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    "--leader-elect=false",
    // Health and metrics on the control-plane namespace's own loopback; no insecure port.
    "--bind-address=127.0.0.1",
    "--port=0",
    "--profiling=false",
    "--logtostderr=true",
    "--v=1",
  ];
}

/** kube-scheduler's flags. */
export function schedulerArgs(o: { kubeconfig: string }): string[] {
  return [...componentArgs(o.kubeconfig), "--secure-port=10259"];
}

/** What the controller-manager needs to know about the lab. */
export interface ControllerManagerInputs {
  kubeconfig: string;
  /** Directory of the lab's CA and service-account key (lab/kube.ts makePki: ca.crt, sa.key). */
  pkiDir: string;
  /** The pod network ("10.244.0.0/16"). */
  clusterCidr: string;
  /** Per-node pod subnet length (24). */
  nodeCidrMaskSize: number;
  /** The services' range (the apiserver's --service-cluster-ip-range). */
  serviceCidr: string;
  /** Cluster name (the lab's). */
  clusterName: string;
}

/** kube-controller-manager's flags. */
export function controllerManagerArgs(o: ControllerManagerInputs): string[] {
  return [
    ...componentArgs(o.kubeconfig),
    "--secure-port=10257",
    `--cluster-name=${o.clusterName}`,
    "--allocate-node-cidrs=true",
    `--cluster-cidr=${o.clusterCidr}`,
    `--node-cidr-mask-size=${o.nodeCidrMaskSize}`,
    `--service-cluster-ip-range=${o.serviceCidr}`,
    `--service-account-private-key-file=${o.pkiDir}/sa.key`,
    `--root-ca-file=${o.pkiDir}/ca.crt`,
    "--use-service-account-credentials=true",
    "--controllers=*,bootstrapsigner,tokencleaner",
  ];
}

/** A kubeconfig authenticating with a client certificate (the files' PEM embedded). */
export function certKubeconfig(
  o: { server: string; caFile: string; cert: string; key: string },
): string {
  return formatKubeconfig({
    server: o.server,
    caCert: Deno.readTextFileSync(o.caFile),
    clientCert: Deno.readTextFileSync(o.cert),
    clientKey: Deno.readTextFileSync(o.key),
    namespace: "",
  });
}

/** A started control-plane component. */
export interface ComponentProcess {
  name: string;
  pid: number;
  /** Its directory (on its command line: the marker `lab down` stops it by). */
  dir: string;
  log: string;
}

/** The scheduler and the controller-manager of a cluster lab. */
export interface ControllersInputs {
  /** The control plane's directory (lab/kube.ts: CA, sa.key). */
  kubeDir: string;
  site: ControlPlaneSite;
  clusterName: string;
  clusterCidr: string;
  nodeCidrMaskSize: number;
  record: (p: ComponentProcess) => void;
}

/**
 * Starts kube-scheduler and kube-controller-manager inside the control-plane namespace (each
 * recorded as soon as it runs), talking to the apiserver at the site's address; returns them.
 */
export async function startControllers(o: ControllersInputs): Promise<ComponentProcess[]> {
  const server = `https://${o.site.ip}:${o.site.port}`;
  const out: ComponentProcess[] = [];
  const ids = [
    { name: "kube-scheduler", cn: "system:kube-scheduler" },
    { name: "kube-controller-manager", cn: "system:kube-controller-manager" },
  ];
  for (const id of ids) {
    const bin = kubeBinary(id.name);
    const dir = `${o.kubeDir}/${id.name}`;
    const cert = await makeClientCert({ caDir: o.kubeDir, outDir: dir, name: "client", cn: id.cn });
    const kubeconfig = `${dir}/kubeconfig`;
    Deno.writeTextFileSync(
      kubeconfig,
      certKubeconfig({ server, caFile: `${o.kubeDir}/ca.crt`, ...cert }),
      { mode: 0o600 },
    );
    const args = id.name === "kube-scheduler"
      ? schedulerArgs({ kubeconfig })
      : controllerManagerArgs({
        kubeconfig,
        pkiDir: o.kubeDir,
        clusterCidr: o.clusterCidr,
        nodeCidrMaskSize: o.nodeCidrMaskSize,
        serviceCidr: SERVICE_CIDR,
        clusterName: o.clusterName,
      });
    const log = `${dir}/${id.name}.log`;
    const pid = await spawnDetached([bin, ...args], { logFile: log, netns: o.site.netns });
    const p = { name: id.name, pid, dir, log };
    o.record(p);
    out.push(p);
  }
  return out;
}

/** Throws with its log's tail when a component is no longer running. */
export function checkComponents(components: readonly ComponentProcess[]): void {
  for (const c of components) {
    if (!processAlive(c.pid, c.dir)) {
      throw new Error(`${c.name} exited; its log ${c.log}:\n${tailFile(c.log)}`);
    }
  }
}
