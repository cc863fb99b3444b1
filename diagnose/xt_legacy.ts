/**
 * A static verdict of one packet through legacy iptables (x_tables: `iptables-legacy-save`), the
 * tables `nft list ruleset` cannot see. Docker and old kube-proxies still load them: a legacy
 * `FORWARD` policy DROP drops every pod packet a node forwards while the nftables ruleset accepts
 * it. Judged: addresses (`-s`, `-d`, negated too), devices (`-i`, `-o`, `+` wildcards), protocol,
 * source and destination ports (tcp, udp, multiport: a port not known, such as VXLAN's source
 * port, leaves the rule not judged), conntrack state (`-m conntrack --ctstate`,
 * `-m state --state`), ICMP types (`-m icmp`) and address ranges (`-m iprange`, xt_match.ts) and
 * comments; jumps to user chains, RETURN, goto. A rule with any other
 * match is not judged (listed, and taken as not matching). The nat table's rewrites (DNAT, SNAT,
 * MASQUERADE, REDIRECT, NETMAP) are judged the same way: the first rule that rewrites a packet,
 * uncertain when a rule not judged before it could have kept the packet from it. Pure.
 *
 * @module
 */
import type { Packet } from "./nft_eval.ts";
import { within } from "./route_diff.ts";
import { optionHolds, ruleWords, XT_MATCHES } from "./xt_match.ts";
import { PORT_OPTIONS, portOptionHolds } from "./nft_ports.ts";

/** `iptables-legacy-save` parsed: rules by "table chain", built-in chains' policies. */
export interface LegacyTables {
  rules: Map<string, string[]>;
  policies: Map<string, string>;
}

/** Where the packet was dropped: a rule (its `-A` arguments) or a built-in chain's policy. */
export interface LegacyDrop {
  table: string;
  chain: string;
  /** The rule's arguments after `-A CHAIN`, as saved (undefined: the chain's policy). */
  rule?: string;
}

/** The verdict: accept or drop, by what, and the rules not judged ("table chain: args"). */
export interface LegacyVerdict {
  verdict: "accept" | "drop";
  by?: LegacyDrop;
  unknown: string[];
}

/** Parses `iptables-legacy-save` (iptables-save format) text. */
export function parseLegacySave(text: string): LegacyTables {
  const out: LegacyTables = { rules: new Map(), policies: new Map() };
  let table = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1).trim();
    const pol = /^:(\S+) (\S+)/.exec(line);
    if (pol && table && pol[2] !== "-") out.policies.set(`${table} ${pol[1]}`, pol[2]!);
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (!m || !table) continue;
    const k = `${table} ${m[1]}`;
    out.rules.set(k, [...out.rules.get(k) ?? [], m[2]!]);
  }
  return out;
}

const PROTOS: Readonly<Record<string, string>> = {
  "1": "icmp",
  "6": "tcp",
  "17": "udp",
  "4": "ipip",
  ipencap: "ipip",
};

function devMatches(pattern: string, dev: string | undefined): boolean {
  if (dev === undefined) return false;
  return pattern.endsWith("+") ? dev.startsWith(pattern.slice(0, -1)) : dev === pattern;
}

/** A parsed rule: whether it matches `p` (undefined: cannot judge), its target and argument. */
function ruleOf(words: string[], p: Packet): { hit?: boolean; target?: string; goto: boolean } {
  let hit: boolean | undefined = true, neg = false, target: string | undefined, goto = false;
  let mod: string | undefined; // the last -m icmp / -m iprange, whose options follow
  const state = p.ct ?? "new";
  // Every match must hold: one that fails decides, one not known (undefined) leaves it open.
  const test = (ok: boolean | undefined) => {
    const r = ok === undefined ? undefined : neg ? !ok : ok;
    hit = hit === false || r === false
      ? false
      : hit === undefined || r === undefined
      ? undefined
      : true;
    neg = false;
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!, v = words[i + 1] ?? "";
    if (w === "!") {
      neg = true;
      continue;
    }
    if (w === "-j" || w === "-g") {
      target = v;
      goto = w === "-g";
      break; // the target's own options follow
    }
    if (w === "-m" && ["comment", "tcp", "udp", "conntrack", "state", "multiport"].includes(v)) {
      mod = undefined;
      i++;
      continue;
    }
    if (w === "-m" && XT_MATCHES.has(v)) {
      mod = v;
      i++;
      continue;
    }
    i++; // every judged option takes one value
    const xt = mod && w.startsWith("--") ? optionHolds(mod, w, v, p) : undefined;
    if (xt !== undefined) test(xt);
    else if (w === "-s") test(within(`${p.saddr}/32`, v.includes("/") ? v : `${v}/32`));
    else if (w === "-d") test(within(`${p.daddr}/32`, v.includes("/") ? v : `${v}/32`));
    else if (w === "-i") test(devMatches(v, p.iifname));
    else if (w === "-o") test(devMatches(v, p.oifname));
    else if (w === "-p") test(v === "all" || (PROTOS[v] ?? v) === p.l4proto);
    else if (PORT_OPTIONS.has(w)) test(portOptionHolds(w, v, p));
    else if (w === "--ctstate" || w === "--state") {
      test(v.split(",").map((s) => s.toLowerCase()).includes(state));
    } else if (w === "--comment") neg = false;
    else hit = undefined; // a match not judged here
  }
  return { ...(hit === undefined ? {} : { hit }), ...(target ? { target } : {}), goto };
}

type Walk = "accept" | "drop" | "return";

function walk(
  t: LegacyTables,
  table: string,
  chain: string,
  p: Packet,
  v: LegacyVerdict,
  depth: number,
): Walk {
  if (depth > 16) return "return";
  for (const args of t.rules.get(`${table} ${chain}`) ?? []) {
    const r = ruleOf(ruleWords(args), p);
    if (r.hit === undefined) {
      if (r.target === "DROP" || r.target === "REJECT") {
        v.unknown.push(`${table} ${chain}: ${args}`);
      }
      continue;
    }
    if (!r.hit || !r.target) continue;
    if (r.target === "ACCEPT") return "accept";
    if (r.target === "DROP" || r.target === "REJECT") {
      v.by = { table, chain, rule: args };
      return "drop";
    }
    if (r.target === "RETURN") return "return";
    // A user chain (a target extension such as LOG or MARK goes on to the next rule).
    if (t.rules.has(`${table} ${r.target}`)) {
      const sub = walk(t, table, r.target, p, v, depth + 1);
      if (sub !== "return") return sub;
      if (r.goto) return "return";
    }
  }
  return "return";
}

/** The built-in chains a packet at `hook` crosses, in order ("table CHAIN"). */
const HOOK_CHAINS: Readonly<Record<string, readonly string[]>> = {
  forward: ["raw PREROUTING", "mangle PREROUTING", "mangle FORWARD", "filter FORWARD"],
  input: ["raw PREROUTING", "mangle PREROUTING", "mangle INPUT", "filter INPUT"],
  output: ["raw OUTPUT", "mangle OUTPUT", "filter OUTPUT"],
};

/** The verdict of legacy tables `t` for packet `p` (hooks forward, input, output). */
export function judgeLegacy(t: LegacyTables, p: Packet): LegacyVerdict {
  const v: LegacyVerdict = { verdict: "accept", unknown: [] };
  for (const tc of HOOK_CHAINS[p.hook] ?? []) {
    const [table, chain] = tc.split(" ") as [string, string];
    // Before routing (PREROUTING) the output device is not known yet.
    const { oifname: _out, ...early } = p;
    const q: Packet = chain === "PREROUTING" ? early : p;
    const r = walk(t, table, chain, q, v, 0);
    if (r === "drop") return { ...v, verdict: "drop" };
    if (r === "return" && t.policies.get(tc) === "DROP") {
      return { ...v, verdict: "drop", by: { table, chain } };
    }
  }
  return v;
}

/** A legacy nat rule that rewrites the packet (`rule` its `-A` arguments, as saved). */
export interface LegacyNat extends LegacyDrop {
  rule: string;
  /** Its position in its chain, from 1 (`iptables-legacy -t nat -D CHAIN N`). */
  index: number;
  /** nft's word for the rewrite: "dnat", "snat", "masquerade", "redirect". */
  statement: string;
  /** A rule before it that could not be judged could have kept the packet from it. */
  uncertain: boolean;
  /** Those rules ("nat CHAIN: args"), when uncertain. */
  notJudged?: string[];
}

/** The nat chains a packet at `hook` crosses, in order. */
const NAT_CHAINS: Readonly<Record<string, readonly string[]>> = {
  prerouting: ["PREROUTING"],
  input: ["PREROUTING", "INPUT"],
  forward: ["PREROUTING", "POSTROUTING"],
  output: ["OUTPUT", "POSTROUTING"],
  postrouting: ["POSTROUTING"],
};

const NAT_TARGETS: Readonly<Record<string, string>> = {
  DNAT: "dnat",
  SNAT: "snat",
  MASQUERADE: "masquerade",
  REDIRECT: "redirect",
};

/** What target `target` rewrites from base chain `base` (NETMAP maps either address). */
function natStatement(target: string, base: string): string | undefined {
  if (target === "NETMAP") return base === "PREROUTING" || base === "OUTPUT" ? "dnat" : "snat";
  return NAT_TARGETS[target];
}

/** One nat hook's walk: the packet, its base chain, the rules not judged that end it, the rewrite. */
interface NatWalk {
  t: LegacyTables;
  p: Packet;
  base: string;
  /** Rules not judged that could have ended this hook's walk (an ACCEPT, a NAT target). */
  hookDoubts: string[];
  nat?: LegacyNat;
}

/**
 * How far a rule that could not be judged could change the walk had it matched: "hook" (it
 * ends the hook's walk: ACCEPT, a rewrite, a user chain that may), "chain" (it ends the chain
 * it is in: RETURN), else nothing (LOG, MARK, a user chain that passes the packet on).
 */
function mayEnd(w: NatWalk, target: string, depth: number): "hook" | "chain" | undefined {
  if (natStatement(target, w.base) || target === "ACCEPT") return "hook";
  if (target === "RETURN") return "chain";
  if (!w.t.rules.has(`nat ${target}`)) return undefined;
  if (depth >= 16) return "hook";
  const sub: NatWalk = { t: w.t, p: w.p, base: w.base, hookDoubts: [] };
  return natChain(sub, target, depth + 1, []) !== "return" || sub.hookDoubts.length
    ? "hook"
    : undefined;
}

/**
 * Walks nat chain `chain`; `doubts`: the rules not judged that could have ended it before here
 * (a RETURN in it or in a chain that jumped to it).
 */
function natChain(w: NatWalk, chain: string, depth: number, doubts: string[]): Walk | "nat" {
  if (depth > 16) return "return";
  const local = [...doubts];
  for (const [i, args] of (w.t.rules.get(`nat ${chain}`) ?? []).entries()) {
    const r = ruleOf(ruleWords(args), w.p);
    if (!r.target) continue;
    if (r.hit === undefined) {
      const may = mayEnd(w, r.target, depth);
      if (may === "hook") w.hookDoubts.push(`nat ${chain}: ${args}`);
      else if (may === "chain" || r.goto) local.push(`nat ${chain}: ${args}`);
      continue;
    }
    if (!r.hit) continue;
    const statement = natStatement(r.target, w.base);
    if (statement) {
      const notJudged = [...w.hookDoubts, ...local];
      w.nat = {
        table: "nat",
        chain,
        rule: args,
        index: i + 1,
        statement,
        uncertain: notJudged.length > 0,
        ...(notJudged.length ? { notJudged } : {}),
      };
      return "nat";
    }
    if (r.target === "ACCEPT" || r.target === "RETURN") {
      return r.target === "ACCEPT" ? "accept" : "return";
    }
    if (w.t.rules.has(`nat ${r.target}`)) {
      const sub = natChain(w, r.target, depth + 1, local);
      if (sub !== "return") return sub;
      if (r.goto) return "return";
    }
  }
  return "return";
}

/**
 * The first legacy nat rule that rewrites packet `p` (hooks prerouting, input, forward, output,
 * postrouting: PREROUTING, INPUT, OUTPUT and POSTROUTING, user chains, jumps, goto, RETURN),
 * as for nft_eval.ts's `nat`. Only a connection's first packet crosses the nat table: none for
 * an established one.
 */
export function judgeLegacyNat(t: LegacyTables, p: Packet): LegacyNat | undefined {
  if (p.ct === "established") return undefined;
  for (const base of NAT_CHAINS[p.hook] ?? []) {
    // Before routing (PREROUTING) the output device is not known yet.
    const { oifname: _out, ...early } = p;
    const w: NatWalk = { t, p: base === "PREROUTING" ? early : p, base, hookDoubts: [] };
    if (natChain(w, base, 0, []) === "nat") return w.nat;
  }
  return undefined;
}
