/**
 * `route`: the kernel's own FIB answers along the path, both directions, on every node with
 * kernel access (RTM_GETROUTE with the real source, destination and input device), and the
 * expected-vs-actual diff of skein's routes (missing, wrong next hop, stale, foreign routes that
 * shadow skein's); for a remote node the same diff from its daemon's /debug/state.
 *
 * @module
 */
import { skippedFix } from "./_skipped_fix.ts";
import { isOwnedRoute } from "../../backends/snapshot.ts";
import { type Route, RTPROT_BGP, SKEIN_ROUTE_PROTOCOL } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import { expectedOf } from "../expected.ts";
import type { Family } from "../family.ts";
import { fibErrorMeaning } from "../kernel.ts";
import { answeringRule, ruleCause, ruleFix, ruleText, ruleWords } from "../rule_walk.ts";
import { type Hop, hopCommand, nsExec, pathHops, remoteDevOf } from "../path.ts";
import { judge, type Packet } from "../nft_eval.ts";
import { rulesetOf } from "../ruleset.ts";
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

/**
 * Routes outside the main and local tables that cover `dst` and throw packets away (blackhole,
 * unreachable, prohibit): where a policy rule can send a lookup the main table would answer.
 */
function discardingElsewhere(node: NodeView, dst: string): Route[] {
  const k = node.kernel;
  if (!k) return [];
  return k.routes().filter((r) =>
    r.family === 4 && r.table !== 254 && r.table !== 255 && within(`${dst}/32`, r.dst) &&
    (r.type === "blackhole" || r.type === "unreachable" || r.type === "prohibit")
  );
}

/**
 * The sysctl that refuses to forward packets coming in on the hop's input device: the device's
 * own `forwarding` when it is 0 while ip_forward is 1, else ip_forward.
 */
function forwardingKey(h: Hop): string {
  const k = h.node.kernel, dev = h.iif;
  if (!k || !dev) return "net.ipv4.ip_forward";
  const perDev = `net/ipv4/conf/${dev}/forwarding`;
  k.readSysctls(["net/ipv4/ip_forward", perDev]);
  return k.sysctl("net/ipv4/ip_forward") === "1" && k.sysctl(perDev) === "0"
    ? perDev // sysctl takes the slash form, which keeps a device name's dots ("skein.1")
    : "net.ipv4.ip_forward";
}

/** A lookup the kernel refused: the policy rule behind it, a discarding route, or the sysctl. */
function refusedCheck(
  h: Hop,
  what: string,
  evidence: Record<string, unknown>,
  a: { code: string; message: string },
): CheckResult {
  const id = "route.fib";
  evidence.kernel = a.message;
  const k = h.node.kernel;
  const cause = k
    ? ruleCause(k.rules(), k.routes(), { src: h.src, dst: h.dst, iif: h.iif, ipProto: 1 })
    : undefined;
  if (cause) {
    evidence.rule = cause.kind === "rule" ? cause.text : "no rule: lookup main";
    return fail(
      id,
      h.node.name,
      `${h.node.name} cannot forward ${what}: ${a.code}, ${ruleWords(cause)}`,
      { evidence, fix: ruleFix(nsExec(h.node), cause) },
    );
  }
  const suspects = discardingElsewhere(h.node, h.dst);
  const first = suspects[0], routeOf = (r: Route) => `${r.type} ${r.dst}`;
  if (first) {
    evidence.discardingRoutesInOtherTables = suspects.map((r) => `${routeOf(r)} table ${r.table}`);
  }
  return fail(
    id,
    h.node.name,
    `${h.node.name} cannot forward ${what}: ${a.code}, ${fibErrorMeaning(a.code)}${
      first
        ? `; ${
          routeOf(first)
        } table ${first.table} covers ${h.dst}: a policy rule likely sends it there`
        : ""
    }`,
    {
      evidence,
      fix: a.code === "EHOSTUNREACH"
        ? `${nsExec(h.node)}sysctl -w ${forwardingKey(h)}=1`
        : first
        ? `${
          nsExec(h.node)
        }ip rule show  # remove the rule that sends ${h.src} -> ${h.dst} to table ${first.table}, or that table's ${
          routeOf(first)
        }`
        : `see the route.* and sysctl.* checks above; check again with: ${hopCommand(h)}`,
    },
  );
}

function fibCheck(h: Hop): CheckResult {
  const id = "route.fib";
  const what = `${h.src} -> ${h.dst} (${h.direction}, in on ${h.iif})`;
  const evidence: Record<string, unknown> = { lookup: hopCommand(h) };
  const a = h.answer!;
  if (!a.ok) return refusedCheck(h, what, evidence, a);
  const r = a.route;
  evidence.kernel = routeText({
    dst: h.dst,
    gateway: r.gateway,
    dev: r.devName,
    table: r.table,
    type: r.type,
  });
  if (r.table !== 254 && r.table !== 255) {
    const k = h.node.kernel;
    const rule = k
      ? answeringRule(
        k.rules(),
        k.routes(),
        { src: h.src, dst: h.dst, iif: h.iif, ipProto: 1 },
        r.table,
      )
      : undefined;
    if (rule) evidence.rule = ruleText(rule);
    return warn(
      id,
      h.node.name,
      `${what} is routed by table ${r.table}, not main: ${
        rule ? `policy rule "${ruleText(rule)}"` : "a policy rule"
      } sends it elsewhere`,
      {
        evidence,
        fix: rule
          ? `${
            nsExec(h.node)
          }ip rule del pref ${rule.priority}  # after checking who added it (ip rule show)`
          : `${nsExec(h.node)}ip rule show  # remove the rule that matches ${h.src} -> ${h.dst}`,
      },
    );
  }
  return pass(
    id,
    h.node.name,
    `${what} leaves by ${r.devName ?? "?"}${r.gateway ? ` via ${r.gateway}` : ""}`,
    { evidence },
  );
}

/**
 * A FIB lookup is made with no firewall mark. When the node has policy rules on fwmark and its
 * ruleset sets a mark on the hop's packet before routing (`meta mark set` in prerouting), the
 * kernel may route it otherwise: the verdict becomes a warning naming the marking rule.
 */
async function markedCheck(d: Diagnosis, h: Hop, c: CheckResult): Promise<CheckResult> {
  const k = h.node.kernel;
  const byMark = k?.rules().filter((r) => r.fwmark !== undefined || r.fwmask !== undefined);
  if (!byMark?.length || c.status === "skip") return c;
  const rs = await rulesetOf(d, h.node);
  if (!rs.ok) return c;
  const p: Packet = {
    hook: "prerouting",
    saddr: h.src,
    daddr: h.dst,
    l4proto: "icmp",
    iifname: h.iif,
  };
  const by = judge(rs.ruleset, p).markedBy;
  if (!by) return c;
  const rule = `${by.family} ${by.table} ${by.chain}${
    by.handle !== undefined ? ` handle ${by.handle}` : ""
  }`;
  return warn(
    c.id,
    c.node,
    `cannot judge ${h.src} -> ${h.dst} (${h.direction}, in on ${h.iif}): the flow is marked by rule ${rule} (${by.text}); policy rules on fwmark were judged unmarked (the lookup said: ${c.summary})`,
    {
      evidence: {
        ...c.evidence,
        markedBy: `${rule}: ${by.text}`,
        fwmarkRules: byMark.map(ruleText),
      },
      fix: `${nsExec(h.node)}ip route get ${h.dst} from ${h.src} iif ${h.iif} mark ${
        by.mark !== undefined ? `0x${by.mark.toString(16)}` : `MARK  # the mark ${rule} sets`
      }`,
    },
  );
}

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

const RESTART = "or restart the node's skein daemon: it reconciles every route";

/** Checks from a diff; `subnets` limits them to the prefixes the pair needs (undefined: all). */
export function diffChecks(node: NodeView, diff: RouteDiff, subnets?: string[]): CheckResult[] {
  const out: CheckResult[] = [];
  const relevant = (dst: string) =>
    !subnets || subnets.some((s) => within(dst, s) || within(s, dst));
  for (const m of diff.missing.filter((r) => relevant(r.dst))) {
    out.push(fail("route.missing", node.name, `${node.name} has no route to ${m.dst}`, {
      evidence: { expected: routeText(m), kernel: "no route to this prefix" },
      fix: `${replaceCmd(node, m)}  # ${RESTART}`,
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
          fix: `${nsExec(node)}ip route del ${
            m.have.type && m.have.type !== "unicast" ? `${m.have.type} ` : ""
          }${m.have.dst}${
            m.have.table !== undefined && m.have.table !== 254 ? ` table ${m.have.table}` : ""
          }  # after checking who added it (proto ${m.have.protocol ?? "?"})`,
        },
      ),
    );
  }
  if (diff.stale.length) {
    out.push(
      warn(
        "route.stale",
        node.name,
        `${diff.stale.length} skein route(s) on ${node.name} belong to no lease`,
        {
          evidence: { stale: diff.stale.map(routeText) },
          fix: diff.stale.map((r) =>
            `${nsExec(node)}ip route del ${r.dst} proto ${protoWord(node)}`
          ).join("; ") +
            `  # ${RESTART}`,
        },
      ),
    );
  }
  return out;
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

/**
 * The source node takes the destination pod's address for one of its own: an address on one of
 * its links, or a `local` route (table local) covering it. Its packets never leave the node.
 */
function localCheck(node: NodeView, ip: string, lookup: string): CheckResult {
  const k = node.kernel!, ns = nsExec(node);
  const link = k.linkWithAddr(ip);
  const addr = link ? k.addrs().find((a) => a.cidr.split("/")[0] === ip) : undefined;
  const route = k.routes().find((r) =>
    r.type === "local" && r.family === 4 && within(`${ip}/32`, r.dst)
  );
  const how = addr && link
    ? {
      text: `${link.name} holds ${addr.cidr}`,
      fix: `${ns}ip addr del ${addr.cidr} dev ${link.name}`,
    }
    : route
    ? {
      text: `a local route for ${route.dst} in table ${
        route.table === 255 ? "local" : route.table
      }`,
      fix: `${ns}ip route del local ${route.dst} table ${
        route.table === 255 ? "local" : route.table
      }${route.oif !== undefined && k.link(route.oif) ? ` dev ${k.link(route.oif)!.name}` : ""}`,
    }
    : {
      text: "a local route",
      fix: `${ns}ip route show table local  # and delete the one for ${ip}`,
    };
  return fail(
    "route.wrong_dev",
    node.name,
    `${node.name} takes ${ip} for one of its own addresses (${how.text}): the packets never leave it`,
    { evidence: { lookup, kernel: `local ${ip}` }, fix: how.fix },
  );
}

/**
 * The fix for a flow the source node sends out of the wrong device: the policy rule that sends
 * it to another table when one does, else the route diff's checks.
 */
function wrongDevFix(node: NodeView, h: Hop): string {
  const k = node.kernel, a = h.answer;
  const t = a?.ok ? a.route.table : 254;
  const rule = k && t !== 254 && t !== 255
    ? answeringRule(k.rules(), k.routes(), { src: h.src, dst: h.dst, iif: h.iif, ipProto: 1 }, t)
    : undefined;
  return rule
    ? `${nsExec(node)}ip rule del pref ${rule.priority}  # ${ruleText(rule)} sends it to table ${t}`
    : `see route.missing / route.foreign; ${RESTART}`;
}

function subnetOf(n: NodeView | undefined): string | undefined {
  return n?.lease?.subnet;
}

/** The route family. */
export const routeFamily: Family = {
  name: "route",
  async pair(d, pair: Pair) {
    const out = await Promise.all(
      pathHops(d, pair).filter((h) => h.answer).map((h) => markedCheck(d, h, fibCheck(h))),
    );
    const src = pair.from.node, dst = pair.to.node;
    if (src && dst && src !== dst) {
      for (const [node, other] of [[src, dst], [dst, src]] as const) {
        const s = subnetOf(other);
        if (!s) continue;
        out.push(...(node.kernel ? kernelDiff(d, node, [s]) : remoteDiff(node, [s])));
      }
      // The source node must send the destination's traffic out by its remote device.
      const fwd = pathHops(d, pair).find((h) => h.node === src && h.direction === "forward");
      const want = remoteDevOf(src, dst);
      if (fwd?.answer?.ok && fwd.answer.route.type === "local") {
        out.push(localCheck(src, pair.to.ip, hopCommand(fwd)));
      } else if (fwd?.answer?.ok && want && fwd.answer.route.devName !== want) {
        out.push(
          fail(
            "route.wrong_dev",
            src.name,
            `${src.name} sends ${pair.to.ip} out by ${fwd.answer.route.devName}, not ${want}`,
            {
              evidence: {
                lookup: hopCommand(fwd),
                kernel: routeText({
                  dst: pair.to.ip,
                  gateway: fwd.answer.route.gateway,
                  dev: fwd.answer.route.devName,
                }),
              },
              fix: wrongDevFix(src, fwd),
            },
          ),
        );
      }
    }
    return out;
  },
  node(d, node) {
    if (!node.kernel) {
      return [skip("route.expected", node.name, `no kernel access to ${node.name}`)];
    }
    return kernelDiff(d, node);
  },
};
