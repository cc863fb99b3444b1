/**
 * What `--node` judges a node against when there is no flow: every other node's lease, and a pod
 * address in a subnet standing for that subnet's pod traffic.
 *
 * @module
 */
import { formatIp, nthIp, parseCidr } from "../../net/cidr.ts";
import type { Diagnosis, NodeView } from "../context.ts";
import type { Lease } from "../../store/types.ts";
import type { Packet } from "../nft_eval.ts";

/** A pod address of a subnet (its second host), to judge pod traffic in general. */
export function podAddressIn(subnet: string): string {
  return formatIp(nthIp(parseCidr(subnet), 2));
}

/** The datastore's leases of the other nodes (all but `node`'s own subnet). */
export function otherLeases(d: Diagnosis, node: NodeView): Lease[] {
  return (d.store.leases ?? []).filter((l) => l.subnet !== node.lease?.subnet);
}

/** A node known only from its lease, with `node`'s facts (the same cluster's config). */
export function leasePeer(node: NodeView, l: Lease): NodeView {
  return { name: l.node, nodeName: l.node, facts: node.facts, lease: l };
}

/**
 * Pod traffic from subnet `from` (`node`'s own) to subnet `to` as `node`'s forward hook sees it:
 * in on the node's bridge, out on its tunnel device when the backend has one (an ICMP echo
 * between two pod addresses standing for the subnets).
 */
export function podForwardPacket(node: NodeView, from: string, to: string): Packet {
  return {
    hook: "forward",
    saddr: podAddressIn(from),
    daddr: podAddressIn(to),
    l4proto: "icmp",
    iifname: node.facts.bridge,
    ...(node.facts.device ? { oifname: node.facts.device } : {}),
  };
}
