/**
 * What `--node` judges a node against when there is no flow: every other node's lease, and a pod
 * address in a subnet standing for that subnet's pod traffic.
 *
 * @module
 */
import { formatIp, nthIp, parseCidr } from "../../net/cidr.ts";
import type { Diagnosis, NodeView } from "../context.ts";
import type { Lease } from "../../store/types.ts";

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
