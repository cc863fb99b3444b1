/**
 * `--node`'s FIB lookups: the pair diagnosis's own route.fib and route.wrong_dev checks
 * (`_route_fib.ts`), asked for pod traffic between this node and every other lease's subnet.
 * The local end is a pod of this node (its first IPAM reservation in the node's subnet, else the
 * subnet's second address); the other end stands for that subnet's pods (its second address).
 * Each flow is looked up both ways: out of the local pod (in on the pods' device) and back to
 * it (in on the device the other node's traffic arrives by).
 *
 * @module
 */
import { type CheckResult, pass } from "../check.ts";
import { type Diagnosis, type Endpoint, inCidr, ipv4Number, type NodeView } from "../context.ts";
import { readReservations } from "../ipam_read.ts";
import { flowChecks } from "./_route_fib.ts";
import { leasePeer, otherLeases, podAddressIn } from "./_node_peers.ts";

/** A pod address of `node` in `subnet`: its first IPAM reservation there, else the second host. */
export function localPodAddress(node: NodeView, subnet: string): string {
  const dir = node.facts.ipamDir;
  const r = dir ? readReservations(dir) : undefined;
  const held = r?.ok
    ? r.list.find((x) => {
      const n = ipv4Number(x.ip);
      return n !== undefined && inCidr(n, subnet);
    })
    : undefined;
  return held?.ip ?? podAddressIn(subnet);
}

/**
 * Checks of many flows with one cause merged: a failure or warning whose fix repeats another's
 * (`ip_forward=0`, one policy rule refusing every subnet) is kept once, naming the other
 * subnets it also hits; passes are counted.
 */
export function mergeFlowChecks(
  found: readonly { towards: string; checks: readonly CheckResult[] }[],
): { problems: CheckResult[]; passed: number } {
  const byFix = new Map<string, CheckResult>();
  const problems: CheckResult[] = [];
  let passed = 0;
  for (const { towards, checks } of found) {
    for (const c of checks) {
      if (c.status === "pass") {
        passed++;
        continue;
      }
      const key = `${c.id}|${c.status}|${c.fix ?? c.summary}`;
      const first = byFix.get(key);
      if (first) {
        const also = (first.evidence.alsoTowards as string[] | undefined) ?? [];
        if (!also.includes(towards) && first.evidence.towards !== towards) also.push(towards);
        if (also.length) first.evidence.alsoTowards = also;
        continue;
      }
      const kept = { ...c, evidence: { ...c.evidence, towards } };
      byFix.set(key, kept);
      problems.push(kept);
    }
  }
  return { problems, passed };
}

/** route.fib and route.wrong_dev for pod traffic between `node` and every other lease. */
export async function nodeFlowChecks(d: Diagnosis, node: NodeView): Promise<CheckResult[]> {
  const own = node.lease?.subnet;
  if (!own || !node.kernel) return [];
  const from: Endpoint = { query: `a pod of ${node.name}`, ip: localPodAddress(node, own), node };
  const found = [];
  for (const l of otherLeases(d, node)) {
    const peer = leasePeer(node, l);
    const to: Endpoint = { query: `a pod of ${l.node}`, ip: podAddressIn(l.subnet), node: peer };
    found.push({
      towards: `${l.node} ${l.subnet}`,
      checks: await flowChecks(d, { from, to, nodes: [node, peer] }),
    });
  }
  if (!found.length) return [];
  const { problems, passed } = mergeFlowChecks(found);
  if (problems.length) return problems;
  return [
    pass(
      "route.fib",
      node.name,
      `${node.name} routes pod traffic to and from every other node's subnet (${found.length} subnets, ${passed} lookups)`,
      { evidence: { from: from.ip, subnets: found.length, lookups: passed } },
    ),
  ];
}
