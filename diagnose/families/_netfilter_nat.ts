/**
 * netfilter.nat: whether a node rewrites the flow's addresses on its way from pod to pod (the
 * forward direction, at each node it crosses): a DNAT of the destination pod's address in
 * prerouting sends the packets elsewhere (fail); a masquerade or SNAT in postrouting hides the
 * source pod (warn: the pod is reached, but it sees a node's address, so NetworkPolicies and
 * logs keyed on pod addresses do not match). flannel's and skein's masquerade return early for
 * pod-to-pod traffic; a rule that masquerades the whole pod network does not. A DNAT or REDIRECT
 * of the tunnel's own packets fails too. The rewriting rule comes from a ruleset's `NatFinder`:
 * the nftables ruleset's (iptables-nft included), and the legacy iptables nat table's
 * (xt_legacy.ts), which nft does not show; the first rule that rewrites in either is named.
 *
 * @module
 */
import { type CheckResult, fail, pass, warn } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import { judge, type NatRef, type Packet, type Ruleset } from "../nft_eval.ts";
import { echoOf } from "../nft_icmp.ts";
import { type Hop, nsExec, pathHops } from "../path.ts";
import { rulesetOf } from "../ruleset.ts";
import { isExternal } from "./_netfilter_egress.ts";
import { encapPacket } from "./packets.ts";
import { dropFix } from "./_verdict.ts";
import { judgeLegacyNat } from "../xt_legacy.ts";
import { legacyFix, legacyTableNames, legacyTables } from "./_netfilter_legacy.ts";

/** A rule that rewrites a packet, in the words of the ruleset that holds it. */
export interface Rewrite {
  /** nft's word for the rewrite: "dnat", "snat", "masquerade", "redirect". */
  statement: string;
  /** A rule before it could not be judged: the packet may never get there. */
  uncertain: boolean;
  /** The rule, for the evidence ("ip nat PREROUTING handle 4: ..."). */
  rule: string;
  /** The command that removes it. */
  fix: string;
  /** Where it lives when not in the nft ruleset, for the summary. */
  where?: string;
  /** The rules not judged before it, when known. */
  notJudged?: string[];
}

/** The first rewrite of a packet by one of a node's rulesets. */
export type NatFinder = (p: Packet) => Rewrite | undefined;

/** "family table chain handle N: rule" for the evidence. */
function natRuleText(n: NatRef): string {
  return `${n.family} ${n.table} ${n.chain}${
    n.handle !== undefined ? ` handle ${n.handle}` : ""
  }: ${n.text}`;
}

/** The fix for a rewriting rule: delete it (by handle), else accept the flow before it. */
function natFix(node: NodeView, n: NatRef, p: Packet): string {
  return n.handle !== undefined
    ? `${
      nsExec(node)
    }nft delete rule ${n.family} ${n.table} ${n.chain} handle ${n.handle}  # after checking why it is there`
    : dropFix(nsExec(node), n, p);
}

/** The rewrites of `node`'s nftables ruleset (iptables-nft's tables included). */
export function nftFinder(node: NodeView, rs: Ruleset): NatFinder {
  return (p) => {
    const n = judge(rs, p).nat;
    return n &&
      {
        statement: n.statement,
        uncertain: n.uncertain,
        rule: natRuleText(n),
        fix: natFix(node, n, p),
      };
  };
}

/**
 * The rewrites of `node`'s legacy nat table (x_tables: `iptables-legacy-save`, which nft does
 * not show), when one is loaded in its namespace and can be read (else netfilter.legacy says so).
 */
export async function legacyFinder(d: Diagnosis, node: NodeView): Promise<NatFinder | undefined> {
  if (!legacyTableNames(node.kernel).includes("nat")) return undefined;
  const t = await legacyTables(d, node.kernel?.netns);
  if (!t) return undefined;
  const exec = nsExec(node);
  return (p) => {
    const n = judgeLegacyNat(t, p);
    return n && {
      statement: n.statement,
      uncertain: n.uncertain,
      rule: `iptables-legacy nat ${n.chain} rule ${n.index}: -A ${n.chain} ${n.rule}`,
      fix: legacyFix(exec, n),
      where: "legacy iptables, which nft does not show",
      ...(n.notJudged ? { notJudged: n.notJudged } : {}),
    };
  };
}

/**
 * The rewrite of `p` that `ok` accepts by the first of `finders` (in order) that makes one,
 * preferring a certain one.
 */
function firstRewrite(
  finders: NatFinder[],
  p: Packet,
  ok: (r: Rewrite) => boolean,
): Rewrite | undefined {
  const found = finders.map((f) => f(p)).filter((r): r is Rewrite => r !== undefined && ok(r));
  return found.find((r) => !r.uncertain) ?? found[0];
}

const isDnat = (r: Rewrite) => r.statement === "dnat" || r.statement === "redirect";
const isSnat = (r: Rewrite) => r.statement === "masquerade" || r.statement === "snat";

/** The evidence of a rewrite: the packet, the rule, the rules not judged before it. */
function rewriteEvidence(packet: string, r: Rewrite): Record<string, unknown> {
  return { packet, rewrittenBy: r.rule, ...(r.notJudged ? { notJudged: r.notJudged } : {}) };
}

/** A DNAT of the flow's destination in prerouting: the packets go elsewhere. */
function dnatCheck(node: NodeView, h: Hop, r: Rewrite): CheckResult {
  return (r.uncertain ? warn : fail)(
    "netfilter.nat",
    node.name,
    `${node.name} ${
      r.uncertain ? "may rewrite (a rule before it cannot be judged)" : "rewrites"
    } the flow's destination ${h.dst} (${r.statement}${
      r.where ? `; ${r.where}` : ""
    }): the packets go elsewhere`,
    {
      evidence: rewriteEvidence(`prerouting icmp ${h.src} -> ${h.dst} iif ${h.iif}`, r),
      fix: r.fix,
    },
  );
}

/** A masquerade or SNAT of pod-to-pod traffic in postrouting: the pod is reached, as a node. */
function snatCheck(node: NodeView, h: Hop, r: Rewrite, p: Packet): CheckResult {
  return warn(
    "netfilter.nat",
    node.name,
    `${node.name} ${r.statement === "masquerade" ? "masquerades" : "SNATs"}${
      r.where ? ` (${r.where})` : ""
    } the flow from pod ${h.src}: ${h.dst} sees a node's address, not the pod's (NetworkPolicies on pod addresses will not match)`,
    {
      evidence: rewriteEvidence(
        `postrouting icmp ${h.src} -> ${h.dst}${p.oifname ? ` oif ${p.oifname}` : ""}`,
        r,
      ),
      fix:
        `${r.fix}; pod-to-pod traffic should keep its addresses (return before the masquerade for the cluster network)`,
    },
  );
}

/**
 * A DNAT or REDIRECT of the tunnel's own packets (the ones the node sends to the peer, output;
 * the ones it receives, prerouting): they go to another address or port, and the peer's (or
 * this node's) tunnel device never sees them.
 */
export function encapNat(
  node: NodeView,
  peer: NodeView,
  finders: NatFinder[],
): CheckResult | undefined {
  for (const hook of ["output", "input"] as const) {
    const p = encapPacket(node, peer, hook);
    const r = p ? firstRewrite(finders, p, isDnat) : undefined;
    if (!p || !r) continue;
    const what = `${p.l4proto}${p.dport ? ` ${p.dport}` : ""} ${p.saddr} -> ${p.daddr}`;
    return (r.uncertain ? warn : fail)(
      "netfilter.nat",
      node.name,
      `${node.name} ${r.uncertain ? "may rewrite" : "rewrites"} the ${node.facts.backend} packets ${
        hook === "output" ? "it sends" : "it receives"
      } (${what}, ${r.statement}${r.where ? `; ${r.where}` : ""}): the tunnel ${
        hook === "output" ? "on " + peer.name : "here"
      } never sees them`,
      { evidence: rewriteEvidence(`${hook} ${what}`, r), fix: r.fix },
    );
  }
  return undefined;
}

/** netfilter.nat on `node` for the pair, with the rewrites `finders` see. */
function nodeNatCheck(d: Diagnosis, pair: Pair, node: NodeView, finders: NatFinder[]): CheckResult {
  const hops = pathHops(d, pair).filter((h) => h.node === node && h.direction === "forward");
  let found: CheckResult | undefined;
  for (const h of hops) {
    // The connection's first packet: the echo request (only it crosses the nat table).
    const icmp = { saddr: h.src, daddr: h.dst, l4proto: "icmp" as const, icmp: echoOf(false) };
    const pre: Packet = { ...icmp, hook: "prerouting", iifname: h.iif };
    const dnat = firstRewrite(finders, pre, isDnat);
    if (dnat) return dnatCheck(node, h, dnat);
    // To the outside a masquerade is wanted (netfilter.masq).
    if (isExternal(d, pair.to.ip, node.facts.network)) continue;
    const oif = h.answer?.ok ? h.answer.route.devName : undefined;
    const post: Packet = { ...icmp, hook: "postrouting", ...(oif ? { oifname: oif } : {}) };
    // A masquerade behind a rule that could not be judged (kube-proxy's mark-based RETURN before
    // its MASQUERADE) is most likely never reached by pod traffic: not reported.
    const snat = firstRewrite(finders, post, (r) => isSnat(r) && !r.uncertain);
    if (snat) found ??= snatCheck(node, h, snat, post);
  }
  const peer = pair.nodes.find((n) => n !== node);
  found ??= peer ? encapNat(node, peer, finders) : undefined;
  return found ??
    pass("netfilter.nat", node.name, `${node.name} rewrites neither address of the flow`, {
      evidence: { hops: hops.length },
    });
}

/** The rewrites of `node`'s rulesets that can be read: nft's, then legacy iptables'. */
export async function natFinders(d: Diagnosis, node: NodeView): Promise<NatFinder[]> {
  const rs = await rulesetOf(d, node); // when not ok, netfilter.forward says why
  const legacy = await legacyFinder(d, node);
  return [...rs.ok ? [nftFinder(node, rs.ruleset)] : [], ...legacy ? [legacy] : []];
}

/** netfilter.nat for a pair: one check per node whose rulesets can be read. */
export async function natChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const node of pair.nodes) {
    const finders = await natFinders(d, node);
    if (finders.length) out.push(nodeNatCheck(d, pair, node, finders));
  }
  return out;
}
