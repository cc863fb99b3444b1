/**
 * `route`: the kernel's own FIB answers along the path, both directions, on every node with
 * kernel access (`_route_fib.ts`; `--node`: for pod traffic to and from every other lease's
 * subnet, `_route_node_fib.ts`), and the expected-vs-actual diff of skein's routes (missing, wrong next hop, stale, foreign routes that
 * shadow skein's); for a remote node the same diff from its daemon's /debug/state.
 *
 * @module
 */
import { skippedFix } from "./_skipped_fix.ts";
import { isOwnedRoute } from "../../backends/snapshot.ts";
import { RTPROT_BGP, SKEIN_ROUTE_PROTOCOL } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import { expectedOf } from "../expected.ts";
import type { Family } from "../family.ts";
import { nsExec } from "../path.ts";
import { canonicalCidr } from "../../net/cidr.ts";
import { flowChecks, RESTART } from "./_route_fib.ts";
import { nodeFlowChecks } from "./_route_node_fib.ts";
import {
  diffRoutes,
  flatOf,
  type FlatRoute,
  moreSpecific,
  planDiff,
  type RouteDiff,
  routeText,
  within,
} from "../route_diff.ts";

/** The kernel routes of a node that skein does not own (any table the lookup may consult). */
function foreignRoutes(node: NodeView): FlatRoute[] {
  const k = node.kernel!;
  const names = new Map(k.links().map((l) => [l.index, l.name]));
  const proto = node.facts.backend === "bgp" ? RTPROT_BGP : SKEIN_ROUTE_PROTOCOL;
  return k.routes().filter((r) => r.family === 4 && r.table !== 255 && !isOwnedRoute(r, 254, proto))
    .map((r) => flatOf(r, names));
}

/**
 * The protocol word skein's routes carry on `node`, for a fix command: `bgp` (186) on a bgp node
 * (a route re-added as proto 100 there is foreign to its speaker), else the reconciler's 100.
 */
function protoWord(node: NodeView): string {
  return node.facts.backend === "bgp" ? "bgp" : String(SKEIN_ROUTE_PROTOCOL);
}

function replaceCmd(node: NodeView, r: FlatRoute): string {
  return `${nsExec(node)}ip route replace ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}${
    r.dev ? ` dev ${r.dev}` : ""
  }${r.onlink ? " onlink" : ""}${r.mtu !== undefined ? ` mtu ${r.mtu}` : ""} proto ${
    protoWord(node)
  }`;
}

/** Checks from a diff; `subnets` limits them to the prefixes the pair needs (undefined: all). */
export function diffChecks(node: NodeView, diff: RouteDiff, subnets?: string[]): CheckResult[] {
  const out: CheckResult[] = [];
  const relevant = (dst: string) =>
    !subnets || subnets.some((s) => within(dst, s) || within(s, dst));
  const skipped = node.daemon?.debug?.lastReconcile?.skipped;
  for (const m of diff.missing.filter((r) => relevant(r.dst))) {
    // The daemon skips that lease (the kernel refused its entries): replacing by hand fails too.
    const why = skipped?.find((s) => s.subnet === m.dst)?.reason;
    out.push(fail("route.missing", node.name, `${node.name} has no route to ${m.dst}`, {
      evidence: {
        expected: routeText(m),
        kernel: "no route to this prefix",
        ...(why ? { daemonSkips: why } : {}),
      },
      fix: why
        ? `fix the lease record of ${m.dst}: ${node.name}'s daemon skips it (${why})`
        : `${replaceCmd(node, m)}  # ${RESTART}`,
    }));
  }
  for (const m of diff.wrongNexthop.filter((x) => relevant(x.want.dst))) {
    const mtuOnly = m.want.mtu !== m.have.mtu && m.want.gateway === m.have.gateway &&
      m.want.dev === m.have.dev && !!m.want.onlink === !!m.have.onlink;
    out.push(
      fail(
        "route.wrong_nexthop",
        node.name,
        mtuOnly
          ? `${node.name}'s route to ${m.want.dst} carries MTU ${
            m.have.mtu ?? "none"
          } (skein sets ${
            m.want.mtu ?? "none"
          }): larger packets are refused (Frag needed) or dropped`
          : `${node.name} routes ${m.want.dst} via the wrong next hop`,
        {
          evidence: { expected: routeText(m.want), kernel: routeText(m.have) },
          fix: `${replaceCmd(node, m.want)}  # ${RESTART}`,
        },
      ),
    );
  }
  for (const m of diff.foreign.filter((x) => relevant(x.want.dst))) {
    out.push(
      fail(
        "route.foreign",
        node.name,
        `a route skein does not own takes ${m.have.dst} on ${node.name}`,
        {
          evidence: { expected: routeText(m.want), foreign: routeText(m.have) },
          fix: connectedFix(node, m.have) ??
            `${nsExec(node)}ip route del ${
              m.have.type && m.have.type !== "unicast" ? `${m.have.type} ` : ""
            }${m.have.dst}${
              m.have.table !== undefined && m.have.table !== 254 ? ` table ${m.have.table}` : ""
            }  # after checking who added it (proto ${m.have.protocol ?? "?"})`,
        },
      ),
    );
  }
  if (diff.stale.length) out.push(staleCheck(node, diff.stale));
  return out;
}

/**
 * route.stale: skein routes no lease holds. The route may be the last path to a node that is
 * still up with a stopped daemon (its lease expired): that daemon first, the route only for a
 * node that is gone.
 */
function staleCheck(node: NodeView, stale: readonly FlatRoute[]): CheckResult {
  return warn(
    "route.stale",
    node.name,
    `${stale.length} skein route(s) on ${node.name} belong to no lease: the lease is gone ` +
      "from the datastore (expired: its node's daemon stopped renewing; or released)",
    {
      evidence: { stale: stale.map(routeText) },
      fix:
        `check the daemon of the node at each route's next hop (restart it: its lease comes back); ` +
        `if that node is gone: ${
          stale.map((r) => `${nsExec(node)}ip route del ${r.dst} proto ${protoWord(node)}`)
            .join("; ")
        }`,
    },
  );
}

/**
 * A foreign route that is an address's connected route (proto kernel: a link given an address
 * inside another node's subnet, such as that node's gateway on cni0): the address is what to
 * delete; deleting only its route leaves the node answering for that address.
 */
function connectedFix(node: NodeView, r: FlatRoute): string | undefined {
  const k = node.kernel, link = r.dev !== undefined ? k?.link(r.dev) : undefined;
  if (!k || !link || r.protocol !== 2 || (r.table ?? 254) !== 254) return undefined;
  const a = k.addrs().find((x) =>
    x.index === link.index && x.family === 4 && canonicalCidr(x.cidr) === r.dst
  );
  return a
    ? `${nsExec(node)}ip addr del ${a.cidr} dev ${link.name}  # its connected route takes ${r.dst}`
    : undefined;
}

function kernelDiff(d: Diagnosis, node: NodeView, subnets?: string[]): CheckResult[] {
  const e = expectedOf(d, node);
  if (!e.ok) {
    return [
      skip(
        "route.expected",
        node.name,
        `cannot compute ${node.name}'s expected routes: ${e.reason}`,
      ),
    ];
  }
  // The reconciler's own plan, plus foreign routes inside a subnet (plan() compares keys only).
  const diff = planDiff(e.plan, e.names);
  // Routes inside this node's own subnet (cni0's, routed pods') are its own business, even when
  // a desired route covers the whole cluster network (udp).
  const own = node.lease?.subnet;
  const foreign = foreignRoutes(node).filter((r) => !own || !within(r.dst, own));
  diff.foreign.push(...moreSpecific(e.routes, foreign));
  const out = diffChecks(node, diff, subnets);
  for (const s of e.plan.skipped) {
    if (s.code === "shadowed" || (subnets && !subnets.includes(s.subnet))) continue;
    out.push(
      fail(
        "route.skipped",
        node.name,
        `the ${node.facts.backend} backend on ${node.name} cannot program ${s.subnet}`,
        {
          evidence: { subnet: s.subnet, code: s.code, reason: s.reason },
          fix: skippedFix({
            backend: node.facts.backend,
            reason: s.reason,
            ...(node.facts.configFile ? { configFile: node.facts.configFile } : {}),
          }),
        },
      ),
    );
  }
  if (!out.some((c) => c.status !== "pass")) {
    const wanted = e.routes.filter((r) => !subnets || subnets.includes(r.dst));
    out.push(
      pass("route.expected", node.name, `${node.name}'s skein routes match the reconciler's plan`, {
        evidence: {
          expected: wanted.map(routeText),
          plannedChanges: e.plan.ops.length,
          unchanged: e.plan.unchanged,
        },
      }),
    );
  }
  return out;
}

function remoteDiff(node: NodeView, subnets: string[]): CheckResult[] {
  const dbg = node.daemon?.debug;
  if (!dbg) {
    return [
      skip(
        "route.expected",
        node.name,
        `no kernel access to ${node.name} and no /debug/state from its daemon (${
          node.daemon?.debugError ?? node.daemon?.error ?? node.unreachable ?? "not asked"
        })`,
      ),
    ];
  }
  const owned = dbg.snapshot.routes;
  const out = diffChecks(node, diffRoutes(dbg.desired, owned, []), subnets);
  if (!dbg.desired.some((r) => subnets.includes(r.dst))) {
    const why = dbg.lastReconcile?.skipped.find((s) => subnets.includes(s.subnet));
    out.push(
      fail(
        "route.missing",
        node.name,
        `${node.name}'s daemon wants no route to ${subnets.join(", ")}`,
        {
          evidence: {
            desired: dbg.desired.map(routeText),
            skipped: why?.reason ?? "not in its leases",
          },
          fix: `check ${node.name}'s daemon log and its view of the leases`,
        },
      ),
    );
  }
  if (!out.length) {
    out.push(
      pass(
        "route.expected",
        node.name,
        `${node.name}'s daemon reports its routes to ${subnets.join(", ")} in place`,
        {
          evidence: {
            desired: dbg.desired.filter((r) => subnets.includes(r.dst)).map(routeText),
            source: "/debug/state",
          },
        },
      ),
    );
  }
  return out;
}

function subnetOf(n: NodeView | undefined): string | undefined {
  return n?.lease?.subnet;
}

/** The route family. */
export const routeFamily: Family = {
  name: "route",
  async pair(d, pair: Pair) {
    const out = await flowChecks(d, pair);
    const src = pair.from.node, dst = pair.to.node;
    if (src && dst && src !== dst) {
      for (const [node, other] of [[src, dst], [dst, src]] as const) {
        const s = subnetOf(other);
        if (!s) continue;
        out.push(...(node.kernel ? kernelDiff(d, node, [s]) : remoteDiff(node, [s])));
      }
    }
    return out;
  },
  async node(d, node) {
    if (!node.kernel) {
      return [skip("route.expected", node.name, `no kernel access to ${node.name}`)];
    }
    return [...await nodeFlowChecks(d, node), ...kernelDiff(d, node)];
  },
};
