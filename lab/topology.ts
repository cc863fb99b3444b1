/**
 * The lab's wires: the lan namespace with its bridge, node namespaces with an `eth0` on that
 * bridge, and empty pod namespaces. All through net/ (no `ip` binary); every namespace is recorded
 * in the lab state before it is created, so `lab down` can remove a half-built lab.
 *
 * @module
 */
import { netnsAdd, netnsDel, netnsList, netnsPath, openHandle, sysctlSet } from "../net/mod.ts";
import { isNetlinkError } from "../net/errors.ts";
import { isLabNamespace, type LabPlan, LAN_BRIDGE, NODE_UPLINK, type NodePlan } from "./plan.ts";

/** Called before a namespace is created, so it is recorded first. */
export type RecordNamespace = (name: string) => void;

/**
 * Creates `<lab>-lan` with bridge `br0` up (`ip netns add <lab>-lan; ip -n <lab>-lan link add br0
 * type bridge; ip -n <lab>-lan link set br0 up`).
 */
export function createLan(plan: LabPlan, record: RecordNamespace): void {
  record(plan.lanNetns);
  const path = netnsAdd(plan.lanNetns);
  using h = openHandle({ netns: path });
  h.linkSet("lo", { up: true });
  h.linkAdd({ kind: "bridge", name: LAN_BRIDGE, up: true });
}

/**
 * Creates node namespace `<lab>-n<i>`: a veth whose `eth0` end is created directly in the node
 * and whose other end (`n<i>`) is a port of the lan bridge; the node address on eth0; lo up;
 * IPv4 forwarding on (`ip -n <lan> link add n1 master br0 up type veth peer name eth0 netns
 * <node>; ip -n <node> addr add 192.168.77.11/24 dev eth0; ip -n <node> link set eth0 up`).
 */
export function createNode(plan: LabPlan, node: NodePlan, record: RecordNamespace): void {
  record(node.netns);
  const path = netnsAdd(node.netns);
  {
    using lan = openHandle({ netns: netnsPath(plan.lanNetns) });
    lan.linkAdd({
      kind: "veth",
      name: node.lanPort,
      master: LAN_BRIDGE,
      up: true,
      peer: { name: NODE_UPLINK, netns: path },
    });
  }
  using h = openHandle({ netns: path });
  h.linkSet("lo", { up: true });
  h.addrAdd({ dev: NODE_UPLINK, cidr: node.cidr });
  h.linkSet(NODE_UPLINK, { up: true });
  sysctlSet("net.ipv4.ip_forward", "1", { netns: path });
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
  const rank = (n: string) => (n.endsWith("-lan") ? 2 : /-p\d+$/.test(n) ? 0 : 1);
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
