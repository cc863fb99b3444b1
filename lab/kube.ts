/**
 * A Kubernetes control plane for a lab (`--datastore kubernetes`): Debian's etcd 3.4 and
 * kube-apiserver v1.20.2 (scripts/build-kube.sh) in the control-plane namespace `<lab>-cp` on
 * the lab's segment (etcd on its 127.0.0.1, the apiserver on 192.168.77.2:6443, which node
 * namespaces reach directly). The daemons' processes run in the root namespace (each programs
 * its node's namespace from there), so they reach the apiserver through `skein lab forward`:
 * 127.0.0.1:PORT here, connecting from inside `<lab>-cp` (no link or route in the root
 * namespace). TLS from a throwaway CA, RBAC on, the manifest's Namespace/ServiceAccount/roles, a
 * service-account token from the TokenRequest API for the daemons, and a Node object per lab
 * node (there is no kubelet).
 *
 * @module
 */
import { KubeClient } from "../store/_kube_client.ts";
import { formatKubeconfig, type KubeCredentials } from "../store/kube_config.ts";
import { encodeNetworkConfig } from "../store/flannel.ts";
import { NET_CONF_KEY } from "../store/kubernetes.ts";
import type { NetworkConfig } from "../store/types.ts";
import { sleep } from "../store/sleeper.ts";
import { processAlive, runCommand, spawnDetached, tailFile } from "./_proc.ts";
import { skeinArgv, skeinCommand } from "./skein_bin.ts";
import { startEtcd } from "./etcd.ts";
import { makeClientCert } from "./k8s/pki.ts";
import {
  collectionPath,
  SKEIN_CONFIG_MAP,
  SKEIN_NAMESPACE,
  SKEIN_RBAC_OBJECTS,
} from "./kube_objects.ts";

/** The apiserver binary: SKEIN_KUBE_APISERVER or build-kube.sh's cache. */
export function kubeApiserverBinary(): string {
  return Deno.env.get("SKEIN_KUBE_APISERVER") ??
    `${Deno.env.get("SKEIN_KUBE_CACHE") ?? "/var/cache/skein/kube"}/v1.20.2/bin/kube-apiserver`;
}

/** The services' range of a lab's apiserver (and controller-manager). */
export const SERVICE_CIDR = "10.96.0.0/16";

/** Files of a lab's control plane, under `<stateDir>/kube`. */
export function kubePaths(dir: string): { admin: string; daemon: string; token: string } {
  return {
    admin: `${dir}/admin.kubeconfig`,
    daemon: `${dir}/skein.kubeconfig`,
    token: `${dir}/skein.token`,
  };
}

/** A started control plane. */
export interface KubeControlPlane {
  etcd: { pid: number; dir: string; url: string };
  /** The apiserver on the lab's segment ("https://192.168.77.2:6443", inside `<lab>-cp`). */
  apiserver: { pid: number; dir: string; url: string };
  /** The loopback forwarder to it ("https://127.0.0.1:PORT"), which both kubeconfigs use. */
  forwarder: { pid: number; url: string };
  /**
   * The daemons' kubeconfig (the skein service account's token, re-read from its file); none
   * in a cluster with kubelets (the DaemonSet's pods use their own service account).
   */
  daemonKubeconfig?: string;
  /** A cluster admin's kubeconfig (lab status, tests). */
  adminKubeconfig: string;
}

async function openssl(dir: string, steps: string[][]): Promise<void> {
  for (const args of steps) {
    const r = await runCommand(["sh", "-c", `cd "$1" && shift && exec "$@"`, "sh", dir, ...args]);
    if (!r.success) {
      throw new Error(`Cannot make the lab's certificates: ${args.join(" ")}: ${r.stderr}`);
    }
  }
}

/**
 * A CA, the serving certificate for `ip` and 127.0.0.1 (the forwarder), service-account keys
 * and the admin token.
 */
async function makePki(dir: string, ip: string): Promise<string> {
  Deno.writeTextFileSync(
    `${dir}/san.ext`,
    `subjectAltName=IP:${ip},IP:127.0.0.1,DNS:localhost\n`,
  );
  await openssl(dir, [
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-subj",
      "/CN=skein-lab-ca",
      "-days",
      "30",
    ],
    [
      "openssl",
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=kube-apiserver",
    ],
    [
      "openssl",
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "30",
      "-extfile",
      "san.ext",
    ],
    ["openssl", "genrsa", "-out", "sa.key", "2048"],
    ["openssl", "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"],
  ]);
  const token = crypto.randomUUID();
  Deno.writeTextFileSync(`${dir}/tokens.csv`, `${token},lab-admin,lab-admin,system:masters\n`, {
    mode: 0o600,
  });
  return token;
}

/**
 * kube-apiserver's flags for a throwaway control plane (the lab's, and the tests'): TLS from
 * `dir` (makePki's layout), token auth, RBAC, service-account keys, no insecure port.
 */
export function apiserverArgs(
  o: {
    dir: string;
    ip: string;
    port: number;
    etcd: string;
    /**
     * A cluster with kubelets (`lab up --kubernetes`): the apiserver's client certificate to
     * the kubelets (exec, logs), the Node authorizer before RBAC, and the kubelets reached on
     * their InternalIP (the lab address; their names do not resolve).
     */
    kubeletClient?: { cert: string; key: string };
  },
): string[] {
  const dir = o.dir;
  const kc = o.kubeletClient;
  return [
    `--etcd-servers=${o.etcd}`,
    `--bind-address=${o.ip}`,
    `--advertise-address=${o.ip}`,
    `--secure-port=${o.port}`,
    "--insecure-port=0",
    `--cert-dir=${dir}/certs`,
    `--tls-cert-file=${dir}/server.crt`,
    `--tls-private-key-file=${dir}/server.key`,
    `--client-ca-file=${dir}/ca.crt`,
    `--token-auth-file=${dir}/tokens.csv`,
    kc ? "--authorization-mode=Node,RBAC" : "--authorization-mode=RBAC",
    ...(kc
      ? [
        `--kubelet-client-certificate=${kc.cert}`,
        `--kubelet-client-key=${kc.key}`,
        "--kubelet-preferred-address-types=InternalIP",
      ]
      : []),
    `--service-account-key-file=${dir}/sa.pub`,
    `--service-account-signing-key-file=${dir}/sa.key`,
    "--service-account-issuer=https://kubernetes.default.svc",
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    "--allow-privileged=true",
    "--endpoint-reconciler-type=none",
    "--profiling=false",
    "--logtostderr=true",
  ];
}

/** Waits until /readyz answers 200 (or the process died). */
async function waitApiserver(
  admin: KubeClient,
  pid: number,
  marker: string,
  log: string,
): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (!processAlive(pid, marker)) {
      throw new Error(`kube-apiserver exited at start; its log ${log}:\n${tailFile(log)}`);
    }
    if (
      await admin.requestText({ verb: "get", resource: "readyz", method: "GET", path: "/readyz" })
        .then(
          () => true,
          () => false,
        )
    ) {
      return;
    }
    await sleep(200);
  }
  throw new Error(`kube-apiserver not ready after 90 s; its log ${log}:\n${tailFile(log)}`);
}

/** Where a lab's control plane runs: its namespace, and the apiserver's address there. */
export interface ControlPlaneSite {
  /** Namespace name ("<lab>-cp"). */
  netns: string;
  /** The apiserver's address on the lab's segment ("192.168.77.2"). */
  ip: string;
  port: number;
}

type RecordProcess = (p: { name: string; pid: number; dir: string; url: string }) => void;

/**
 * Starts `skein lab forward` (127.0.0.1 here → the apiserver, connecting from inside the
 * control-plane namespace) and waits for the address it listens on.
 */
async function startForwarder(dir: string, site: ControlPlaneSite): Promise<{
  pid: number;
  url: string;
}> {
  const addrFile = `${dir}/forward.addr`;
  const log = `${dir}/forward.log`;
  const [cmd, args] = skeinArgv(skeinCommand(), [
    "lab",
    "forward",
    "--listen",
    "127.0.0.1:0",
    "--netns",
    site.netns,
    "--to",
    `${site.ip}:${site.port}`,
    "--addr-file",
    addrFile,
  ]);
  const pid = await spawnDetached([cmd, ...args], { logFile: log });
  for (let i = 0; i < 600; i++) {
    try {
      const addr = Deno.readTextFileSync(addrFile).trim();
      if (addr) return { pid, url: `https://${addr}` };
    } catch { /* not yet */ }
    if (!processAlive(pid, addrFile)) {
      throw new Error(`skein lab forward exited at start; its log ${log}:\n${tailFile(log)}`);
    }
    await sleep(100);
  }
  throw new Error(`skein lab forward did not listen within 60 s; its log ${log}`);
}

/** How startKube() sets the control plane up. */
export interface StartKubeOptions {
  /**
   * A cluster with kubelets (`lab up --kubernetes`): the apiserver gets a client certificate
   * to the kubelets and the Node authorizer; no skein objects, Nodes or service-account token
   * are made (the kubelets register their Nodes, `kubectl apply` makes skein's objects).
   */
  cluster?: boolean;
}

/**
 * Starts etcd and kube-apiserver under `dir` inside the control-plane namespace (recording each
 * through `record` as soon as it runs) and the loopback forwarder the daemons and the lab's tools
 * reach the apiserver through; creates the manifest's RBAC objects, the network config and a
 * Node per name, and writes the daemons' and the admin's kubeconfigs (both via the forwarder).
 * With `opts.cluster` only the admin's kubeconfig (see StartKubeOptions).
 */
export async function startKube(
  dir: string,
  site: ControlPlaneSite,
  net: NetworkConfig,
  nodeNames: readonly string[],
  record: RecordProcess,
  opts: StartKubeOptions = {},
): Promise<KubeControlPlane> {
  const bin = kubeApiserverBinary();
  try {
    Deno.statSync(bin);
  } catch {
    throw new Error(
      `Cannot start kube-apiserver: ${bin} not found (build it: bash scripts/build-kube.sh)`,
    );
  }
  Deno.mkdirSync(dir, { recursive: true });
  const etcd = await startEtcd(`${dir}/etcd`, { netns: site.netns });
  record({ name: "etcd", pid: etcd.pid, dir: etcd.dir, url: `${etcd.url} in ${site.netns}` });
  const token = await makePki(dir, site.ip);
  const kubeletClient = opts.cluster
    ? await makeClientCert({
      caDir: dir,
      outDir: dir,
      name: "apiserver-kubelet-client",
      cn: "kube-apiserver-kubelet-client",
      org: "system:masters",
    })
    : undefined;
  const apiUrl = `https://${site.ip}:${site.port}`;
  const log = `${dir}/apiserver.log`;
  const pid = await spawnDetached([
    bin,
    ...apiserverArgs({ dir, ip: site.ip, port: site.port, etcd: etcd.url, kubeletClient }),
  ], {
    logFile: log,
    netns: site.netns,
  });
  record({ name: "kube-apiserver", pid, dir, url: `${apiUrl} in ${site.netns}` });
  const fwd = await startForwarder(dir, site);
  record({ name: "kube-forwarder", pid: fwd.pid, dir, url: `${fwd.url} -> ${apiUrl}` });
  const caCert = Deno.readTextFileSync(`${dir}/ca.crt`);
  const url = fwd.url;
  // A cluster's admin works in "default", like kubeadm's admin.conf.
  const namespace = opts.cluster ? "" : SKEIN_NAMESPACE;
  const adminCreds: KubeCredentials = { server: url, caCert, token, namespace };
  const admin = new KubeClient(adminCreds);
  try {
    await waitApiserver(admin, pid, `${dir}/certs`, log);
    const paths = kubePaths(dir);
    Deno.writeTextFileSync(paths.admin, formatKubeconfig(adminCreds), { mode: 0o600 });
    const started = {
      etcd: { pid: etcd.pid, dir: etcd.dir, url: etcd.url },
      apiserver: { pid, dir, url: apiUrl },
      forwarder: { pid: fwd.pid, url },
      adminKubeconfig: paths.admin,
    };
    if (opts.cluster) return started;
    await createObjects(admin, net, nodeNames);
    Deno.writeTextFileSync(paths.token, await serviceAccountToken(admin), { mode: 0o600 });
    Deno.writeTextFileSync(
      paths.daemon,
      formatKubeconfig({ server: url, caCert, tokenFile: paths.token, namespace: SKEIN_NAMESPACE }),
      { mode: 0o600 },
    );
    return { ...started, daemonKubeconfig: paths.daemon };
  } finally {
    admin.close();
  }
}

/** A week's token of the skein service account (TokenRequest API). */
async function serviceAccountToken(admin: KubeClient): Promise<string> {
  const sa = await admin.request<{ status: { token: string } }>({
    verb: "create",
    resource: "serviceaccounts/token",
    namespace: SKEIN_NAMESPACE,
    method: "POST",
    path: `/api/v1/namespaces/${SKEIN_NAMESPACE}/serviceaccounts/skein/token`,
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 7 * 86400 },
    },
  });
  return sa.status.token;
}

/** The manifest's RBAC objects, the network config and one Node per lab node. */
async function createObjects(
  admin: KubeClient,
  net: NetworkConfig,
  nodeNames: readonly string[],
): Promise<void> {
  const configMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: SKEIN_CONFIG_MAP, namespace: SKEIN_NAMESPACE },
    data: { [NET_CONF_KEY]: JSON.stringify(encodeNetworkConfig(net)) },
  };
  for (const o of [...SKEIN_RBAC_OBJECTS, configMap]) {
    await admin.request({
      verb: "create",
      resource: String(o.kind),
      method: "POST",
      path: collectionPath(o),
      body: o,
    });
  }
  for (const name of nodeNames) {
    await admin.request({
      verb: "create",
      resource: "nodes",
      name,
      method: "POST",
      path: "/api/v1/nodes",
      body: {
        apiVersion: "v1",
        kind: "Node",
        metadata: { name, labels: { "skein.io/lab": "true" } },
      },
    });
  }
}
