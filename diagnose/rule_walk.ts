/**
 * Which policy routing rule decides a refused FIB lookup: the kernel's rule walk (`ip rule show`
 * order) for one IPv4 flow, read statically from the rules and routes. A `lookup` rule whose
 * table covers the destination ends the walk there (that table answered); a `blackhole`,
 * `unreachable` or `prohibit` rule that matches first refuses the packet; a walk that finds no
 * table while the main table covers the destination means no rule looks up main any more.
 * Pure.
 *
 * @module
 */
import type { Route, Rule } from "../net/types.ts";
import { within } from "./route_diff.ts";
import { ipv4Number } from "./context.ts";
import { routesHolding } from "./kernel_index.ts";

/** The flow a lookup is for: source, destination, input device (none: sent by the node). */
export interface RuleFlow {
  src?: string;
  dst: string;
  iif?: string;
  /** IP protocol number (1 ICMP, 6 TCP, 17 UDP). */
  ipProto?: number;
  /** The packet's firewall mark (undefined: unmarked, 0). */
  mark?: number;
}

/** What decided the lookup: a refusing rule, or main being looked up by no rule. */
export type RuleCause =
  | { kind: "rule"; rule: Rule; text: string }
  | { kind: "no-main" };

/** iproute2's names for the common protocols (`ipproto icmp`). */
const PROTO_NAMES: Record<number, string> = { 1: "icmp", 6: "tcp", 17: "udp" };

const DISCARD = new Set(["blackhole", "unreachable", "prohibit"]);

/** `ip rule` words for a rule ("100: from 10.244.2.2 prohibit"). */
export function ruleText(r: Rule): string {
  const w: string[] = [`${r.priority}:`];
  if (r.invert) w.push("not");
  w.push("from", r.src.endsWith("/0") ? "all" : r.src.replace(/\/32$/, ""));
  if (!r.dst.endsWith("/0")) w.push("to", r.dst.replace(/\/32$/, ""));
  if (r.iif) w.push("iif", r.iif);
  if (r.oif) w.push("oif", r.oif);
  if (r.fwmark !== undefined || r.fwmask !== undefined) {
    w.push(
      "fwmark",
      `0x${(r.fwmark ?? 0).toString(16)}${
        r.fwmask !== undefined && r.fwmask !== 0xffffffff ? `/0x${r.fwmask.toString(16)}` : ""
      }`,
    );
  }
  if (r.ipProto !== undefined) w.push("ipproto", PROTO_NAMES[r.ipProto] ?? String(r.ipProto));
  w.push(
    r.action === "lookup"
      ? `lookup ${tableName(r.table)}`
      : r.action === "goto" && r.goto !== undefined
      ? `goto ${r.goto}`
      : r.action,
  );
  if (r.suppressPrefixlen !== undefined) {
    w.push("suppress_prefixlength", String(r.suppressPrefixlen));
  }
  return w.join(" ");
}

function tableName(t: number): string {
  return t === 254 ? "main" : t === 255 ? "local" : t === 253 ? "default" : String(t);
}

/**
 * Whether the rule's selector matches the flow (selectors not judged here do not match).
 * `fwmark X/MASK` matches the flow's mark (0 when unmarked) when both agree under the mask.
 */
function matches(r: Rule, f: RuleFlow): boolean {
  if (r.family !== 4 || r.oif || r.tos || r.l3mdev) return false;
  const mark = r.fwmark === undefined ||
    ((r.fwmark ^ (f.mark ?? 0)) & (r.fwmask ?? 0xffffffff)) === 0;
  const hit = mark && within(`${f.src ?? "0.0.0.0"}/32`, r.src) && within(`${f.dst}/32`, r.dst) &&
    (r.iif === undefined || r.iif === (f.iif ?? "lo")) &&
    (r.ipProto === undefined || r.ipProto === f.ipProto);
  return r.invert ? !hit : hit;
}

/**
 * Whether table `t` holds an IPv4 route covering `dst` (with suppress_prefixlength N, one more
 * specific than /N: wg-quick's `lookup main suppress_prefixlength 0` skips the default route).
 */
function covers(routes: readonly Route[], t: number, dst: string, suppress = -1): boolean {
  const ip = ipv4Number(dst);
  return ip !== undefined && !routesHolding(routes, t, ip, suppress).next().done;
}

/**
 * The rules the kernel's walk meets for the flow, in order: the matching ones, a `goto` followed
 * to the first rule of its target preference (a goto whose target is gone is passed over, as the
 * kernel does), each with the goto that jumped over the rules before it, if any.
 */
function* walk(rules: readonly Rule[], f: RuleFlow): Generator<{ rule: Rule; jumpedBy?: Rule }> {
  const sorted = [...rules].filter((r) => r.family === 4).sort((a, b) => a.priority - b.priority);
  let jumpedBy: Rule | undefined;
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    if (!matches(r, f)) continue;
    if (r.action === "goto" && r.goto !== undefined) {
      const to = sorted.findIndex((x) => x.priority === r.goto && x.priority > r.priority);
      if (to < 0) continue;
      jumpedBy = r;
      i = to - 1;
      continue;
    }
    yield jumpedBy ? { rule: r, jumpedBy } : { rule: r };
  }
}

/**
 * The rule that refuses the flow (a discarding one, or a `goto` that jumps over main's lookup), or
 * `no-main` when no rule looked up a table covering the destination although main does;
 * undefined when a table answered (a route decides then).
 */
export function ruleCause(
  rules: readonly Rule[],
  routes: readonly Route[],
  f: RuleFlow,
): RuleCause | undefined {
  let mainLooked = false, lastGoto: Rule | undefined;
  for (const { rule: r, jumpedBy } of walk(rules, f)) {
    lastGoto = jumpedBy ?? lastGoto;
    if (DISCARD.has(r.action)) return { kind: "rule", rule: r, text: ruleText(r) };
    if (r.action !== "lookup") continue; // nop
    if (r.table === 254) mainLooked = true;
    if (covers(routes, r.table, f.dst, r.suppressPrefixlen)) return undefined;
  }
  if (mainLooked || !covers(routes, 254, f.dst)) return undefined;
  // A goto that jumped past the main table's rule is the cause, not a deleted `lookup main`.
  const main = rules.find((r) => r.family === 4 && r.action === "lookup" && r.table === 254);
  if (lastGoto && main && main.priority > lastGoto.priority && main.priority < lastGoto.goto!) {
    return { kind: "rule", rule: lastGoto, text: ruleText(lastGoto) };
  }
  return { kind: "no-main" };
}

/**
 * The `lookup` rule whose table answers the flow (the first matching one that covers it); with
 * `table` (the table the kernel's answer came from), only a rule of that table.
 */
export function answeringRule(
  rules: readonly Rule[],
  routes: readonly Route[],
  f: RuleFlow,
  table?: number,
): Rule | undefined {
  let r: Rule | undefined;
  for (const { rule: x } of walk(rules, f)) {
    if (DISCARD.has(x.action)) break;
    if (x.action === "lookup" && covers(routes, x.table, f.dst, x.suppressPrefixlen)) {
      r = x;
      break;
    }
  }
  // Not the table the kernel answered from: a selector not judged here decided; name none.
  return table === undefined || r?.table === table ? r : undefined;
}

/** The command that removes the cause (after `exec`, the namespace prefix). */
export function ruleFix(exec: string, c: RuleCause): string {
  return c.kind === "rule"
    ? `${exec}ip rule del pref ${c.rule.priority}  # ${c.text}`
    : `${exec}ip rule add pref 32766 lookup main  # no rule looks up the main table`;
}

/** The cause in words, for a summary. */
export function ruleWords(c: RuleCause): string {
  return c.kind === "rule"
    ? c.rule.action === "goto"
      ? `policy rule "${c.text}" jumps over the main table's lookup`
      : `policy rule "${c.text}" refuses it`
    : "no policy rule looks up the main table (the `lookup main` rule was deleted)";
}
