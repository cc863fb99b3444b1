/**
 * A static ruleset verdict as a check: whose ruleset it is, the evidence (packet, chains, the
 * dropping rule, rules not judged) and the fix (delete the rule, or accept the flow before a
 * dropping policy; iptables' or ebtables' words for the chains they made).
 *
 * @module
 */
import { type CheckResult, fail, pass, warn } from "../check.ts";
import type { NodeView } from "../context.ts";
import type { Packet, RuleRef } from "../nft_eval.ts";
import { icmpValue } from "../nft_icmp.ts";
import { portText } from "../nft_ports.ts";
import type { ReplyVerdict } from "../reply_ct.ts";
import { nsExec } from "../path.ts";

/** Whose ruleset a verdict is about: the check's node label, who it is in words, its namespace. */
export interface RulesetOwner {
  /** The check's node label ("n1"). */
  label: string;
  /** Whose ruleset, in the summary ("n1", "pod n1-p1"). */
  who: string;
  /** The command prefix that runs inside its namespace ("ip netns exec lab-n1 "). */
  exec: string;
}

/** A node as the owner of its ruleset. */
export function nodeOwner(node: NodeView): RulesetOwner {
  return { label: node.name, who: node.name, exec: nsExec(node) };
}

/**
 * The fix for a drop: delete the rule (or the named map's element that dropped it), or accept the
 * flow before a dropping policy.
 */
export function dropFix(exec: string, by: RuleRef, p: Packet): string {
  const nft = `${exec}nft`;
  // A named verdict map's element dropped it: the rule only looks the packet up (kube-proxy's,
  // firewalld's dispatch), the element is what to remove.
  if (by.element) {
    return `${nft} delete element ${by.family} ${by.table} ${by.element}  # after checking why it is there (looked up by ${
      refText(by)
    })`;
  }
  // A chain iptables-nft made (ip/ip6 filter FORWARD, ...): its users fix it with iptables.
  const xt = (by.family === "ip" || by.family === "ip6") && XT_TABLES.has(by.table) &&
    XT_CHAINS.has(by.chain);
  const ipt = `${exec}${by.family === "ip6" ? "ip6tables" : "iptables"}${
    by.table === "filter" ? "" : ` -t ${by.table}`
  }`;
  // One arptables-nft made (arp filter INPUT, OUTPUT): arptables.
  if (
    by.family === "arp" && by.table === "filter" && (by.chain === "INPUT" || by.chain === "OUTPUT")
  ) {
    const arpt = `${exec}arptables`;
    if (by.handle !== undefined) {
      return `${nft} delete rule arp filter ${by.chain} handle ${by.handle}  # after checking why it is there (arptables: ${arpt} -L ${by.chain} --line-numbers, then ${arpt} -D ${by.chain} N)`;
    }
    const dev = p.iifname ? ` -i ${p.iifname}` : p.oifname ? ` -o ${p.oifname}` : "";
    return `${arpt} -I ${by.chain}${dev} -s ${p.saddr} -d ${p.daddr} -j ACCEPT  # the chain's policy is drop`;
  }
  // One ebtables-nft made (bridge filter FORWARD, ...): ebtables.
  const eb = by.family === "bridge" && EB_TABLES.has(by.table) && EB_CHAINS.has(by.chain);
  const ebt = `${exec}ebtables${by.table === "filter" ? "" : ` -t ${by.table}`}`;
  if (by.handle !== undefined) {
    return `${nft} delete rule ${by.family} ${by.table} ${by.chain} handle ${by.handle}  # after checking why it is there${
      xt
        ? ` (iptables: ${ipt} -L ${by.chain} --line-numbers, then ${ipt} -D ${by.chain} N)`
        : eb
        ? ` (ebtables: ${ebt} -L ${by.chain} --Ln, then ${ebt} -D ${by.chain} N)`
        : ""
    }`;
  }
  if (eb) {
    return `${ebt} -I ${by.chain} -p IPv4 --ip-src ${p.saddr} --ip-dst ${p.daddr} -j ACCEPT; ` +
      `${ebt} -I ${by.chain} -p ARP -j ACCEPT  # the chain's policy is drop (ARP needs it too)`;
  }
  if (xt) {
    const l4 = p.l4proto === "udp" || p.l4proto === "tcp"
      ? ` -p ${p.l4proto}${portWords(p, "--")}`
      : p.l4proto === "ipip"
      ? " -p 4"
      : "";
    return `${ipt} -I ${by.chain} -s ${p.saddr} -d ${p.daddr}${l4} -j ACCEPT  # the chain's policy is drop`;
  }
  return `${nft} insert rule ${by.family} ${by.table} ${by.chain} ip saddr ${p.saddr} ip daddr ${p.daddr} accept`;
}

/** The tables and base chains ebtables-nft creates. */
const EB_TABLES = new Set(["filter", "nat", "broute"]);
const EB_CHAINS = new Set(["INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING", "BROUTING"]);

/** The tables and base chains iptables-nft creates. */
const XT_TABLES = new Set(["filter", "raw", "mangle", "security", "nat"]);
const XT_CHAINS = new Set(["INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"]);

/** "family table chain handle N" of a rule. */
function refText(r: RuleRef): string {
  return `${r.family} ${r.table} ${r.chain}${r.handle !== undefined ? ` handle ${r.handle}` : ""}`;
}

/**
 * The packet's known ports as options (`prefix` "": " sport 8285 dport 8285"; "--": iptables'
 * " --sport 8285 --dport 8285", a range as 32768:60999).
 */
function portWords(p: Packet, prefix: string): string {
  const words = (["sport", "dport"] as const).flatMap((k) => {
    const v = p[k];
    if (v === undefined) return [];
    const t = portText(v);
    return [` ${prefix}${k} ${prefix ? t.replace("-", ":") : t}`];
  });
  return words.join("");
}

/** The packet's protocol in words, with its ICMP type when known ("icmp echo-request"). */
function protoText(p: Packet): string {
  const type = p.l4proto === "icmp" && p.icmp ? icmpValue("type", p.icmp) : undefined;
  return type === undefined ? p.l4proto : `icmp ${type}`;
}

/**
 * The failure for a drop that a notrack rule is behind: the packet's own (ct state matches see it
 * untracked), or its request's (the reply finds no conntrack entry: invalid, reply_ct.ts);
 * undefined for another drop.
 */
function notrackFail(
  id: string,
  owner: RulesetOwner,
  what: string,
  p: Packet,
  v: ReplyVerdict,
  by: RuleRef,
  evidence: Record<string, unknown>,
): CheckResult | undefined {
  const u = v.untrackedBy, r = v.requestUntrackedBy;
  if (!u && !r) return undefined;
  // The notrack rule is the cause when conntrack is what the dropping chain relies on.
  const why = u
    ? `${refText(u)} takes it out of conntrack (notrack), so ct state matches see it untracked`
    : `${
      refText(r!)
    } takes its request out of conntrack (notrack), so it finds no conntrack entry and ct state matches see it ${p.ct}`;
  if (u) evidence.untrackedBy = `${refText(u)}: ${u.text}`;
  else evidence.requestUntrackedBy = `${refText(r!)}: ${r!.text}`;
  return fail(id, owner.label, `${owner.who}'s ruleset drops ${what}: ${why}`, {
    evidence,
    fix: `${owner.exec}nft delete rule ${refText((u ?? r)!)}  # the notrack rule; or else ${
      dropFix(owner.exec, by, p)
    }`,
  });
}

/**
 * The check for one judged packet (a reply judged by reply_ct.ts's judgeReply() may name the
 * notrack rule its request met).
 */
export function verdictCheck(
  id: string,
  owner: RulesetOwner,
  what: string,
  p: Packet,
  v: ReplyVerdict,
): CheckResult {
  const evidence: Record<string, unknown> = {
    packet: `${p.hook} ${
      p.arp || p.layer === "arp" ? "arp" : protoText(p)
    } ${p.saddr} -> ${p.daddr}${portWords(p, "")}${p.iifname ? ` iif ${p.iifname}` : ""}${
      p.oifname ? ` oif ${p.oifname}` : ""
    }`,
    chains: v.chains.length ? v.chains : "no base chain on this hook",
  };
  if (v.unknown.length) {
    evidence.notJudged = v.unknown.map((u) =>
      `${u.family} ${u.table} ${u.chain} handle ${u.handle}: ${u.text}`
    );
  }
  if (v.verdict === "drop" && v.by) {
    evidence.droppedBy = `${refText(v.by)}: ${v.by.text}`;
    const n = notrackFail(id, owner, what, p, v, v.by, evidence);
    if (n) return n;
    // A netdev fwd steals the packet to another device, as a tc mirred redirect does.
    if (v.redirectedTo) evidence.redirectedTo = v.redirectedTo;
    const does = v.redirectedTo
      ? `redirects ${what} to ${v.redirectedTo} (fwd): it leaves by ${v.redirectedTo} and does not go on`
      : `drops ${what}`;
    return fail(id, owner.label, `${owner.who}'s ruleset ${does}`, {
      evidence,
      fix: dropFix(owner.exec, v.by, p),
    });
  }
  // A bridge rule that rewrites the frame's destination MAC sends it to another host.
  if (
    p.layer === "bridge" && !p.arp && v.nat &&
    (v.nat.statement === "dnat" || v.nat.statement === "ether daddr set")
  ) {
    const n = v.nat;
    evidence.rewrittenBy = `${refText(n)}: ${n.text}`;
    return fail(
      id,
      owner.label,
      `${owner.who}'s bridge rule rewrites the destination MAC of ${what}: the frame goes to another host, not the pod`,
      {
        evidence,
        fix: dropFix(owner.exec, n, p),
      },
    );
  }
  // Only a rule that could drop makes an accept uncertain (kube-proxy's mark-based ACCEPT and
  // RETURN rules cannot).
  if (v.unknown.some((u) => u.mayDrop)) {
    return warn(
      id,
      owner.label,
      `${owner.who}'s ruleset accepts ${what} unless a rule it cannot judge matches`,
      {
        evidence,
        fix: `${owner.exec}nft -a list ruleset  # check the rules listed in notJudged`,
      },
    );
  }
  return pass(id, owner.label, `${owner.who}'s ruleset accepts ${what}`, { evidence });
}
