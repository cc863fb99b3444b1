/**
 * Ranking of check results for the human report and `--json`: failures first, then warnings,
 * skips and passes; within one status the likely root cause comes before its consequences.
 * Causes are ordered by family (FAMILY_ORDER: a stopped daemon or ip_forward=0 explains a missing
 * route, which explains a failed FIB lookup, which explains a lost probe); checks that only
 * observe a symptom (a FIB lookup that fails, a probe, a drop trace) come after every cause of
 * the same status.
 *
 * @module
 */
import { type CheckResult, type CheckStatus, FAMILY_ORDER, familyOf } from "./check.ts";

const STATUS_RANK: Record<CheckStatus, number> = { fail: 0, warn: 1, skip: 2, pass: 3 };

/** Checks that observe a symptom rather than a cause: ranked after the causes. */
const SYMPTOM = /^(route\.fib|underlay\.fib|probe\.|trace\.|mtu\.probe)/;

/**
 * Checks that name the cause of their own family's other failures, on either node: ranked first
 * within the family (a firewall dropping TCP 179 on one node is why both nodes' sessions are
 * down; a node that lost its lease's address or its carrier is why the other cannot resolve it; an
 * uplink MTU below the other node's on one network is why the pods exceed the path budget; a
 * route skein does not own that takes a lease's subnet is why the flow leaves by the wrong device).
 */
const FAMILY_CAUSE = new Set([
  "bgp.port",
  "underlay.address",
  "underlay.link",
  "underlay.arp",
  "underlay.route",
  "mtu.uplink",
  "route.foreign",
]);

function familyRank(id: string): number {
  const i = (FAMILY_ORDER as readonly string[]).indexOf(familyOf(id));
  return i < 0 ? FAMILY_ORDER.length : i;
}

/**
 * The checks sorted for display (a new array; `checks` is not changed). `nodeOrder` lists node
 * names, source first: at equal rank the source node's checks come first. Stable otherwise.
 */
export function rankChecks(
  checks: readonly CheckResult[],
  nodeOrder: readonly string[] = [],
): CheckResult[] {
  const nodeRank = (n: string) => {
    const i = nodeOrder.indexOf(n);
    return i < 0 ? nodeOrder.length : i;
  };
  return checks.map((c, i) => ({ c, i })).sort((a, b) =>
    STATUS_RANK[a.c.status] - STATUS_RANK[b.c.status] ||
    Number(SYMPTOM.test(a.c.id)) - Number(SYMPTOM.test(b.c.id)) ||
    familyRank(a.c.id) - familyRank(b.c.id) ||
    Number(!FAMILY_CAUSE.has(a.c.id)) - Number(!FAMILY_CAUSE.has(b.c.id)) ||
    nodeRank(a.c.node) - nodeRank(b.c.node) ||
    a.i - b.i
  ).map((x) => x.c);
}
