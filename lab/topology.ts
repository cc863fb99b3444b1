/**
 * The lab's wires: the lan namespace with its bridge (two of them and a router namespace joining
 * them with `--topology two-subnets`), node namespaces with an `eth0` on their segment's bridge,
 * and empty pod namespaces. All through net/ (no `ip` binary); every namespace is recorded
 * in the lab state before it is created, so `lab down` can remove a half-built lab.
 *
 * @module
 */
import { netnsAdd, netnsDel, netnsList, netnsPath, openHandle, sysctlSet } from "../net/mod.ts";
import { isNetlinkError } from "../net/errors.ts";
import {
  type ControlPlanePlan,
  isLabNamespace,
  type LabPlan,
  LAN_BRIDGE,
  NODE_UPLINK,
  type NodePlan,
  ROUTER_PORT,
  type SegmentPlan,
} from "./plan.ts";

/** Called before a namespace is created, so it is recorded first. */
export type RecordNamespace = (name: string) => void;

/**
 * Creates each segment's namespace (`<lab>-lan`, and `<lab>-lan2` for two-subnets) with bridge
 * `br0` up (`ip netns add <lab>-lan; ip -n <lab>-lan link add br0 type bridge; ip -n <lab>-lan
 * link set br0 up`), then the router when the plan has one.
 */
export function createLan(plan: LabPlan, record: RecordNamespace): void {
  for (const seg of plan.segments) createSegment(seg, record);
  if (plan.router) createRouter(plan, record);
}

function createSegment(seg: SegmentPlan, record: RecordNamespace): void {
  record(seg.netns);
  const path = netnsAdd(seg.netns);
  using h = openHandle({ netns: path });
  h.linkSet("lo", { up: true });
  h.linkAdd({ kind: "bridge", name: LAN_BRIDGE, up: true });
}

/**
 * A veth from segment `seg`'s bridge (port `port`) to `ifname` in the namespace at `path`
 * (`ip -n <seg> link add PORT master br0 up type veth peer name IFNAME netns NS`).
 */
function plugIntoSegment(seg: SegmentPlan, port: string, path: string, ifname: string): void {
  using lan = openHandle({ netns: netnsPath(seg.netns) });
  lan.linkAdd({
    kind: "veth",
    name: port,
    master: LAN_BRIDGE,
    up: true,
    peer: { name: ifname, netns: path },
  });
}

/**
 * Creates `<lab>-router`: one port per segment (`eth0` 192.168.77.1/24 on the first, `eth1`
 * 192.168.78.1/24 on the second), IPv4 forwarding on (`ip -n <lab>-router addr add ...; sysctl
 * net.ipv4.ip_forward=1`).
 */
function createRouter(plan: LabPlan, record: RecordNamespace): void {
  const r = plan.router!;
  record(r.netns);
  const path = netnsAdd(r.netns);
  for (const p of r.ports) plugIntoSegment(p.segment, ROUTER_PORT, path, p.name);
  using h = openHandle({ netns: path });
  h.linkSet("lo", { up: true });
  for (const p of r.ports) {
    h.addrAdd({ dev: p.name, cidr: p.cidr });
    h.linkSet(p.name, { up: true });
  }
  sysctlSet("net.ipv4.ip_forward", "1", { netns: path });
}

/**
 * Creates node namespace `<lab>-n<i>`: a veth whose `eth0` end is created directly in the node
 * and whose other end (`n<i>`) is a port of its segment's bridge; the node address on eth0; the
 * routes to the other segment via the router (two-subnets); lo up; IPv4 forwarding on
 * (`ip -n <lan> link add n1 master br0 up type veth peer name eth0 netns <node>; ip -n <node>
 * addr add 192.168.77.11/24 dev eth0; ip -n <node> link set eth0 up; ip -n <node> route add
 * 192.168.78.0/24 via 192.168.77.1 dev eth0`).
 */
export function createNode(node: NodePlan, record: RecordNamespace): void {
  record(node.netns);
  const path = netnsAdd(node.netns);
  plugIntoSegment(node.segment, node.lanPort, path, NODE_UPLINK);
  using h = openHandle({ netns: path });
  h.linkSet("lo", { up: true });
  h.addrAdd({ dev: NODE_UPLINK, cidr: node.cidr });
  h.linkSet(NODE_UPLINK, { up: true });
  for (const r of node.underlayRoutes) {
    h.routeAdd({ dst: r.dst, gateway: r.gateway, dev: NODE_UPLINK });
  }
  sysctlSet("net.ipv4.ip_forward", "1", { netns: path });
}

/**
 * Creates the control-plane namespace `<lab>-cp` of a `--datastore kubernetes` lab: `eth0` on
 * the first segment's bridge (port `cp`) with 192.168.77.2/24, lo up (etcd listens there), the
 * routes to the other segment via the router (`ip netns add <lab>-cp; ip -n <lab>-lan link add
 * cp master br0 up type veth peer name eth0 netns <lab>-cp; ip -n <lab>-cp addr add
 * 192.168.77.2/24 dev eth0; ip -n <lab>-cp link set eth0 up`).
 */
export function createControlPlane(cp: ControlPlanePlan, record: RecordNamespace): string {
  record(cp.netns);
  const path = netnsAdd(cp.netns);
  plugIntoSegment(cp.segment, cp.lanPort, path, NODE_UPLINK);
  using h = openHandle({ netns: path });
  h.linkSet("lo", { up: true });
  h.addrAdd({ dev: NODE_UPLINK, cidr: cp.cidr });
  h.linkSet(NODE_UPLINK, { up: true });
  for (const r of cp.underlayRoutes) {
    h.routeAdd({ dst: r.dst, gateway: r.gateway, dev: NODE_UPLINK });
  }
  return path;
}

/** Creates an empty pod namespace with lo up (`ip netns add NAME; ip -n NAME link set lo up`). */
export function createPodNetns(name: string, record: RecordNamespace): string {
  record(name);
  const path = netnsAdd(name);
  using h = openHandle({ netns: path });
  h.linkSet("lo", { up: true });
  return path;
}

/**
 * Deletes the given namespaces (pods first, lan last) plus any leftover namespace that matches
 * this lab's naming pattern. Missing ones are fine. Returns the names it deleted and the errors.
 */
export function deleteLabNamespaces(
  labName: string,
  recorded: readonly string[],
): { deleted: string[]; errors: string[] } {
  const existing = new Set(netnsList());
  const names = new Set(recorded.filter((n) => existing.has(n)));
  for (const n of existing) if (isLabNamespace(labName, n)) names.add(n);
  const rank = (n: string) => (/-(lan\d*|router)$/.test(n) ? 2 : /-p\d+$/.test(n) ? 0 : 1);
  const ordered = [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const deleted: string[] = [], errors: string[] = [];
  for (const n of ordered) {
    try {
      netnsDel(n);
      deleted.push(n);
    } catch (e) {
      if (isNetlinkError(e, "ENOENT") || e instanceof Deno.errors.NotFound) continue;
      errors.push(`${n}: ${(e as Error).message}`);
    }
  }
  return { deleted, errors };
}
