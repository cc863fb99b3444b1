/**
 * `skein lab up|status|down`: a multi-node cluster of network namespaces on this machine.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  formatMatrix,
  formatStatus,
  LAB_BACKENDS,
  LAB_DATASTORES,
  LAB_TOPOLOGIES,
  LabConfigError,
  labDefaults,
  labDiagnose,
  labDown,
  LabExistsError,
  type LabOptions,
  LabStateError,
  labStatus,
  labUp,
  loadLab,
  lookAroundText,
  matrixPods,
  NoLabError,
  NotSkeinLabError,
  parseHostPort,
  pingMatrix,
  runForwarder,
  statusHealthy,
  summarize,
  type UpResult,
  validateLabName,
} from "../lab/mod.ts";
import { interruptibleUp } from "./_lab_interrupt.ts";
import { kubeNextSteps, labAdminKubeconfig } from "../lab/k8s/mod.ts";

const HELP = `skein lab: a multi-node cluster of network namespaces on this machine (root)

Usage:
  skein lab up [--nodes N] [--backend ${LAB_BACKENDS.join("|")}] [--pods-per-node K] [--name LAB]
               [--datastore ${LAB_DATASTORES.join("|")}] [--etcd-endpoints URL,...] [--network CIDR]
               [--lease-ttl S] [--reconcile-period S] [--topology ${LAB_TOPOLOGIES.join("|")}]
               [--direct-routing] [--bgp-as N] [--no-bgp-mesh] [--bgp-peer IP:AS ...]
               [--bgp-encapsulation none|ipip|vxlan] [--bgp-cross-subnet]
  skein lab status [--name LAB] [--json]
  skein lab ping [--name LAB]
  skein lab up --kubernetes [--nodes N] [--backend B] [--cni skein|reference] [--name LAB]
  skein lab kubeconfig [--name LAB]
  skein lab down [--name LAB]
  skein lab diagnose [--name LAB] FROM TO [--json] [--probe] [--trace] [--bundle F.tar.gz]

up      builds N nodes (namespaces LAB-n1..LAB-nN, eth0 192.168.77.(10+i)/24 on a bridge in
        LAB-lan), runs one "skein daemon" per node (the process stays in the root namespace and
        programs the node's namespace; health on 127.0.0.1), attaches K pods per node
        (namespaces LAB-nI-pJ) through the skein CNI plugin, then pings every pod from every pod
        and prints the matrix. Exit 1 when any pair cannot reach the other.
        Ctrl-C (SIGINT) or SIGTERM stops it and removes what it built (exit 130/143; a second
        one stops at once: then "skein lab down" removes the rest). A failed "up" leaves the
        lab as far as it got, for "status" and "diagnose"; "down" removes it.
        --datastore etcd starts a local etcd (/usr/bin/etcd) unless --etcd-endpoints is given.
        --topology two-subnets: two L2 segments (LAB-lan 192.168.77.0/24, LAB-lan2
        192.168.78.0/24) joined by a router namespace LAB-router (.1 on each); odd nodes on the
        first, even nodes on the second, each routing the other segment via its router. host-gw
        then reaches only same-segment nodes (the others are skipped with the reason); vxlan and
        udp cross the router. --direct-routing sets backend.directRouting (vxlan): host-gw
        routes to same-segment nodes, the tunnel only across the router.
        --backend bgp: skein's BGP speaker on every node (iBGP mesh, AS 64512); --bgp-as N sets
        backend.asNumber, --no-bgp-mesh turns the node-to-node mesh off, each --bgp-peer IP:AS
        adds a peer (a ToR or route reflector you run, e.g. BIRD) to every node, with the
        explicit rules import: all, export: all (an eBGP peer needs them: RFC 8212);
        --bgp-encapsulation sets backend.encapsulation (tunnel to other nodes over skein-ipip or
        skein.1), --bgp-cross-subnet backend.crossSubnet (tunnel only across the router).
        --datastore kubernetes starts etcd and kube-apiserver v1.20.2 (scripts/build-kube.sh) in
        a control-plane namespace LAB-cp on the lab's segment (apiserver on 192.168.77.2:6443,
        etcd on LAB-cp's own 127.0.0.1) with RBAC, creates a Node object per lab node (no
        kubelet) and runs the daemons with the skein service account of
        deploy/kubernetes/skein.yaml, through "skein lab forward" (127.0.0.1:PORT in the root
        namespace, connecting from inside LAB-cp; no route in the root namespace).
        --kubernetes: a real cluster. LAB-cp runs etcd, kube-apiserver, kube-scheduler and
        kube-controller-manager (--allocate-node-cidrs, --cluster-cidr = --network); each node
        runs containerd and a kubelet in its namespace and a private mount namespace where
        /etc/cni/net.d, /opt/cni/bin, /var/lib/kubelet, /run/skein, ... are its own. No skein
        daemons or lab pods: skein comes as deploy/kubernetes/skein.yaml's DaemonSet (--cni
        reference: the reference bridge + host-local instead). Ends when every node is Ready,
        the DaemonSet is rolled out and a busybox pod per node pings every other one (kubectl
        exec; exit 1 when a pair fails). Prints the admin kubeconfig.
kubeconfig  prints the path of the lab's admin kubeconfig (a lab with a control plane).
status  nodes, leases, pods and daemon health (exit 1 when something is down).
ping    runs the connectivity matrix of a running lab again (exit 1 when any pair fails).
down    stops the daemons, deletes the lab's namespaces and /run/skein/lab/LAB (also after a
        partial or killed "up"; an "up" still building is stopped first). A Kubernetes lab: kubelets, containerds and their
        containers, the nodes' mount namespaces, the k8s.io cgroups and cni-* namespaces its
        containerds made; the host sysctls kubelet changed get their old values back.
forward --listen 127.0.0.1:PORT --netns LAB-cp --to IP:PORT [--addr-file F]
        (started by "up"): accepts on 127.0.0.1 here and connects to IP:PORT from inside
        namespace LAB-cp; writes the address it listens on to F. Runs until stopped.
diagnose  why pod FROM cannot reach pod TO (a lab pod name like n1-p1, a pod IP, or a Kubernetes
        pod NAMESPACE/NAME looked up with the lab's admin kubeconfig): every check
        of "skein diagnose" on both nodes, inspected directly. Exit 0 when no check failed, 1 when
        one did, 2 for bad input (and for a --cni reference lab: no skein there to diagnose).
        --probe sends ICMP (and DF-sized) probes and reads counters,
        --trace also records where the kernel drops them (temporary nftrace rule and tracepoint).

Defaults: --name skein --nodes 3 --pods-per-node 2 --backend vxlan --datastore file
          --network 10.244.0.0/16 --lease-ttl 86400 --reconcile-period 5 --topology one-subnet
State: /run/skein/lab/LAB/lab.json (daemon logs: /run/skein/lab/LAB/nodes/nI/daemon.log)
`;

function num(field: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) {
    throw new LabConfigError(field, `must be a whole number, got ${JSON.stringify(v)}`);
  }
  if (!Number.isSafeInteger(Number(v))) {
    throw new LabConfigError(field, `is too large, got ${v}`);
  }
  return Number(v);
}

const HINT = 'Run "skein lab --help" for the options.';

const progress = (m: string) => console.error(`lab: ${m}`);

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  name: { type: "string" },
  nodes: { type: "string" },
  "pods-per-node": { type: "string" },
  backend: { type: "string" },
  datastore: { type: "string" },
  "etcd-endpoints": { type: "string" },
  network: { type: "string" },
  "lease-ttl": { type: "string" },
  "reconcile-period": { type: "string" },
  topology: { type: "string" },
  "direct-routing": { type: "boolean" },
  "bgp-as": { type: "string" },
  "no-bgp-mesh": { type: "boolean" },
  "bgp-peer": { type: "string", multiple: true },
  "bgp-encapsulation": { type: "string" },
  "bgp-cross-subnet": { type: "boolean" },
  json: { type: "boolean" },
  probe: { type: "boolean" },
  trace: { type: "boolean" },
  bundle: { type: "string" },
  kubernetes: { type: "boolean" },
  cni: { type: "string" },
} as const;

/** The flags of `skein lab <sub>`, or the exit code when they are wrong. */
function parseLabArgs(sub: string, rest: string[]) {
  try {
    return parseArgs({
      args: rest,
      strict: true,
      allowPositionals: sub === "diagnose",
      options: OPTIONS,
    });
  } catch (e) {
    return usageError(sub, parseProblem((e as Error).message));
  }
}

/** node:util parseArgs' message in one line ("ambiguous" takes three). */
function parseProblem(message: string): string {
  const m = /^Option '([^']+)' argument is ambiguous/.exec(message);
  if (m) return `${m[1]}: its value is missing or starts with "-" (write ${m[1]}=VALUE)`;
  return message.split("\n")[0]!;
}

/** A bad command line: the problem and where the options are, on stderr; exit code 2. */
function usageError(sub: string, problem: string): number {
  console.error(`skein lab${sub ? ` ${sub}` : ""}: ${problem}\n${HINT}`);
  return 2;
}

async function status(name: string, json: boolean): Promise<number> {
  const s = await labStatus(name);
  if (!s) {
    console.error(`skein lab status: no lab "${name}" (no /run/skein/lab/${name}/lab.json)`);
    return 1;
  }
  console.log(json ? JSON.stringify(s, null, 2) : formatStatus(s));
  return statusHealthy(s) ? 0 : 1;
}

async function ping(name: string): Promise<number> {
  const lab = loadLab(name);
  if (!lab) {
    console.error(`skein lab ping: no lab "${name}" (no /run/skein/lab/${name}/lab.json)`);
    return 1;
  }
  const pods = matrixPods(lab.state);
  progress(`pinging ${pods.length * (pods.length - 1)} pod pairs`);
  const results = await pingMatrix(pods);
  console.log(formatMatrix(pods, results));
  return summarize(results).failed === 0 ? 0 : 1;
}

async function down(name: string): Promise<number> {
  const r = await labDown(name, progress);
  if (r.errors.length) {
    console.error(`skein lab down: ${r.errors.join("\n  ")}`);
    return 1;
  }
  progress(
    r.found || r.deletedNamespaces.length
      ? `lab ${name} removed`
      : `no lab "${name}" found; nothing to do`,
  );
  return 0;
}

/** `skein lab forward`: the control plane's loopback forwarder, until SIGTERM. */
async function forward(rest: string[]): Promise<number> {
  let opts;
  try {
    const { values: v } = parseArgs({
      args: rest,
      strict: true,
      options: {
        help: { type: "boolean", short: "h" },
        listen: { type: "string" },
        netns: { type: "string" },
        to: { type: "string" },
        "addr-file": { type: "string" },
      },
    });
    if (v.help) {
      console.log(HELP);
      return 0;
    }
    if (!v.netns || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v.netns)) {
      throw new TypeError(`--netns must name a namespace under /run/netns, got ${v.netns}`);
    }
    const to = parseHostPort(v.to ?? "", "--to");
    opts = {
      listen: parseHostPort(v.listen ?? "127.0.0.1:0", "--listen"),
      netns: `/run/netns/${v.netns}`,
      target: { address: to.hostname, port: to.port },
      addrFile: v["addr-file"],
    };
  } catch (e) {
    return usageError("forward", parseProblem((e as Error).message));
  }
  const stop = new AbortController();
  Deno.addSignalListener("SIGTERM", () => stop.abort());
  const addr = await runForwarder({ ...opts, signal: stop.signal });
  console.error(`lab forward: stopped (was ${addr})`);
  return 0;
}

/** True when lab.json exists (also when it cannot be read): `up` left something behind. */
function labRecorded(name: string): boolean {
  try {
    return loadLab(name) !== undefined;
  } catch {
    return true;
  }
}

/** Prints a failed subcommand's error; 2 for bad input, 1 for a failure. */
function failed(sub: string, name: string, e: unknown): number {
  if (
    e instanceof LabConfigError || e instanceof LabExistsError || e instanceof NoLabError ||
    e instanceof NotSkeinLabError
  ) {
    console.error(`skein lab ${sub}: ${e.message}`);
    return 2;
  }
  console.error(`skein lab ${sub}: ${(e as Error).message}`);
  if (e instanceof LabStateError) {
    // lab.json is corrupt: only down, which finds the lab's parts by their names, still works.
    console.error(`Remove the lab with: skein lab down --name ${name}`);
  } else if (sub === "up" && labRecorded(name)) {
    console.error(
      `The lab is left as far as it got; inspect it with "skein lab status --name ${name}", remove it with "skein lab down --name ${name}".`,
    );
  }
  return 1;
}

/** The subcommands main() dispatches (besides forward and help). */
const KNOWN_SUBS = ["up", "status", "ping", "diagnose", "down", "kubeconfig"];

/** `skein lab` entry point; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    console.log(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub === "forward") return await forward(rest);
  if (!KNOWN_SUBS.includes(sub)) return usageError("", `unknown subcommand "${sub}"`);
  const parsed = parseLabArgs(sub, rest);
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const name = v.name ?? "skein";
  try {
    validateLabName(name);
  } catch (e) {
    return failed(sub, name, e);
  }
  if ((sub === "up" || sub === "down" || sub === "kubeconfig") && Deno.uid() !== 0) {
    console.error(`skein lab ${sub}: needs root (it creates network namespaces and links)`);
    return 1;
  }
  try {
    switch (sub) {
      case "up":
        return await up(name, v);
      case "status":
        return await status(name, v.json === true);
      case "ping":
        return await ping(name);
      case "diagnose":
        return await diagnose(name, parsed.positionals, v);
      case "down":
        return await down(name);
      case "kubeconfig":
        return kubeconfig(name);
      default:
        return usageError("", `unknown subcommand "${sub}"`);
    }
  } catch (e) {
    return failed(sub, name, e);
  }
}

/** The --bgp-* flags as LabOptions.bgp (absent when none is given). */
function bgpOptions(v: Record<string, unknown>): { bgp?: LabOptions["bgp"] } {
  const as = v["bgp-as"] as string | undefined;
  const peers = ((v["bgp-peer"] as string[] | undefined) ?? []).map((p) => {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,10})$/.exec(p);
    const peerAs = Number(m?.[2]);
    // Checked here, not by the daemons: a bad peer must stop `up` before it builds anything.
    if (!m || m[1]!.split(".").some((o) => Number(o) > 255) || peerAs < 1 || peerAs > 0xffffffff) {
      throw new LabConfigError(
        "--bgp-peer",
        `must be IP:AS (AS 1 to 4294967295) like 192.168.77.254:65000, got ${JSON.stringify(p)}`,
      );
    }
    return { address: m[1]!, asNumber: peerAs };
  });
  const enc = v["bgp-encapsulation"] as string | undefined;
  const cross = v["bgp-cross-subnet"] === true;
  if (as === undefined && v["no-bgp-mesh"] !== true && peers.length === 0 && !enc && !cross) {
    return {};
  }
  return {
    bgp: {
      ...(as !== undefined ? { asNumber: num("--bgp-as", as, 0) } : {}),
      ...(v["no-bgp-mesh"] === true ? { mesh: false } : {}),
      ...(peers.length ? { peers } : {}),
      ...(enc !== undefined ? { encapsulation: enc as "none" | "ipip" | "vxlan" } : {}),
      ...(cross ? { crossSubnet: true } : {}),
    },
  };
}

/** `skein lab kubeconfig`: the admin kubeconfig of a Kubernetes lab. */
function kubeconfig(name: string): number {
  const lab = loadLab(name);
  if (!lab) {
    console.error(`skein lab kubeconfig: no lab "${name}" (no /run/skein/lab/${name}/lab.json)`);
    return 1;
  }
  if (!lab.plan.options.kubernetes && lab.plan.options.datastore !== "kubernetes") {
    console.error(
      `skein lab kubeconfig: lab "${name}" has no Kubernetes control plane (lab up --kubernetes)`,
    );
    return 1;
  }
  console.log(labAdminKubeconfig(lab.plan));
  return 0;
}

async function up(
  name: string,
  v: Record<string, string | string[] | boolean | undefined>,
): Promise<number> {
  const s = (k: string) => v[k] as string | undefined;
  const k8s = v.kubernetes === true;
  if (k8s && s("datastore") !== undefined && s("datastore") !== "kubernetes") {
    throw new LabConfigError("--datastore", "--kubernetes runs skein with datastore kubernetes");
  }
  const d = labDefaults(k8s ? { podsPerNode: 0, datastore: "kubernetes" } : {});
  const options = labDefaults({
    name,
    ...(k8s ? { kubernetes: true } : {}),
    ...(s("cni") !== undefined ? { cni: s("cni") as "skein" | "reference" } : {}),
    nodes: num("--nodes", s("nodes"), d.nodes),
    podsPerNode: num("--pods-per-node", s("pods-per-node"), d.podsPerNode),
    backend: (s("backend") ?? d.backend) as typeof d.backend,
    datastore: (s("datastore") ?? d.datastore) as typeof d.datastore,
    network: s("network") ?? d.network,
    leaseTtl: num("--lease-ttl", s("lease-ttl"), d.leaseTtl),
    reconcilePeriod: num("--reconcile-period", s("reconcile-period"), d.reconcilePeriod),
    etcdEndpoints: s("etcd-endpoints")?.split(",").filter((x) => x),
    topology: (s("topology") ?? "one-subnet") as typeof LAB_TOPOLOGIES[number],
    ...(v["direct-routing"] === true ? { directRouting: true } : {}),
    ...bgpOptions(v),
  });
  if (options.etcdEndpoints && options.datastore !== "etcd") {
    throw new LabConfigError("--etcd-endpoints", "needs --datastore etcd");
  }
  const t0 = performance.now();
  return await interruptibleUp(
    name,
    (signal) => labUp(options, progress, undefined, { signal }),
    progress,
    (r) => {
      printUp(r);
      progress(`lab ${name} up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return r.ok ? 0 : 1;
    },
  );
}

/** What `up` prints when the lab is built: the connectivity and how to look around. */
function printUp(r: UpResult): void {
  if (r.kube) {
    console.log(
      `\nConnectivity (kubectl exec ping from a busybox pod on every node):\n${r.matrixText}`,
    );
    console.log(kubeNextSteps(r.kube));
    return;
  }
  console.log(
    r.pods.length < 2
      ? `\nConnectivity: no pair of pods to ping (${r.pods.length} pod${
        r.pods.length === 1 ? "" : "s"
      }; --pods-per-node K attaches K per node)\n`
      : `\nConnectivity (ping from every pod to every pod):\n${r.matrixText}\n`,
  );
  console.log(lookAroundText(r.lab.plan, r.lab.state));
}

async function diagnose(
  name: string,
  positionals: string[],
  v: Record<string, string | string[] | boolean | undefined>,
): Promise<number> {
  if (positionals.length !== 2) {
    return usageError(
      "diagnose",
      `expected FROM and TO (pod names like n1-p1 or default/web, or pod IPs), got ${positionals.length} argument(s)`,
    );
  }
  const { DiagnoseInputError, renderHuman, renderJson } = await import("../diagnose/mod.ts");
  try {
    const r = await labDiagnose(name, positionals[0]!, positionals[1]!, {
      probe: v.probe === true,
      trace: v.trace === true,
      ...(typeof v.bundle === "string" ? { bundle: v.bundle } : {}),
    });
    console.log(v.json ? renderJson(r) : renderHuman(r));
    return r.verdict === "fail" ? 1 : 0;
  } catch (e) {
    if (e instanceof DiagnoseInputError) {
      console.error(`skein lab diagnose: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
