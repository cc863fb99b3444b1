/**
 * The firewall marks a ruleset stores in conntrack (connmark), read statically: what a rule
 * restoring the packet's mark from conntrack (`meta mark set ct mark`, iptables' `-j CONNMARK
 * --restore-mark`) can give a packet. A constant written to the connection's mark (`ct mark set
 * 0x10`, `-j CONNMARK --set-mark 0x10`) is one; a constant packet mark (`meta mark set 0x10`,
 * `-j MARK --set-mark 0x10`) is one when some rule saves the packet's mark into conntrack (`ct
 * mark set meta mark`, `-j CONNMARK --save-mark`). Pure.
 *
 * @module
 */
import { type RuleRef, type Ruleset, ruleText, xtSetMark } from "./nft_eval.ts";

/** A mark conntrack may hold, and the rule that puts it there. */
export interface ConnMark {
  mark: number;
  /** The rule writing the constant (into conntrack, or into the packet before it is saved). */
  by: RuleRef;
  /** The rule saving the packet's mark into conntrack, when `by` sets the packet's mark. */
  savedBy?: RuleRef;
}

type Json = Record<string, unknown>;
type RuleOf = Ruleset["chains"] extends Map<string, infer C>
  ? C extends { rules: (infer R)[] } ? R : never
  : never;

/** What one rule writes: a constant into conntrack or the packet, or a save of the packet's. */
type Write = { to: "ct" | "meta"; mark: number } | { to: "save" };

function writesOf(rule: RuleOf): Write[] {
  const out: Write[] = [];
  for (const e of rule.expr as Json[]) {
    const m = e.mangle as Json | undefined;
    const key = m?.key as Json | undefined;
    const ct = (key?.ct as Json | undefined)?.key === "mark";
    const meta = (key?.meta as Json | undefined)?.key === "mark";
    if (!m || (!ct && !meta)) continue;
    if (typeof m.value === "number") out.push({ to: ct ? "ct" : "meta", mark: m.value });
    else if (ct && ((m.value as Json | undefined)?.meta as Json | undefined)?.key === "mark") {
      out.push({ to: "save" });
    }
  }
  const xt = (rule.expr as Json[]).map((e) => e.xt as Json | undefined).find((x) =>
    x?.type === "target"
  );
  const words = rule.iptables ?? "";
  if (xt?.name === "CONNMARK" && /--save-mark\b/.test(words)) out.push({ to: "save" });
  const value = xtSetMark(words);
  if ((xt?.name === "CONNMARK" || xt?.name === "MARK") && value !== undefined) {
    out.push({ to: xt.name === "CONNMARK" ? "ct" : "meta", mark: value });
  }
  return out;
}

/** Every constant mark the ruleset can leave in conntrack, once each, in ruleset order. */
export function connMarks(rs: Ruleset): ConnMark[] {
  const stored: ConnMark[] = [], packet: ConnMark[] = [];
  let save: RuleRef | undefined;
  for (const ch of rs.chains.values()) {
    for (const rule of ch.rules) {
      const writes = writesOf(rule);
      if (!writes.length) continue;
      const by: RuleRef = {
        family: ch.family,
        table: ch.table,
        chain: ch.name,
        text: rule.iptables
          ? `${ruleText(rule.expr as Json[])} (iptables: ${rule.iptables})`
          : ruleText(rule.expr as Json[]),
      };
      if (rule.handle !== undefined) by.handle = rule.handle;
      for (const w of writes) {
        if (w.to === "save") save ??= by;
        else (w.to === "ct" ? stored : packet).push({ mark: w.mark, by });
      }
    }
  }
  const all = [...stored, ...(save ? packet.map((p) => ({ ...p, savedBy: save })) : [])];
  return all.filter((m, i) => all.findIndex((x) => x.mark === m.mark) === i);
}
