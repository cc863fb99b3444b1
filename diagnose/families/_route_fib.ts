/**
 * `route.fib` and `route.wrong_dev`: the kernel's own FIB answers along one flow's path, both
 * directions, on every node with kernel access (RTM_GETROUTE with the real source, destination
 * and input device), and the source node's choice of output device. A pair diagnosis asks them
 * for its pods; `--node` for pod traffic between this node and every other lease's subnet.
 *
 * @module
 */
import type { Route, Rule } from "../../net/types.ts";
import { type CheckResult, fail, pass, warn } from "../check.ts";
import { type Diagnosis, ipv4Number, type NodeView, type Pair } from "../context.ts";
import { firstHolding } from "../kernel_index.ts";
import { fibErrorMeaning } from "../kernel.ts";
import { answeringRule, ruleCause, ruleFix, ruleText, ruleWords } from "../rule_walk.ts";
import { type Hop, hopCommand, nsExec, pathHops, remoteDevOf } from "../path.ts";
import { markedCheck } from "./_route_mark.ts";
import { localOwner } from "./_local_owner.ts";
import { routeText, within } from "../route_diff.ts";

/** The fix's tail for a route the reconciler owns. */
export const RESTART = "or restart the node's skein daemon: it reconciles every route";

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
 * own `forwarding` when it is 0 while ip_forward is 1, else ip_forward; undefined when both say
 * 1 (an EHOSTUNREACH then comes from an `unreachable` route, not from the sysctl).
 */
function forwardingOff(h: Hop): string | undefined {
  const k = h.node.kernel, dev = h.iif;
  if (!k || !dev) return "net.ipv4.ip_forward";
  const perDev = `net/ipv4/conf/${dev}/forwarding`;
  k.readSysctls(["net/ipv4/ip_forward", perDev]);
  if (k.sysctl("net/ipv4/ip_forward") !== "1") return "net.ipv4.ip_forward";
  // sysctl takes the slash form, which keeps a device name's dots ("skein.1").
  return k.sysctl(perDev) === "0" ? perDev : undefined;
}

const DISCARDING = new Set(["blackhole", "unreachable", "prohibit"]);

/**
 * The route that refuses the flow where the rule walk ends: the most specific route covering
 * the destination in the table of the first `lookup` rule that covers it, when that route is a
 * blackhole, unreachable or prohibit one; with that rule.
 */
function discardingAnswer(h: Hop): { route: Route; rule: Rule } | undefined {
  const k = h.node.kernel;
  if (!k) return undefined;
  const rule = answeringRule(k.rules(), k.routes(), {
    src: h.src,
    dst: h.dst,
    iif: h.iif,
    ipProto: 1,
  });
  if (!rule) return undefined;
  const route = firstHolding(k.routes(), rule.table, ipv4Number(h.dst));
  return route && DISCARDING.has(route.type ?? "") ? { route, rule } : undefined;
}

/** A lookup refused by a discarding route the rule walk reaches: that route, and its rule. */
function discardingCheck(
  h: Hop,
  what: string,
  evidence: Record<string, unknown>,
  code: string,
  found: { route: Route; rule: Rule },
): CheckResult {
  const { route: r, rule } = found, ns = nsExec(h.node);
  const table = r.table === 254 ? "" : ` table ${r.table}`;
  evidence.route = `${r.type} ${r.dst}${table}`;
  if (r.table !== 254) evidence.rule = ruleText(rule);
  return fail(
    "route.fib",
    h.node.name,
    `${h.node.name} cannot forward ${what}: ${code}, the ${r.type} route ${r.dst}${
      r.table === 254
        ? " (main table)"
        : `${table}, where policy rule "${ruleText(rule)}" sends it,`
    } refuses it`,
    {
      evidence,
      fix: `${ns}ip route del ${r.type} ${r.dst}${table}${
        r.table === 254
          ? `  # after checking who added it (proto ${r.protocol ?? "?"})`
          : `  # or ${ns}ip rule del pref ${rule.priority}, after checking who added them`
      }`,
    },
  );
}

/**
 * A lookup the kernel refused: the policy rule behind it, the sysctl, a discarding route the
 * walk reaches, or one in another table a rule may send it to.
 */
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
  const sysctl = a.code === "EHOSTUNREACH" ? forwardingOff(h) : undefined;
  const discarding = sysctl ? undefined : discardingAnswer(h);
  if (discarding) return discardingCheck(h, what, evidence, a.code, discarding);
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
      fix: sysctl
        ? `${nsExec(h.node)}sysctl -w ${sysctl}=1`
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
  const evidence: Record<string, unknown> = { lookup: hopCommand(h), direction: h.direction };
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
 * The source node takes the destination pod's address for one of its own: an address on one of
 * its links, or a `local` route (table local) covering it. Its packets never leave the node.
 */
function localCheck(node: NodeView, ip: string, lookup: string): CheckResult {
  const how = localOwner(node.kernel!, nsExec(node), ip);
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
  if (rule) {
    return `${nsExec(node)}ip rule del pref ${rule.priority}  # ${
      ruleText(rule)
    } sends it to table ${t}`;
  }
  // The route the kernel answered with: deleting it lets the reconciler's own route decide.
  const used = k && t !== undefined ? firstHolding(k.routes(), t, ipv4Number(h.dst)) : undefined;
  if (!used) return `see route.missing / route.foreign; ${RESTART}`;
  const dev = used.oif !== undefined ? k!.link(used.oif)?.name : undefined;
  return `${nsExec(node)}ip route del ${
    used.type && used.type !== "unicast" ? `${used.type} ` : ""
  }${used.dst === "0.0.0.0/0" ? "default" : used.dst}${t !== 254 ? ` table ${t}` : ""}${
    dev ? ` dev ${dev}` : ""
  }  # proto ${used.protocol}: the route that sends it there, after checking who added it; then ${
    RESTART.replace(/^or /, "")
  }`;
}

/** route.wrong_dev: the source node must send the destination's traffic out by its remote device. */
function wrongDevCheck(d: Diagnosis, pair: Pair): CheckResult | undefined {
  const src = pair.from.node, dst = pair.to.node;
  if (!src || !dst || src === dst) return undefined;
  const fwd = pathHops(d, pair).find((h) => h.node === src && h.direction === "forward");
  const want = remoteDevOf(src, dst);
  if (!fwd?.answer?.ok) return undefined;
  if (fwd.answer.route.type === "local") return localCheck(src, pair.to.ip, hopCommand(fwd));
  if (!want || fwd.answer.route.devName === want) return undefined;
  return fail(
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
  );
}

/**
 * The FIB checks of one flow: route.fib for every lookup of its path (both directions, on the
 * nodes with kernel access) and route.wrong_dev for its source node.
 */
export async function flowChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const out = await Promise.all(
    pathHops(d, pair).filter((h) => h.answer).map((h) => markedCheck(d, h, fibCheck(h))),
  );
  const w = wrongDevCheck(d, pair);
  if (w) out.push(w);
  return out;
}
