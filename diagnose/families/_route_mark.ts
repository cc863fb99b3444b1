/**
 * route.fib on a node whose ruleset marks the flow before routing while policy rules select on
 * fwmark: the FIB lookups are made unmarked, so their verdict becomes a warning that names the
 * marking rule. A constant mark is looked up again with that mark (RTM_GETROUTE with RTA_MARK):
 * the kernel's answer and the policy rule it meets are named. A mark
 * restored from conntrack (`meta mark set ct mark`, `-j CONNMARK --restore-mark`) names the
 * restoring rule (table, chain, handle) and the marks the ruleset stores in conntrack
 * (conn_marks.ts); each is looked up again the same way, and the policy rule it meets is named
 * with the command that removes it.
 *
 * @module
 */
import type { Rule } from "../../net/types.ts";
import { type CheckResult, warn } from "../check.ts";
import { type ConnMark, connMarks } from "../conn_marks.ts";
import type { Diagnosis } from "../context.ts";
import type { FibAnswer } from "../kernel.ts";
import { judge, type MarkRef, type Packet, type RuleRef } from "../nft_eval.ts";
import { echoOf } from "../nft_icmp.ts";
import { type Hop, nsExec } from "../path.ts";
import { answeringRule, ruleCause, ruleText } from "../rule_walk.ts";
import { rulesetOf } from "../ruleset.ts";

/** "family table chain handle N" of a rule. */
function refText(r: RuleRef): string {
  return `${r.family} ${r.table} ${r.chain}${r.handle !== undefined ? ` handle ${r.handle}` : ""}`;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** A lookup made with a mark: the kernel's answer and the policy rule the mark meets. */
interface Marked {
  answer: FibAnswer;
  rule?: Rule;
}

/** One stored mark, judged. */
type MarkedLookup = Marked & { m: ConnMark };

/** The hop's lookup again with firewall mark `mark` (`ip route get ... mark`). */
function lookupMarked(h: Hop, mark: number): Marked {
  const k = h.node.kernel!;
  const answer = k.fib({ dst: h.dst, src: h.src, iif: h.iif, mark });
  const flow = { src: h.src, dst: h.dst, iif: h.iif, ipProto: 1, mark };
  const cause = ruleCause(k.rules(), k.routes(), flow);
  const rule = cause?.kind === "rule"
    ? cause.rule
    : answeringRule(k.rules(), k.routes(), flow, answer.ok ? answer.route.table : undefined);
  return rule ? { answer, rule } : { answer };
}

function lookupWith(h: Hop, m: ConnMark): MarkedLookup {
  return { m, ...lookupMarked(h, m.mark) };
}

/** The answer with a mark in words: `EINVAL by policy rule "..."`. */
function markedWords(x: Marked): string {
  return `${answerText(x.answer)}${x.rule ? ` by policy rule "${ruleText(x.rule)}"` : ""}`;
}

/** `ip rule del pref N removes "..."` when the mark meets a rule on fwmark, else "". */
function ruleDel(ns: string, x: Marked): string {
  return x.rule?.fwmark !== undefined
    ? `${ns}ip rule del pref ${x.rule.priority} removes "${ruleText(x.rule)}"`
    : "";
}

function answerText(a: FibAnswer): string {
  return a.ok
    ? `dev ${a.route.devName ?? "?"}${a.route.gateway ? ` via ${a.route.gateway}` : ""}${
      a.route.table !== 254 ? ` table ${a.route.table}` : ""
    }${a.route.type && a.route.type !== "unicast" ? ` (${a.route.type})` : ""}`
    : `${a.code}`;
}

function storedText(m: ConnMark): string {
  return `${hex(m.mark)} by ${refText(m.by)} (${m.by.text})${
    m.savedBy ? `, saved into conntrack by ${refText(m.savedBy)}` : ""
  }`;
}

/** The warning for a mark restored from conntrack (see the module doc). */
function restoredCheck(h: Hop, c: CheckResult, by: MarkRef, marks: ConnMark[]): CheckResult {
  const ns = nsExec(h.node), where = refText(by);
  const judged = marks.map((m) => lookupWith(h, m));
  // The first stored mark a policy rule on fwmark takes (it changes the walk), else the first.
  const hit = judged.find((j) => j.rule?.fwmark !== undefined) ?? judged[0];
  const del = by.handle !== undefined
    ? `${ns}nft delete rule ${by.family} ${by.table} ${by.chain} handle ${by.handle} stops restoring it`
    : `${ns}nft -a list chain ${by.family} ${by.table} ${by.chain} shows the restoring rule`;
  const what = `${h.src} -> ${h.dst} (${h.direction}, in on ${h.iif})`;
  const found = hit
    ? `the ruleset stores mark ${storedText(hit.m)}; with it the kernel answers ${markedWords(hit)}`
    : "no rule of the ruleset stores a constant mark in conntrack";
  const lookup = `${ns}ip route get ${h.dst} from ${h.src} iif ${h.iif}`;
  return warn(
    c.id,
    c.node,
    `cannot judge ${what}: rule ${where} restores the connection's mark from conntrack (${by.text}); ${found} (unmarked, the lookup said: ${c.summary})`,
    {
      evidence: {
        ...c.evidence,
        markedBy: `${where}: ${by.text}`,
        restoredFromConntrack: true,
        conntrackMarks: judged.map((j) => `${storedText(j.m)} -> ${markedWords(j)}`),
      },
      fix: hit
        ? `${lookup} mark ${hex(hit.m.mark)}  # the mark conntrack holds for connections ${
          refText(hit.m.by)
        } marks; ${ruleDel(ns, hit) ? `${ruleDel(ns, hit)}, or ` : ""}${del}`
        : `${ns}conntrack -L -s ${h.src} -d ${h.dst}  # mark= is what ${where} restores (${by.text}); then: ${lookup} mark with that value; ${del}`,
    },
  );
}

/**
 * A FIB lookup is made with no firewall mark. When the node has policy rules on fwmark and its
 * ruleset sets a mark on the hop's packet before routing (`meta mark set` in prerouting), the
 * kernel may route it otherwise: the verdict becomes a warning naming the marking rule.
 */
export async function markedCheck(d: Diagnosis, h: Hop, c: CheckResult): Promise<CheckResult> {
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
    icmp: echoOf(h.direction === "reverse"),
    iifname: h.iif,
  };
  const by = judge(rs.ruleset, p).markedBy;
  if (!by) return c;
  const fwmarkRules = byMark.map(ruleText);
  if (by.restored) {
    const r = restoredCheck(h, c, by, connMarks(rs.ruleset));
    return { ...r, evidence: { ...r.evidence, fwmarkRules } };
  }
  const rule = refText(by), ns = nsExec(h.node);
  const lookup = `${ns}ip route get ${h.dst} from ${h.src} iif ${h.iif} mark`;
  const mark = by.mark, x = mark !== undefined ? lookupMarked(h, mark) : undefined;
  return warn(
    c.id,
    c.node,
    `cannot judge ${h.src} -> ${h.dst} (${h.direction}, in on ${h.iif}): the flow is marked by rule ${rule} (${by.text})${
      x && mark !== undefined ? `; with mark ${hex(mark)} the kernel answers ${markedWords(x)}` : ""
    }; policy rules on fwmark were judged unmarked (the lookup said: ${c.summary})`,
    {
      evidence: {
        ...c.evidence,
        markedBy: `${rule}: ${by.text}`,
        fwmarkRules,
        ...(x ? { markedLookup: markedWords(x) } : {}),
      },
      fix: x && mark !== undefined
        ? `${lookup} ${hex(mark)}${ruleDel(ns, x) ? `  # ${ruleDel(ns, x)}` : ""}`
        : `${ns}nft -a list chain ${by.family} ${by.table} ${by.chain}  # ${rule} (${by.text}) sets the mark: check with ${lookup} and the value it sets`,
    },
  );
}
