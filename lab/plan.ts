/**
 * The lab's address and naming plan: which namespaces, links, addresses, ports and paths a lab
 * of N nodes with K pods each uses. Pure: no kernel, no files.
 *
 * Naming (`<lab>` is the lab name, default "skein"):
 * - `<lab>-lan`: the L2 segment, bridge `br0`, one port `n<i>` per node.
 * - `<lab>-n<i>`: node i (1-based), uplink `eth0` with 192.168.77.(10+i)/24.
 * - `<lab>-n<i>-p<j>`: pod j on node i, attached by the CNI plugin as `eth0`.
 * - `<lab>-cp` (`--datastore kubernetes`): the control plane (etcd on its 127.0.0.1,
 *   kube-apiserver on `eth0` 192.168.77.2/24, port 6443), plugged into the first segment as
 *   port `cp`.
 *
 * `--topology two-subnets` adds a second segment and a router between them (nodes alternate:
 * odd nodes on the first, even nodes on the second):
 * - `<lab>-lan2`: the second L2 segment, bridge `br0`, underlay `<a.b.(c+1)>.0/24`;
 * - `<lab>-router`: `eth0` .1 on `<lab>-lan` (port `r0`), `eth1` .1 on `<lab>-lan2` (port `r0`),
 *   IPv4 forwarding on. Each node routes the other segment via its own segment's router address.
 *
 * @module
 */
import { type BackendCapabilities, backendNames, BACKENDS } from "../backends/registry.ts";
import type { BackendType } from "../backends/types.ts";

/**
 * Backends the lab can run: every backend in the table (backends/registry.ts) that needs no
 * kernel module kernels may lack (ipip is not built into every kernel, e.g. this machine's).
 */
export const LAB_BACKENDS: readonly BackendType[] = backendNames().filter((n) =>
  !(BACKENDS[n].capabilities as BackendCapabilities).kernelModule
);
/** A backend the lab can run. */
export type LabBackend = BackendType;
/** How the lab wires its nodes: one L2 segment, or two joined by a router (nodes alternate). */
export const LAB_TOPOLOGIES = ["one-subnet", "two-subnets"] as const;
/** A lab topology. */
export type LabTopology = typeof LAB_TOPOLOGIES[number];
/** Datastores the lab can use. */
export const LAB_DATASTORES = ["file", "etcd", "kubernetes"] as const;
/** A datastore the lab can use. */
export type LabDatastore = typeof LAB_DATASTORES[number];

/** Where every lab keeps its state: `<LAB_ROOT>/<name>/lab.json`. */
export const LAB_ROOT = "/run/skein/lab";
/** The bridge on the lan segment (inside `<lab>-lan`). */
export const LAN_BRIDGE = "br0";
/** The router's port on each segment's bridge (in `<lab>-lan`, `<lab>-lan2`). */
export const ROUTER_PORT = "r0";
/** The node's uplink name inside its namespace. */
export const NODE_UPLINK = "eth0";
/** The pod's interface name (CNI_IFNAME). */
export const POD_IFNAME = "eth0";

/** What `skein lab up` was asked for. */
export interface LabOptions {
  /** Lab name: lower-case letter then letters/digits, at most 12 characters. Default "skein". */
  name: string;
  /** Number of nodes, 1..50. */
  nodes: number;
  /** Pods per node, 0..50. */
  podsPerNode: number;
  backend: LabBackend;
  datastore: LabDatastore;
  /** Cluster pod network, default "10.244.0.0/16". */
  network: string;
  /** Per-node subnet length, default 24. */
  subnetLen: number;
  /** The node segment: three octets, nodes get .(10+i)/24. Default "192.168.77". */
  lanPrefix: string;
  /**
   * "one-subnet" (default; also when absent, in an older lab.json) or "two-subnets": a second
   * segment (the third octet + 1) behind a router, even nodes on it.
   */
  topology?: LabTopology;
  /** `backend.directRouting: true` in every daemon config (vxlan, ipip). */
  directRouting?: boolean;
  /**
   * The bgp backend's lab flags: `--bgp-as N` (backend.asNumber), `--no-bgp-mesh`
   * (nodeToNodeMesh: false), `--bgp-peer IP:AS` (a `peers` entry on every node, with the
   * explicit rules `import: all, export: all` an eBGP peer needs: RFC 8212),
   * `--bgp-encapsulation none|ipip|vxlan` (backend.encapsulation), `--bgp-cross-subnet`
   * (backend.crossSubnet: tunnel only to nodes behind the router).
   */
  bgp?: {
    asNumber?: number;
    mesh?: boolean;
    peers?: { address: string; asNumber: number }[];
    encapsulation?: "none" | "ipip" | "vxlan";
    crossSubnet?: boolean;
  };
  /** Lease TTL in seconds handed to the daemons (short in tests). */
  leaseTtl: number;
  /** Daemon reconcile period in seconds (short so deleted routes/devices heal quickly). */
  reconcilePeriod: number;
  /**
   * `--kubernetes`: a real cluster (control plane in `<lab>-cp`, containerd + kubelet per
   * node; skein installed by its DaemonSet). Needs datastore "kubernetes" and no lab pods.
   */
  kubernetes?: boolean;
  /** `--cni` of a Kubernetes lab: skein's DaemonSet (default) or the reference plugins. */
  cni?: "skein" | "reference";
  /**
   * The tag of skein's image in a Kubernetes lab (`skein.local/skein:<tag>`); default the version
   * of the sources the image is built from (lab/k8s/images.ts).
   */
  skeinVersion?: string;
  /** etcd endpoint(s) for datastore "etcd". */
  etcdEndpoints?: string[];
  /** etcd key prefix for datastore "etcd" (default: per lab, `/skein-lab/<name>/network`). */
  etcdPrefix?: string;
}

/** A bad lab option; the message names the option and the problem. */
export class LabConfigError extends TypeError {
  /** @param field the option name, e.g. "--nodes" */
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = "LabConfigError";
  }
}

/** One pod of the plan. */
export interface PodPlan {
  /** "n1-p2" */
  name: string;
  /** Namespace name "<lab>-n1-p2". */
  netns: string;
  /** CNI_CONTAINERID: "<lab>-n1-p2". */
  containerId: string;
}

/** One L2 segment of the plan: a namespace holding bridge `br0`. */
export interface SegmentPlan {
  /** Namespace name: "<lab>-lan", "<lab>-lan2". */
  netns: string;
  /** Three octets: "192.168.77". */
  prefix: string;
  /** The segment's network: "192.168.77.0/24". */
  network: string;
  /** The router's address on it ("192.168.77.1"); undefined with one segment (no router). */
  gateway?: string;
}

/** The router of a two-subnets lab. */
export interface RouterPlan {
  /** Namespace name "<lab>-router". */
  netns: string;
  /** Its links, one per segment: eth0 on the first, eth1 on the second. */
  ports: { name: string; segment: SegmentPlan; cidr: string }[];
}

/** One node of the plan. */
export interface NodePlan {
  /** "n1" */
  name: string;
  /** 1-based index. */
  index: number;
  /** Namespace name "<lab>-n1". */
  netns: string;
  /** Node (daemon) name as published in its lease: "<lab>-n1". */
  nodeName: string;
  /** Uplink address with prefix: "192.168.77.11/24". */
  cidr: string;
  /** Uplink address: "192.168.77.11". */
  ip: string;
  /** The veth end on the lan bridge, in the segment's namespace: "n1". */
  lanPort: string;
  /** The segment the node's eth0 is on. */
  segment: SegmentPlan;
  /** Routes to the other segments via this segment's router ("192.168.78.0/24" via .1). */
  underlayRoutes: { dst: string; gateway: string }[];
  /** Per-node state directory: `<stateDir>/nodes/n1`. */
  dir: string;
  /** The lease file the daemon writes and the CNI plugin reads. */
  leaseFile: string;
  /** flannel-style subnet.env the daemon writes. */
  subnetEnv: string;
  /** Daemon config file the lab writes. */
  configFile: string;
  /** Daemon log file. */
  logFile: string;
  /** IPAM dataDir for this node's pods. */
  ipamDir: string;
  pods: PodPlan[];
}

/** The control-plane namespace of a `--datastore kubernetes` lab. */
export interface ControlPlanePlan {
  /** Namespace name "<lab>-cp". */
  netns: string;
  /** Its address on the first segment: "192.168.77.2". */
  ip: string;
  /** With prefix: "192.168.77.2/24". */
  cidr: string;
  /** The veth end on the lan bridge: "cp". */
  lanPort: string;
  /** The first segment. */
  segment: SegmentPlan;
  /** Routes to the other segments via the router (two-subnets). */
  underlayRoutes: { dst: string; gateway: string }[];
  /** kube-apiserver's port on `ip` (etcd listens on 127.0.0.1:2379 inside the namespace). */
  apiserverPort: number;
}

/** Everything a lab of these options consists of. */
export interface LabPlan {
  options: LabOptions;
  /** `/run/skein/lab/<name>` */
  stateDir: string;
  /** `<stateDir>/lab.json` */
  stateFile: string;
  /** `<stateDir>/store`: the shared file datastore. */
  storeDir: string;
  /** Namespace name of the (first) lan segment. */
  lanNetns: string;
  /** Every segment, the first one being `lanNetns`. */
  segments: SegmentPlan[];
  /** The router joining the segments (two-subnets only). */
  router?: RouterPlan;
  /** The control plane (`--datastore kubernetes` only). */
  controlPlane?: ControlPlanePlan;
  nodes: NodePlan[];
}

/** Defaults for every option but the ones given. */
export function labDefaults(partial: Partial<LabOptions> = {}): LabOptions {
  return {
    name: "skein",
    nodes: 3,
    podsPerNode: 2,
    backend: "vxlan",
    datastore: "file",
    network: "10.244.0.0/16",
    subnetLen: 24,
    lanPrefix: "192.168.77",
    // flannel's and the daemon's 24 h: a stopped daemon's lease outlives any debugging session,
    // so its pods keep their routes (and an expired lease is held while the node answers).
    leaseTtl: 86400,
    reconcilePeriod: 5,
    ...partial,
  };
}

const NAME_RE = /^[a-z][a-z0-9]{0,11}$/;

/** Checks a lab name; throws LabConfigError when it cannot be used in namespace names. */
export function validateLabName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new LabConfigError(
      "--name",
      `must be a lower-case letter followed by at most 11 letters or digits, got ${
        JSON.stringify(name)
      }`,
    );
  }
  return name;
}

function intIn(field: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new LabConfigError(field, `must be an integer from ${min} to ${max}, got ${v}`);
  }
}

/** Validates options and computes the plan; throws LabConfigError naming the bad option. */
export function planLab(options: LabOptions, root: string = LAB_ROOT): LabPlan {
  const name = validateLabName(options.name);
  intIn("--nodes", options.nodes, 1, 50);
  intIn("--pods-per-node", options.podsPerNode, 0, 50);
  intIn("--lease-ttl", options.leaseTtl, 2, 86400);
  intIn("--reconcile-period", options.reconcilePeriod, 1, 3600);
  intIn("--subnet-len", options.subnetLen, 8, 30);
  if (!(LAB_BACKENDS as readonly string[]).includes(options.backend)) {
    throw new LabConfigError(
      "--backend",
      `must be one of ${LAB_BACKENDS.join(", ")}, got ${JSON.stringify(options.backend)}`,
    );
  }
  if (!(LAB_DATASTORES as readonly string[]).includes(options.datastore)) {
    throw new LabConfigError(
      "--datastore",
      `must be one of ${LAB_DATASTORES.join(", ")}, got ${JSON.stringify(options.datastore)}`,
    );
  }
  const segments = planSegments(name, options);
  if (options.directRouting && !("directRouting" in BACKENDS[options.backend].fields)) {
    throw new LabConfigError(
      "--direct-routing",
      `only applies to backends with backend.directRouting (${
        backendNames().filter((b) => "directRouting" in BACKENDS[b].fields).join(", ")
      }), not ${options.backend}`,
    );
  }
  if (options.bgp && options.backend !== "bgp") {
    throw new LabConfigError(
      "--bgp-as/--no-bgp-mesh/--bgp-peer/--bgp-encapsulation/--bgp-cross-subnet",
      `only apply to --backend bgp, not ${options.backend}`,
    );
  }
  if (options.bgp?.asNumber !== undefined) intIn("--bgp-as", options.bgp.asNumber, 1, 4294967295);
  const enc = options.bgp?.encapsulation;
  if (enc !== undefined && !["none", "ipip", "vxlan"].includes(enc)) {
    throw new LabConfigError(
      "--bgp-encapsulation",
      `must be none, ipip or vxlan, got ${JSON.stringify(enc)}`,
    );
  }
  const nm = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(options.network);
  if (!nm || Number(nm[2]) >= options.subnetLen) {
    throw new LabConfigError(
      "--network",
      `must be an IPv4 CIDR shorter than the subnet length /${options.subnetLen}, got ${
        JSON.stringify(options.network)
      }`,
    );
  }
  checkKubernetes(options);
  const stateDir = `${root}/${name}`;
  const nodes: NodePlan[] = [];
  for (let i = 1; i <= options.nodes; i++) {
    nodes.push(planNode({ name, stateDir, index: i, segments, podsPerNode: options.podsPerNode }));
  }
  return {
    options,
    stateDir,
    stateFile: `${stateDir}/lab.json`,
    storeDir: `${stateDir}/store`,
    lanNetns: segments[0]!.netns,
    segments,
    ...(segments.length > 1 ? { router: planRouter(name, segments) } : {}),
    ...(options.datastore === "kubernetes"
      ? { controlPlane: planControlPlane(name, segments) }
      : {}),
    nodes,
  };
}

/** The options a Kubernetes lab (`--kubernetes`, `--cni`) needs. */
function checkKubernetes(options: LabOptions): void {
  if (options.cni !== undefined && !["skein", "reference"].includes(options.cni)) {
    throw new LabConfigError(
      "--cni",
      `must be skein or reference, got ${JSON.stringify(options.cni)}`,
    );
  }
  if (!options.kubernetes) {
    if (options.cni !== undefined) throw new LabConfigError("--cni", "needs --kubernetes");
    return;
  }
  if (options.datastore !== "kubernetes") {
    throw new LabConfigError("--datastore", "--kubernetes runs skein with datastore kubernetes");
  }
  if (options.podsPerNode !== 0) {
    throw new LabConfigError(
      "--pods-per-node",
      "a Kubernetes lab's pods are made with kubectl (--kubernetes makes none of its own)",
    );
  }
}

/** What planNode() needs. */
interface NodeInputs {
  name: string;
  stateDir: string;
  /** 1-based. */
  index: number;
  segments: SegmentPlan[];
  podsPerNode: number;
}

/** Node `index` of the lab: on segment (index - 1) mod segments, address .(10 + index). */
function planNode({ name, stateDir, index, segments, podsPerNode }: NodeInputs): NodePlan {
  const n = `n${index}`;
  const dir = `${stateDir}/nodes/${n}`;
  const segment = segments[(index - 1) % segments.length]!;
  const ip = `${segment.prefix}.${10 + index}`;
  const pods: PodPlan[] = [];
  for (let j = 1; j <= podsPerNode; j++) {
    const netns = `${name}-${n}-p${j}`;
    pods.push({ name: `${n}-p${j}`, netns, containerId: netns });
  }
  return {
    name: n,
    index,
    netns: `${name}-${n}`,
    nodeName: `${name}-${n}`,
    cidr: `${ip}/24`,
    ip,
    lanPort: n,
    segment,
    underlayRoutes: segments.filter((x) => x !== segment).map((x) => ({
      dst: x.network,
      gateway: segment.gateway!,
    })),
    dir,
    leaseFile: `${dir}/subnet.json`,
    subnetEnv: `${dir}/subnet.env`,
    configFile: `${dir}/daemon.yaml`,
    logFile: `${dir}/daemon.log`,
    ipamDir: `${dir}/ipam`,
    pods,
  };
}

/** The control plane on the first segment at .2 (the router is .1, nodes .11 and up). */
function planControlPlane(name: string, segments: SegmentPlan[]): ControlPlanePlan {
  const segment = segments[0]!;
  const ip = `${segment.prefix}.2`;
  return {
    netns: `${name}-cp`,
    ip,
    cidr: `${ip}/24`,
    lanPort: "cp",
    segment,
    underlayRoutes: segments.slice(1).map((x) => ({ dst: x.network, gateway: segment.gateway! })),
    apiserverPort: 6443,
  };
}

/** The router joining `segments`: eth<i> at the segment's .1. */
function planRouter(name: string, segments: SegmentPlan[]): RouterPlan {
  return {
    netns: `${name}-router`,
    ports: segments.map((segment, i) => ({
      name: `eth${i}`,
      segment,
      cidr: `${segment.gateway}/24`,
    })),
  };
}

/** The lab's L2 segments: one, or two (the second at the third octet + 1) with a router at .1. */
function planSegments(name: string, options: LabOptions): SegmentPlan[] {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(options.lanPrefix);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) {
    throw new LabConfigError(
      "--lan",
      `must be three octets like "192.168.77", got ${JSON.stringify(options.lanPrefix)}`,
    );
  }
  const topology = options.topology ?? "one-subnet";
  if (!(LAB_TOPOLOGIES as readonly string[]).includes(topology)) {
    throw new LabConfigError(
      "--topology",
      `must be one of ${LAB_TOPOLOGIES.join(", ")}, got ${JSON.stringify(topology)}`,
    );
  }
  const first = { netns: `${name}-lan`, prefix: options.lanPrefix };
  if (topology === "one-subnet") return [{ ...first, network: `${first.prefix}.0/24` }];
  if (Number(m[3]) >= 255) {
    throw new LabConfigError(
      "--lan",
      `leaves no room for the second segment of --topology two-subnets (${options.lanPrefix} + 1)`,
    );
  }
  const second = { netns: `${name}-lan2`, prefix: `${m[1]}.${m[2]}.${Number(m[3]) + 1}` };
  return [first, second].map((x) => ({
    ...x,
    network: `${x.prefix}.0/24`,
    gateway: `${x.prefix}.1`,
  }));
}

/**
 * True when `netns` is a namespace name a lab called `name` creates (`<name>-lan`,
 * `<name>-lan2`, `<name>-router`, `<name>-cp`, `<name>-n<i>`, `<name>-n<i>-p<j>`). Used by `lab down` to find leftovers of a partial build
 * without touching any other lab's or test's namespaces.
 */
export function isLabNamespace(name: string, netns: string): boolean {
  if (!netns.startsWith(`${name}-`)) return false;
  return /^(lan|lan2|router|cp|n\d+|n\d+-p\d+)$/.test(netns.slice(name.length + 1));
}
