/**
 * What one diagnosis knows: the nodes it looks at (a kernel when inspected directly, what the
 * datastore and the node's daemon say otherwise), the leases, and for a pair the two endpoints.
 * Built by collect.ts (I/O), read by the check families (mostly pure).
 *
 * @module
 */
import type { Lease } from "../store/types.ts";
import type { DebugState } from "./debug_state_parse.ts";
import type { FibAnswer, Kernel } from "./kernel.ts";

/** How a node's pods are attached (the CNI plugin's mode). */
export type PodMode = "bridge" | "routed";

/** What the node's configuration says (daemon config, lab plan). */
export interface NodeFacts {
  /** "host-gw", "vxlan", "ipip", "udp" or "bgp". */
  backend: string;
  vni: number;
  /** The tunnel's UDP port (vxlan 8472, udp 8285; bgp with vxlan encapsulation 8472). */
  port: number;
  /**
   * The encapsulation between nodes: the backend's own, or the bgp backend's `encapsulation`;
   * undefined: none (host-gw, plain bgp). See tunnel_facts.ts.
   */
  tunnel?: "vxlan" | "ipip" | "udp";
  /** The tunnel device, if there is one ("skein.1", "skein-ipip", "skein-udp"). */
  device?: string;
  /**
   * On-link peers bypass the tunnel (host-gw routes): `backend.directRouting` (vxlan, ipip) or
   * the bgp backend's `crossSubnet`.
   */
  directRouting?: boolean;
  /** The uplink the config names (iface), if it names one. */
  iface?: string;
  /** The node IP the config sets (publicIP), if it sets one: it may be on any interface. */
  publicIP?: string;
  /** The cluster network. */
  network?: string;
  /** The node lease file the daemon writes for the CNI plugin. */
  leaseFile?: string;
  /** The IPAM directory of the pod network (`<dataDir>/<network name>`). */
  ipamDir?: string;
  /** The bridge pods hang off in bridge mode (default "cni0"). */
  bridge: string;
  /**
   * The CNI config's isGateway/isDefaultGateway: the bridge holds the pods' gateway address
   * (undefined: the config was not read; assumed, as the lab and the DaemonSet's config do).
   */
  gatewayOnBridge?: boolean;
  /** The daemon's health address ("127.0.0.1:9472"). */
  listen?: string;
  /** The daemon process, when known (lab): pid and a string its command line contains. */
  daemonPid?: { pid: number; marker: string };
  /** The daemon's log file, when known (for the bundle). */
  logFile?: string;
  /** The daemon's config file, when known. */
  configFile?: string;
}

/** What the node's daemon answered (GET /healthz, /readyz, /debug/state). */
export interface DaemonAnswers {
  /** Base URL asked ("http://127.0.0.1:9472"). */
  url: string;
  healthz?: { status: number; body: string };
  readyz?: { status: number; body: string };
  /** The parsed /debug/state, when the endpoint answered. */
  debug?: DebugState;
  /** Why /debug/state is not there (404: an older daemon; unreachable ...). */
  debugError?: string;
  /** The daemon could not be reached at all. */
  error?: string;
  /** Prometheus text of /metrics (for the bundle). */
  metrics?: string;
}

/** One node as the diagnosis sees it. */
export interface NodeView {
  /** Label in check results ("n1", or the node name). */
  name: string;
  /** The node name in its lease. */
  nodeName: string;
  /** Direct kernel access (undefined for a remote node known only from datastore and daemon). */
  kernel?: Kernel;
  facts: NodeFacts;
  /** This node's lease in the datastore, if the datastore was read and holds one. */
  lease?: Lease;
  /** The daemon's answers, when asked. */
  daemon?: DaemonAnswers;
  /** Why the node's daemon was not asked (remote node, address not reachable from here). */
  unreachable?: string;
}

/** One end of the flow. */
export interface Endpoint {
  /** What the user gave. */
  query: string;
  ip: string;
  /** The node whose subnet holds `ip` (undefined: no lease covers it). */
  node?: NodeView;
  /** The pod's network namespace path, when found. */
  netns?: string;
  /** The namespace path the pod had (a lab's record, a reservation's) that no longer exists. */
  goneNetns?: string;
  containerId?: string;
  /** Lab pod name, when known. */
  podName?: string;
  /** The pod's interface on the pod network (its CNI_IFNAME; pod_ifname.ts), when resolved. */
  ifName?: string;
}

/** The datastore as read for this diagnosis. */
export interface StoreView {
  /** Live leases (undefined when the datastore could not be read). */
  leases?: Lease[];
  /** Why the datastore could not be read. */
  error?: string;
  /** Records the store skipped (undecodable or inconsistent), as its warnings said (20 at most). */
  skipped?: string[];
  /** "file" or "etcd". */
  type: string;
  /** Where it is (directory or endpoints), for messages. */
  where: string;
}

/** Options that change what runs. */
export interface DiagnoseOptions {
  probe: boolean;
  trace: boolean;
  /** Upper bound for network waits (daemon calls, probes, traces), ms. */
  timeoutMs: number;
  /** Write a tar.gz bundle here after the checks (`--bundle`). */
  bundle?: string;
}

/** A pair diagnosis: from → to. */
export interface Pair {
  from: Endpoint;
  to: Endpoint;
  /** The nodes on the path, source first (one when both pods share a node). */
  nodes: NodeView[];
}

/** Everything the families read. */
export interface Diagnosis {
  nodes: NodeView[];
  store: StoreView;
  options: DiagnoseOptions;
  pair?: Pair;
  /** Results of expensive lookups shared by families (FIB answers), keyed by the asker. */
  memo: Map<string, unknown>;
}

/** The lease whose subnet holds `ip`, if any. */
export function leaseHolding(leases: readonly Lease[] | undefined, ip: string): Lease | undefined {
  if (!leases) return undefined;
  const n = ipv4Number(ip);
  if (n === undefined) return undefined;
  return leases.find((l) => inCidr(n, l.subnet));
}

/** An IPv4 address as a number, or undefined. */
export function ipv4Number(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]!;
}

/** True when IPv4 number `n` is inside IPv4 prefix `cidr`. */
export function inCidr(n: number, cidr: string): boolean {
  const [a, l] = cidr.split("/");
  const base = ipv4Number(a ?? "");
  const len = Number(l);
  if (base === undefined || !Number.isInteger(len) || len < 0 || len > 32) return false;
  if (len === 0) return true;
  const mask = (0xffffffff << (32 - len)) >>> 0;
  return ((n & mask) >>> 0) === ((base & mask) >>> 0);
}

/** Memoised FIB lookup on a node. */
export function fibOn(
  d: Diagnosis,
  node: NodeView,
  q: { dst: string; src?: string; iif?: string; ipProto?: number },
): FibAnswer | undefined {
  if (!node.kernel) return undefined;
  const key = `fib|${node.name}|${q.dst}|${q.src ?? ""}|${q.iif ?? ""}|${q.ipProto ?? ""}`;
  let a = d.memo.get(key) as FibAnswer | undefined;
  if (!a) {
    a = node.kernel.fib(q);
    d.memo.set(key, a);
  }
  return a;
}
