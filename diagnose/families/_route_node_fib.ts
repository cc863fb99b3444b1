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

/**
 * A pod address of `node` in `subnet`: its first IPAM reservation there, else the second host;
 * `none` when its IPAM store was read and holds no address there (the node has no pod yet).
 */
export function localPodAddress(node: NodeView, subnet: string): { ip: string; none: boolean } {
  const dir = node.facts.ipamDir;
  const r = dir ? readReservations(dir) : undefined;
  const held = r?.ok
    ? r.list.find((x) => {
      const n = ipv4Number(x.ip);
      return n !== undefined && inCidr(n, subnet);
    })
    : undefined;
  return { ip: held?.ip ?? podAddressIn(subnet), none: r?.ok === true && !held };
}

/**
 * A failed lookup back to this node's pods on a node that has none yet is expected: the first
 * pod's ADD creates the bridge and its route. Such a failure becomes a warning saying so (the
 * lookup and the fix kept, for a node that should have pods).
 */
export function withoutPods(c: CheckResult, node: string, subnet: string): CheckResult {
  if (c.status !== "fail" || c.id !== "route.fib" || c.evidence.direction !== "reverse") return c;
  return {
    ...c,
    status: "warn",
    summary:
      `${c.summary}: ${node} has no pod yet (no IPAM reservation in ${subnet}); the first pod's ADD creates the bridge and the route to ${subnet}`,
  };
}

/** How many of the other subnets a merged check names in `alsoTowards` (the rest are counted). */
const ALSO_LISTED = 20;

/** `text` with the address `ip` (not a longer one that starts with it) as "<peer>". */
function withoutPeer(text: string, ip: string | undefined): string {
  if (!ip) return text;
  const esc = ip.replace(/\./g, "\\.");
  return text.replace(new RegExp(`(?<![\\d.])${esc}(?![\\d])`, "g"), "<peer>");
}

/**
 * Checks of many flows with one cause merged: a failure or warning whose fix (or, without one,
 * whose summary) repeats another's once the other end's address is set aside (`ip_forward=0`, one
 * policy rule refusing every subnet, no route back to this node's own pods) is kept once. It
 * names up to ALSO_LISTED of the other subnets it hits (`alsoTowards`), counts them all
 * (`alsoCount`) and says so in its summary; passes are counted.
 */
export function mergeFlowChecks(
  found: readonly { towards: string; peerIp?: string; checks: readonly CheckResult[] }[],
): { problems: CheckResult[]; passed: number } {
  const byCause = new Map<string, { kept: CheckResult; also: string[]; count: number }>();
  let passed = 0;
  for (const { towards, peerIp, checks } of found) {
    for (const c of checks) {
      if (c.status === "pass") {
        passed++;
        continue;
      }
      const key = `${c.id}|${c.status}|${withoutPeer(c.fix ?? c.summary, peerIp)}`;
      const first = byCause.get(key);
      if (!first) {
        byCause.set(key, {
          kept: { ...c, evidence: { ...c.evidence, towards } },
          also: [],
          count: 0,
        });
      } else if (first.kept.evidence.towards !== towards && !first.also.includes(towards)) {
        if (first.also.length < ALSO_LISTED) first.also.push(towards);
        first.count++;
      }
    }
  }
  const problems = [...byCause.values()].map(({ kept, also, count }) => {
    if (!count) return kept;
    const more = `and ${count} other subnet${count === 1 ? "" : "s"}`;
    return {
      ...kept,
      summary: `${kept.summary} (${more})`,
      evidence: { ...kept.evidence, alsoTowards: also, alsoCount: count },
    };
  });
  return { problems, passed };
}

/** route.fib and route.wrong_dev for pod traffic between `node` and every other lease. */
export async function nodeFlowChecks(d: Diagnosis, node: NodeView): Promise<CheckResult[]> {
  const own = node.lease?.subnet;
  if (!own || !node.kernel) return [];
  const local = localPodAddress(node, own);
  const from: Endpoint = { query: `a pod of ${node.name}`, ip: local.ip, node };
  const found = [];
  for (const l of otherLeases(d, node)) {
    const peer = leasePeer(node, l);
    const to: Endpoint = { query: `a pod of ${l.node}`, ip: podAddressIn(l.subnet), node: peer };
    const checks = await flowChecks(d, { from, to, nodes: [node, peer] });
    found.push({
      towards: `${l.node} ${l.subnet}`,
      peerIp: to.ip,
      checks: local.none ? checks.map((c) => withoutPods(c, node.name, own)) : checks,
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
