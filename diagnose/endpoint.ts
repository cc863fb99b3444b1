/**
 * Turns what the user typed for `--from`/`--to` into an Endpoint: a pod IP, or for a local pod
 * its container id (found in the IPAM directory) or its netns path; in the lab also a pod name.
 * The node is the one whose lease covers the address; a local pod's namespace is found by the
 * address it holds. Unknown input is a DiagnoseInputError (exit code 2).
 *
 * @module
 */
import { netnsList } from "../net/mod.ts";
import { type Endpoint, ipv4Number, leaseHolding, type NodeView } from "./context.ts";
import { containerOf, readReservations } from "./ipam_read.ts";
import { Kernel } from "./kernel.ts";
import { DEFAULT_POD_IFNAME, podIfnameOf, vethPeeredWith } from "./pod_ifname.ts";

/** Bad input: an unknown pod, an unreadable config (exit code 2). */
export class DiagnoseInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DiagnoseInputError";
  }
}

/** A pod known by name (the lab's pods, Kubernetes pods as `namespace/pod`). */
export interface KnownPod {
  name: string;
  ip: string;
  /** Its network namespace path (else found by its address on its node). */
  netns?: string;
  containerId?: string;
  /** The node it runs on (a Kubernetes pod's spec.nodeName), when no lease names one. */
  node?: string;
}

/** A pod namespace's global IPv4 addresses, each with its link (index, and its veth peer's). */
interface PodSide {
  v4: { ip: string; index: number; peerIndex?: number }[];
}

/** The global IPv4 addresses in namespace `path`, eth0's first. */
function podSide(path: string): PodSide {
  const k = new Kernel(path);
  try {
    const eth0 = k.link(DEFAULT_POD_IFNAME)?.index;
    const v4 = k.addrs().filter((a) => a.family === 4 && a.scope === "universe")
      .sort((a, b) => Number(b.index === eth0) - Number(a.index === eth0));
    return {
      v4: v4.map((a) => ({
        ip: a.cidr.split("/")[0]!,
        index: a.index,
        peerIndex: k.link(a.index)?.parentIndex,
      })),
    };
  } finally {
    k.close();
  }
}

/** The IPv4 address of eth0 (else any global IPv4) in namespace `path`, if there is one. */
function podAddress(path: string): string | undefined {
  return podSide(path).v4[0]?.ip;
}

/**
 * True when the link holding `ip` in `podNetns` is one end of a veth whose other end is in the
 * node's namespace `nodeNetns` (undefined: this process's), whatever the link's name (eth0,
 * net1, ...). The pod is wired to that node, not a namespace of another lab or cluster that
 * happens to hold the same address.
 */
function wiredTo(pod: PodSide, ip: string, podNetns: string, nodeNetns: string | undefined) {
  const link = pod.v4.find((a) => a.ip === ip);
  if (link?.peerIndex === undefined) return false;
  const k = new Kernel(nodeNetns);
  try {
    return vethPeeredWith({ index: link.index, parentIndex: link.peerIndex }, podNetns, k);
  } finally {
    k.close();
  }
}

/**
 * The namespace under `o.dir` (default /run/netns) holding `ip` (not one of `exclude`), if any
 * (at most 512 looked at; with `o.prefix` only names starting with it). `dir` may be another
 * mount namespace's view, `/proc/PID/root/run/netns` with prefix "cni-" (CRI's namespaces of a
 * node with its own mount namespace; that view also shows the host's, another lab's pods too).
 * With `o.node` (the node, by its namespace path; none: this process's) only a namespace whose
 * link holding `ip` (eth0, net1, ...) is a veth peered with that node counts: another lab or
 * cluster on the machine may use the same pod addresses.
 */
export function findNetnsOf(
  ip: string,
  exclude: ReadonlySet<string>,
  o: { dir?: string; prefix?: string; node?: { netns?: string } } = {},
): string | undefined {
  const dir = o.dir ?? "/run/netns";
  let names: string[];
  try {
    names = dir === "/run/netns" ? netnsList() : [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return undefined;
  }
  if (o.prefix) names = names.filter((n) => n.startsWith(o.prefix!));
  for (const name of names.slice(0, 512)) {
    const path = `${dir}/${name}`;
    if (exclude.has(path)) continue;
    try {
      const pod = podSide(path);
      if (!pod.v4.some((a) => a.ip === ip)) continue;
      if (!o.node || wiredTo(pod, ip, path, o.node.netns)) return path;
    } catch { /* gone or not ours to read */ }
  }
  return undefined;
}

/**
 * The IPv4 address IPAM reserved for container `id`: the full id, or (at least 12 characters,
 * `crictl ps` shows 13) a prefix of exactly one reservation's id.
 */
function byContainer(id: string, nodes: readonly NodeView[]): string | undefined {
  const prefixed = new Set<string>();
  for (const n of nodes) {
    if (!n.facts.ipamDir) continue;
    const r = readReservations(n.facts.ipamDir);
    if (!r.ok) continue;
    for (const x of r.list) {
      if (x.ip.includes(":")) continue;
      const c = containerOf(x.record);
      if (c === id) return x.ip;
      if (id.length >= 12 && c?.startsWith(id)) prefixed.add(x.ip);
    }
  }
  return prefixed.size === 1 ? [...prefixed][0] : undefined;
}

/** Resolves one endpoint. */
export function resolveEndpoint(
  query: string,
  ctx: { nodes: readonly NodeView[]; pods?: readonly KnownPod[] },
): Endpoint {
  if (typeof query !== "string" || !query.trim()) {
    throw new DiagnoseInputError(
      "a pod is a pod IP, container id, netns path or namespace/pod; got nothing",
    );
  }
  const e: Endpoint = { query, ip: "" };
  const pod = ctx.pods?.find((p) => p.name === query || p.ip === query || p.containerId === query);
  if (pod) {
    e.ip = pod.ip;
    e.podName = pod.name;
    if (pod.netns) e.netns = pod.netns;
    if (pod.containerId) e.containerId = pod.containerId;
  } else if (ipv4Number(query) !== undefined) {
    e.ip = query;
  } else if (query.includes("/")) {
    let ip: string | undefined;
    try {
      ip = podAddress(query);
    } catch (err) {
      throw new DiagnoseInputError(
        `cannot open network namespace ${query}: ${(err as Error).message}`,
      );
    }
    if (!ip) throw new DiagnoseInputError(`network namespace ${query} holds no IPv4 address`);
    e.ip = ip;
    e.netns = query;
  } else {
    const ip = byContainer(query, ctx.nodes);
    if (!ip && /^[0-9.]+$/.test(query)) {
      throw new DiagnoseInputError(`"${query}" is not a valid IPv4 address`);
    }
    if (!ip) {
      throw new DiagnoseInputError(
        `unknown pod "${query}": not a pod IP, no IPAM reservation has that container id, not a netns path${
          ctx.pods ? ", not a lab pod name" : ""
        }`,
      );
    }
    e.ip = ip;
    e.containerId = query;
  }
  const leases = ctx.nodes.map((n) => n.lease).filter((l) => l !== undefined);
  const lease = leaseHolding(leases, e.ip);
  if (lease) {
    const node = ctx.nodes.find((n) => n.nodeName === lease.node);
    if (node) e.node = node;
  }
  if (!e.node && pod?.node) {
    const node = ctx.nodes.find((n) => n.nodeName === pod.node);
    if (node) e.node = node;
  }
  if (!e.netns && e.node?.kernel) {
    const nodeNs = new Set(ctx.nodes.map((n) => n.kernel?.netns).filter((x) => x !== undefined));
    const ns = findNetnsOf(e.ip, nodeNs, { node: { netns: e.node.kernel.netns } });
    if (ns) e.netns = ns;
  }
  e.ifName = ifnameOf(e);
  return e;
}

/** Endpoint `e`'s interface name (pod_ifname.ts), its namespace opened for the look only. */
function ifnameOf(e: Endpoint): string {
  const o = { node: e.node?.kernel, ipamDir: e.node?.facts.ipamDir };
  if (!e.netns) return podIfnameOf(e, o);
  let pod: Kernel | undefined;
  try {
    pod = new Kernel(e.netns);
    return podIfnameOf(e, { ...o, pod });
  } catch {
    return podIfnameOf(e, o); // a namespace we cannot open: the pod family says so
  } finally {
    pod?.close();
  }
}
