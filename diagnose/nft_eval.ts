/**
 * A static verdict of one packet through an nftables ruleset (`nft -j list ruleset`, which
 * includes the tables iptables-nft makes; their xt matches conntrack/state, icmp and iprange are
 * read from iptables-save's words: xt_match.ts): the base chains of the packet's hook in priority
 * order, rule by rule, following jump/goto/return (also through verdict maps: `vmap`), until a
 * drop or reject (final), or every base chain accepted. Set and map lookups judge concatenated
 * keys (`ip saddr . ip daddr`) too. Pure. Matches it cannot evaluate (an iptables extension,
 * fib, socket, ...) are "unknown": the rule is taken as not matching and is listed, so a verdict
 * that depends on one says so instead of guessing; so is a rule with a statement that holds only
 * under some traffic (limit, quota) or may steal or rewrite the packet (tproxy, `ip daddr set`:
 * nft_statements.ts).
 *
 * @module
 */
import { inCidr, ipv4Number } from "./context.ts";
import { statementEffect, xtTargetEffect } from "./nft_statements.ts";
import { type Icmp, icmpValue } from "./nft_icmp.ts";
import { isPortRange, type Port, portListHolds, type PortRange, rangeMember } from "./nft_ports.ts";
import { XT_MATCHES, xtMatch } from "./xt_match.ts";

/** The packet to judge. */
export interface Packet {
  /** The netfilter hook; "ingress"/"egress" are the netdev family's, on one device. */
  hook: "prerouting" | "input" | "forward" | "output" | "postrouting" | "ingress" | "egress";
  saddr: string;
  daddr: string;
  /** "icmp", "udp", "tcp", "ipip" (IP protocol 4). */
  l4proto: "icmp" | "udp" | "tcp" | "ipip";
  /**
   * A UDP or TCP packet's destination port: a number, a range when only that is known (a
   * client's ephemeral port, nft_ports.ts); undefined: not known (port matches are not judged).
   */
  dport?: Port;
  /**
   * Its source port, the same way: known for the udp backend (its socket is bound to 8285) and
   * a BGP listener's replies (179), a range for a client's, not known for VXLAN (a per-flow hash).
   */
  sport?: Port;
  /**
   * An ICMP packet's type and code, when known: the flow's ping is an echo request one way and
   * a reply the other (nft_icmp.ts's echoOf()). Without it `icmp type` matches are not judged.
   */
  icmp?: Icmp;
  iifname?: string;
  oifname?: string;
  /**
   * Its conntrack state for `ct state` matches (default "new": the flow diagnosed is a new one);
   * a `notrack` before conntrack (prerouting or output, priority below -200) makes it "untracked".
   * "invalid": conntrack has no entry for it and it cannot start one (the reply to a request a
   * notrack took out of conntrack: reply_ct.ts).
   */
  ct?: "new" | "established" | "untracked" | "invalid";
  /**
   * Which tables see it: "ip" (the default: ip and inet tables, the routed packet), "bridge"
   * (bridge tables, ebtables-nft's: the frame crossing a bridge, `iifname`/`oifname` its ports)
   * or "arp" (arp tables, arptables-nft's: an ARP packet in or out of the host's stack, `saddr`
   * its sender and `daddr` its target address; `arp` is implied), or "netdev" (netdev tables:
   * the packet at hook "ingress" of device `iifname` or "egress" of `oifname`).
   */
  layer?: "ip" | "bridge" | "arp" | "netdev";
  /** The bridge the frame crosses (layer "bridge"), for `meta ibrname` / `obrname`. */
  bridge?: string;
  /**
   * An ARP frame (layer "bridge") between the hosts `saddr` and `daddr` instead of an IPv4 one:
   * IP, port and conntrack matches do not match it; `ether type arp` does.
   */
  arp?: boolean;
}

/** Where a rule lives, and what it says in nft's words. */
export interface RuleRef {
  family: string;
  table: string;
  chain: string;
  handle?: number;
  /** The rule in nft syntax (approximate), or "policy drop". */
  text: string;
  /**
   * For a rule that could not be judged: whether it could lead to a drop had it matched (a drop,
   * reject, jump or goto in it). One that can only accept, return or mark cannot turn an
   * accepted packet into a dropped one.
   */
  mayDrop?: boolean;
  /**
   * When the verdict came from an element of a named verdict map (`ip saddr vmap @m`): the map
   * and the element's key in nft's words (`m { 10.244.1.2 }`), for `nft delete element`.
   */
  element?: string;
}

/** The outcome. */
export interface Verdict {
  verdict: "accept" | "drop";
  /** The rule (or chain policy) that dropped it, when dropped. */
  by?: RuleRef;
  /**
   * The device a netdev `fwd` statement (`by`) sent the packet out of: it is stolen from its path
   * and goes no further here (verdict "drop"), like a tc mirred redirect.
   */
  redirectedTo?: string;
  /** Base chains the packet went through, "family table chain". */
  chains: string[];
  /** Rules with matches this evaluator cannot judge (taken as not matching). */
  unknown: RuleRef[];
  /**
   * The first rule that rewrites the packet's addresses (masquerade, snat, dnat, redirect: nat
   * statements end their chain), with the statement's name; `uncertain` when a rule this
   * evaluator could not judge came before it (kube-proxy's mark-based RETURN before its
   * MASQUERADE: the packet may never get there).
   */
  nat?: NatRef;
  /**
   * The `notrack` rule (nft's, or iptables' `-j CT --notrack`) that took the packet out of
   * conntrack: `ct state` matches then see "untracked", not its real state.
   */
  untrackedBy?: RuleRef;
  /**
   * The first rule that sets the packet's firewall mark (`meta mark set`, iptables' `-j MARK`)
   * before the routing decision (prerouting, output): policy rules on fwmark see that mark
   * (`mark`: its value, when the rule sets a constant). `restored`: the rule copies the mark
   * conntrack holds for the connection (`meta mark set ct mark`, `-j CONNMARK --restore-mark`).
   */
  markedBy?: MarkRef;
}

/** A rule setting the packet's mark: its value when constant, or restored from conntrack. */
export type MarkRef = RuleRef & { mark?: number; restored?: boolean };

/** A rewriting rule and the statement that rewrites. */
export type NatRef = RuleRef & { statement: string; uncertain: boolean };

/** nft's address-rewriting statements (terminal, like accept). */
const NAT_STATEMENTS = ["masquerade", "snat", "dnat", "redirect"];
/**
 * Statements nft_eval.ts judges itself that cannot drop (a verdict map's verdicts, jumps and the
 * ones that can are looked at apart): the rest are nft_statements.ts's.
 */
const MODELLED = new Set([
  "match",
  "accept",
  "return",
  "continue",
  "jump",
  "goto",
  "vmap",
  "notrack",
  ...NAT_STATEMENTS,
]);
/** The same as iptables-nft's xt targets. */
const XT_NAT: Record<string, string> = {
  MASQUERADE: "masquerade",
  SNAT: "snat",
  DNAT: "dnat",
  REDIRECT: "redirect",
};

type Json = Record<string, unknown>;

interface Chain {
  family: string;
  table: string;
  name: string;
  /** "filter", "nat", "route". */
  type?: string;
  hook?: string;
  prio?: number;
  policy?: string;
  /** A netdev chain's devices (`device eth0`, `devices = { ... }`); undefined: not known. */
  devices?: string[];
  rules: {
    handle?: number;
    expr: Json[];
    /**
     * The rule as `iptables-save` prints it (iptables-nft tables), or `ebtables-save` (a bridge
     * table of ebtables-nft), when known.
     */
    iptables?: string;
  }[];
}

/** The ruleset's chains and named sets, indexed. */
export interface Ruleset {
  chains: Map<string, Chain>;
  sets: Map<string, unknown[]>;
  /** Named maps' elements, `[key, data]` pairs (a verdict map's data: its verdict). */
  maps: Map<string, unknown[]>;
  /**
   * The NFQUEUE queues a program is bound to (/proc/net/netfilter/nfnetlink_queue); undefined:
   * not read. A packet queued to an unbound queue is dropped (unless the rule says bypass).
   */
  boundQueues?: Set<number>;
}

const key = (family: string, table: string, name: string) => `${family} ${table} ${name}`;

/**
 * The devices of each netdev base chain ("table chain" → devices) from `nft list ruleset`'s
 * text: nft 1.0's JSON leaves them out.
 */
export function parseNetdevDevices(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let table = "";
  let chain = "";
  for (const line of text.split("\n")) {
    const t = /^table netdev (\S+) \{/.exec(line.trim());
    if (t) table = t[1]!;
    else if (/^table /.test(line.trim())) table = "";
    const c = /^chain (\S+) \{/.exec(line.trim());
    if (c) chain = c[1]!;
    const d = /hook (?:ingress|egress) (?:device "?([^";\s]+)"?|devices = \{ ([^}]*) \})/.exec(
      line,
    );
    if (d && table && chain) {
      out.set(
        `${table} ${chain}`,
        d[1] ? [d[1]] : d[2]!.split(",").map((x) => x.trim().replace(/"/g, "")),
      );
    }
  }
  return out;
}
/**
 * `iptables-save` output (iptables-nft) as "table chain" → the chain's rule lines in order. nft's
 * JSON names an xt match but not its arguments; the same rule in iptables' words has them.
 */
export function parseIptablesSave(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let table = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1).trim();
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (!m || !table) continue;
    const k = `${table} ${m[1]}`;
    const list = out.get(k) ?? [];
    list.push(m[2]!);
    out.set(k, list);
  }
  return out;
}

/**
 * Parses `nft -j list ruleset` output; `iptablesSave` (parseIptablesSave(), IPv4 iptables-nft
 * tables) gives the ip family's rules their iptables words when a chain's rule counts agree, and
 * `ebtablesSave` (the same parser over `ebtables-save`) the bridge family's their ebtables words,
 * `netdevDevices` (parseNetdevDevices()) the netdev chains their devices where the JSON has none.
 */
export function parseRuleset(
  text: string,
  iptablesSave?: Map<string, string[]>,
  ebtablesSave?: Map<string, string[]>,
  netdevDevices?: Map<string, string[]>,
): Ruleset {
  const v = JSON.parse(text) as { nftables?: Json[] };
  const rs: Ruleset = { chains: new Map(), sets: new Map(), maps: new Map() };
  for (const item of v.nftables ?? []) {
    const c = item.chain as Json | undefined;
    if (c) {
      const ch: Chain = {
        family: String(c.family),
        table: String(c.table),
        name: String(c.name),
        rules: [],
      };
      if (typeof c.hook === "string") ch.hook = c.hook;
      if (typeof c.type === "string") ch.type = c.type;
      if (typeof c.prio === "number") ch.prio = c.prio;
      if (typeof c.policy === "string") ch.policy = c.policy;
      const dev = c.dev ?? netdevDevices?.get(`${ch.table} ${ch.name}`);
      if (typeof dev === "string") ch.devices = [dev];
      else if (Array.isArray(dev)) ch.devices = dev.map(String);
      rs.chains.set(key(ch.family, ch.table, ch.name), ch);
    }
    const s = item.set as Json | undefined;
    if (s) {
      rs.sets.set(
        key(String(s.family), String(s.table), String(s.name)),
        (s.elem as unknown[]) ?? [],
      );
    }
    const m = item.map as Json | undefined;
    if (m) {
      rs.maps.set(
        key(String(m.family), String(m.table), String(m.name)),
        (m.elem as unknown[]) ?? [],
      );
    }
  }
  for (const item of v.nftables ?? []) {
    const r = item.rule as Json | undefined;
    if (!r) continue;
    const ch = rs.chains.get(key(String(r.family), String(r.table), String(r.chain)));
    ch?.rules.push({
      handle: typeof r.handle === "number" ? r.handle : undefined,
      expr: (r.expr as Json[]) ?? [],
    });
  }
  for (const ch of rs.chains.values()) {
    const save = ch.family === "ip"
      ? iptablesSave
      : ch.family === "bridge"
      ? ebtablesSave
      : undefined;
    const lines = save?.get(`${ch.table} ${ch.name}`);
    if (lines?.length !== ch.rules.length) continue; // not iptables' own chain, or changed between
    ch.rules.forEach((r, i) => r.iptables = lines[i]);
  }
  return rs;
}

type M = boolean | "unknown";

function glob(pattern: string, name: string | undefined): boolean {
  if (name === undefined) return false;
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

/** A part of a concatenation whose value this evaluator cannot tell: it may match any element. */
const NOT_KNOWN: unique symbol = Symbol("not known");
/**
 * A packet value for a match: one field's, or a concatenation's (`ip saddr . ip daddr`); a port
 * known only as a range (nft_ports.ts) matches an element it lies wholly inside.
 */
type Value = string | number | undefined | typeof NOT_KNOWN | PortRange;
type Key = Value | Value[];

/** true when one of `ms` is, else "unknown" when one is, else false (a set lookup). */
function anyOf(ms: M[]): M {
  return ms.includes(true) ? true : ms.includes("unknown") ? "unknown" : false;
}

/**
 * Does packet value `v` equal one element of nft's right-hand side? A set element this
 * evaluator cannot read makes a lookup that finds no other "unknown".
 */
function member(right: unknown, v: Key, sets: unknown[] | undefined): M {
  if (v === undefined) return false;
  if (v === NOT_KNOWN) return "unknown";
  if (Array.isArray(right)) return anyOf(right.map((r) => member(r, v, sets)));
  if (typeof right === "string" && right.startsWith("@")) {
    return sets ? anyOf(sets.map((r) => member(r, v, undefined))) : "unknown";
  }
  const o = right as Json;
  if (o?.set !== undefined) return member(o.set, v, sets);
  if (o?.elem) return member((o.elem as Json).val, v, sets);
  if (Array.isArray(v)) return tupleMember(o?.concat, v);
  if (isPortRange(v)) return rangeMember(right, v);
  if (typeof right === "string" || typeof right === "number") {
    if (typeof v === "string" && typeof right === "string") {
      if (right.includes("/")) {
        const n = ipv4Number(v);
        return n !== undefined && inCidr(n, right);
      }
      return glob(right, v);
    }
    return right === v;
  }
  if (o?.prefix) {
    const p = o.prefix as { addr: string; len: number };
    const n = typeof v === "string" ? ipv4Number(v) : undefined;
    return n !== undefined && inCidr(n, `${p.addr}/${p.len}`);
  }
  if (o?.range) {
    const [a, b] = o.range as [unknown, unknown];
    if (typeof v === "number") return v >= Number(a) && v <= Number(b);
    const n = ipv4Number(String(v)), lo = ipv4Number(String(a)), hi = ipv4Number(String(b));
    return n !== undefined && lo !== undefined && hi !== undefined && n >= lo && n <= hi;
  }
  return "unknown";
}

/**
 * A concatenation's values against one element (`{"concat": [...]}`): each part its own value,
 * a prefix or a range (interval sets).
 */
function tupleMember(parts: unknown, v: Value[]): M {
  if (!Array.isArray(parts) || parts.length !== v.length) return "unknown";
  return parts.reduce<M>((m, part, i) => {
    if (m === false) return m;
    const one = member(part, v[i], undefined);
    return one === false ? false : one === "unknown" ? "unknown" : m;
  }, true);
}

const PROTO_NUM: Record<Packet["l4proto"], number> = { icmp: 1, tcp: 6, udp: 17, ipip: 4 };

/** The packet's value for a match's left side; "unknown" when this evaluator cannot tell. */
function leftValue(
  left: Json,
  p: Packet,
): string | number | undefined | "unknown" | { proto: string } | PortRange {
  const arp = p.arp || p.layer === "arp" ? arpLeftValue(left, p) : null;
  if (arp !== null) return arp;
  const meta = left.meta as Json | undefined;
  if (meta) {
    switch (meta.key) {
      case "iifname":
        return p.iifname;
      case "oifname":
        return p.oifname;
      case "ibrname":
        return p.layer === "bridge" && p.iifname ? p.bridge ?? "unknown" : undefined;
      case "obrname":
        return p.layer === "bridge" && p.oifname ? p.bridge ?? "unknown" : undefined;
      case "l4proto":
      case "protocol":
        return meta.key === "l4proto" ? p.l4proto : "ip";
      case "nfproto":
        return "ipv4";
      default:
        return "unknown";
    }
  }
  const pl = left.payload as Json | undefined;
  if (pl) {
    if (pl.protocol === "ip") {
      if (pl.field === "saddr") return p.saddr;
      if (pl.field === "daddr") return p.daddr;
      if (pl.field === "protocol") return p.l4proto;
      return "unknown";
    }
    if (pl.protocol === "udp" || pl.protocol === "tcp" || pl.protocol === "th") {
      if (pl.protocol !== "th" && pl.protocol !== p.l4proto) return { proto: String(pl.protocol) };
      if (pl.field !== "dport" && pl.field !== "sport") return "unknown";
      const port = p[pl.field];
      // A UDP or TCP port not known is not judged; other packets (`th` on ICMP) have none.
      return port ?? (p.l4proto === "udp" || p.l4proto === "tcp" ? "unknown" : undefined);
    }
    if (pl.protocol === "icmp") {
      return p.l4proto === "icmp" ? icmpValue(String(pl.field), p.icmp) : { proto: "icmp" };
    }
    // A bridged IPv4 frame's EtherType ("ip", 0x0800); its MAC addresses are not known here.
    if (pl.protocol === "ether" && pl.field === "type" && p.layer === "bridge") return "ip";
    return "unknown";
  }
  const ct = left.ct as Json | undefined;
  if (ct?.key === "state") return p.ct ?? "new";
  return "unknown";
}

/**
 * leftValue() for an ARP frame where it differs from an IPv4 packet's (null: the same, e.g. the
 * interfaces): its EtherType is known, nothing of IP, ports or conntrack is.
 */
function arpLeftValue(left: Json, p: Packet): ReturnType<typeof leftValue> | null {
  const meta = left.meta as Json | undefined;
  const pl = left.payload as Json | undefined;
  if (meta?.key === "protocol") return "arp";
  if (meta?.key === "l4proto" || meta?.key === "nfproto") return { proto: "none" };
  if (meta) return null;
  if (pl?.protocol === "ether" && pl.field === "type") return "arp";
  if (pl?.protocol === "arp") {
    // Ethernet and IPv4 (arptables-nft's htype/hlen/plen); the addresses are known as sender
    // and target, the operation (request or reply: both happen) is not.
    const fields: Record<string, string | number> = {
      htype: 1,
      hlen: 6,
      plen: 4,
      "saddr ip": p.saddr,
      "daddr ip": p.daddr,
    };
    return fields[String(pl.field)] ?? "unknown";
  }
  if (pl && pl.protocol !== "ether") return { proto: String(pl.protocol) };
  return "unknown";
}

/**
 * The packet's value for a match's (or a map's) key: leftValue() of one field, or of every part
 * of a concatenation (a part not known: NOT_KNOWN); false when a part is a payload of another
 * protocol (nft's implied dependency on it does not hold).
 */
function keyValue(left: Json, p: Packet): Key | "unknown" | false {
  const one = (l: Json): Value | false => {
    const v = leftValue(l, p);
    if (v === "unknown") return NOT_KNOWN;
    return typeof v === "object" && v !== null && "proto" in v ? false : v;
  };
  if (!Array.isArray(left.concat)) {
    const v = one(left);
    return v === NOT_KNOWN ? "unknown" : v;
  }
  const parts = (left.concat as Json[]).map(one);
  return parts.includes(false) ? false : parts as Value[];
}

function matchExpr(m: Json, p: Packet, rs: Ruleset, ch: Chain): M {
  const op = String(m.op ?? "==");
  const lv = keyValue(m.left as Json, p);
  if (lv === "unknown") return "unknown";
  if (lv === false) return false; // a payload of another protocol
  let right = m.right;
  if (
    m.left && (m.left as Json).meta && ((m.left as Json).meta as Json).key === "l4proto" &&
    typeof right === "number"
  ) {
    right = Object.entries(PROTO_NUM).find(([, n]) => n === right)?.[0] ?? right;
  }
  const sets = typeof right === "string" && right.startsWith("@")
    ? rs.sets.get(key(ch.family, ch.table, right.slice(1)))
    : undefined;
  const r = member(right, lv, sets);
  if (r === "unknown") return r;
  if (op === "==" || op === "in") return r;
  if (op === "!=") return !r;
  return "unknown";
}

/** nft syntax of a match's left side ("ip daddr", "udp dport", "iifname", "ct state"). */
function leftText(left: Json): string {
  if (Array.isArray(left.concat)) return (left.concat as Json[]).map(leftText).join(" . ");
  if (left.payload) {
    const p = left.payload as Json;
    return `${p.protocol} ${p.field}`;
  }
  if (left.meta) return String((left.meta as Json).key);
  if (left.ct) return `ct ${(left.ct as Json).key}`;
  return JSON.stringify(left);
}

/** nft syntax of a match's right side. */
function rightText(right: unknown): string {
  if (typeof right === "string" || typeof right === "number") return String(right);
  if (Array.isArray(right)) return `{ ${right.map(rightText).join(", ")} }`;
  const o = right as Json;
  if (o?.prefix) return `${(o.prefix as Json).addr}/${(o.prefix as Json).len}`;
  if (o?.set !== undefined) return rightText(o.set);
  if (o?.elem) return rightText((o.elem as Json).val);
  if (Array.isArray(o?.concat)) return (o.concat as unknown[]).map(rightText).join(" . ");
  if (o?.range) return (o.range as unknown[]).map(rightText).join("-");
  return JSON.stringify(right);
}

/**
 * A `set` statement in nft syntax; marks as nft prints them (`meta mark set 0x10`, `meta mark set
 * ct mark`, `ct mark set meta mark`).
 */
function mangleText(m: Json): string {
  const key = m.key as Json, value = m.value as Json | number | string;
  const markKey = (x: unknown) => {
    const o = x as Json | undefined;
    return (o?.meta as Json | undefined)?.key === "mark"
      ? "meta mark"
      : (o?.ct as Json | undefined)?.key === "mark"
      ? "ct mark"
      : undefined;
  };
  const k = markKey(key);
  if (!k) return `${leftText(key)} set ${rightText(value)}`;
  const v = typeof value === "number" ? `0x${value.toString(16)}` : markKey(value);
  return `${k} set ${v ?? rightText(value)}`;
}

/** A netdev `fwd` or `dup` statement in nft syntax (`fwd to lo`, `dup to 10.0.0.9 device eth0`). */
function fwdText(k: string, v: Json): string {
  if (k === "fwd") {
    return v.addr ? `fwd ${v.family ?? "ip"} to ${v.addr} device ${v.dev}` : `fwd to ${v.dev}`;
  }
  return v.dev ? `dup to ${v.addr} device ${v.dev}` : `dup to ${v.addr}`;
}

/** A verdict (`drop`, `jump sub`) in nft syntax. */
function verdictText(v: unknown): string {
  const [k, x] = Object.entries((v ?? {}) as Json)[0] ?? ["?", null];
  return k === "jump" || k === "goto" ? `${k} ${(x as Json).target}` : k;
}

/** A verdict map's data in nft syntax: `@name`, or `{ key : verdict, ... }`. */
function vmapText(data: unknown): string {
  const set = (data as Json | undefined)?.set;
  if (!Array.isArray(set)) return typeof data === "string" ? data : JSON.stringify(data);
  return `{ ${
    set.map((e) => Array.isArray(e) ? `${rightText(e[0])} : ${verdictText(e[1])}` : rightText(e))
      .join(", ")
  } }`;
}

/** A rule in nft syntax (as `nft list ruleset` prints it, for the common expressions). */
export function ruleText(expr: Json[]): string {
  return expr.map((e) => {
    const [k, v] = Object.entries(e)[0] ?? ["?", null];
    if (k === "match") {
      const m = v as Json;
      const op = m.op === "==" || m.op === "in" ? "" : `${m.op} `;
      return `${leftText(m.left as Json)} ${op}${rightText(m.right)}`;
    }
    if (k === "xt") return `xt ${(v as Json).type} ${(v as Json).name}`;
    if (k === "mangle") return mangleText(v as Json);
    if (k === "jump" || k === "goto") return `${k} ${(v as Json).target}`;
    if (k === "fwd" || k === "dup") return fwdText(k, v as Json);
    if (k === "vmap") {
      return `${leftText((v as Json).key as Json)} vmap ${vmapText((v as Json).data)}`;
    }
    if (v === null || k === "counter") return k;
    return `${k} ${JSON.stringify(v)}`;
  }).join(" ");
}

type ChainResult = "accept" | "drop" | undefined;

interface Walk {
  rs: Ruleset;
  p: Packet;
  unknown: RuleRef[];
  by?: RuleRef;
  redirectedTo?: string;
  nat?: NatRef;
  untrackedBy?: RuleRef;
  markedBy?: MarkRef;
}

/**
 * A statement setting the packet's mark: noted when it comes before the routing decision.
 * `value`: the constant it sets, or nft's `ct mark` (restored from conntrack).
 */
function mark(w: Walk, ch: Chain, rule: Chain["rules"][number], value?: unknown): void {
  if (ch.hook !== "prerouting" && ch.hook !== "output") return;
  const restored = value === "ct mark" ||
    ((value as Json | undefined)?.ct as Json | undefined)?.key === "mark";
  w.markedBy ??= {
    ...ref(ch, rule.handle, ruleWords(rule, ch)),
    ...(typeof value === "number" ? { mark: value } : {}),
    ...(restored ? { restored } : {}),
  };
}

/**
 * The constant mark of iptables' `-j MARK --set-xmark V/0xffffffff` or `--set-mark V` (the
 * CONNMARK target's too), as iptables-save prints it; undefined for a partial mask or none.
 */
export function xtSetMark(words: string | undefined): number | undefined {
  const m = /--set-x?mark (0x[0-9a-f]+|\d+)(?:\/(0x[0-9a-f]+|\d+))?/i.exec(words ?? "");
  if (!m) return undefined;
  if (m[2] !== undefined && Number(m[2]) !== 0xffffffff) return undefined;
  return Number(m[1]);
}

function ref(ch: Chain, handle: number | undefined, text: string): RuleRef {
  const r: RuleRef = { family: ch.family, table: ch.table, chain: ch.name, text };
  if (handle !== undefined) r.handle = handle;
  return r;
}

/**
 * An xt conntrack/state match read from the rule's iptables words (`-m conntrack [!] --ctstate
 * A,B`, `-m state [!] --state A,B`) against the packet's state; undefined when there are no
 * words or they say more than the state (a --ctstatus, --ctorigdst, ...).
 */
function ctStateMatch(iptables: string | undefined, p: Packet): boolean | undefined {
  if (!iptables) return undefined;
  const m = /-m (?:conntrack|state) (!\s+)?--(?:ct)?state (\S+)(?=\s+-[jgm]\s|\s+!|\s*$)/.exec(
    iptables,
  );
  if (!m || /--ct(?:status|orig|repl|proto|expire|dir)/.test(iptables)) return undefined;
  const states = m[2]!.split(",");
  const hit = states.includes((p.ct ?? "new").toUpperCase());
  return m[1] ? !hit : hit;
}

/**
 * ebtables' IPv4 match read from the rule's ebtables words (`--ip-src [!] A[/N]`, `--ip-dst`,
 * `--ip-proto P`, `--ip-dport [!] N[:M]`, `--ip-sport`, a `!` before the option too) against the packet;
 * undefined when there are no words or they hold an option or value not judged here.
 */
export function ebIpMatch(words: string | undefined, p: Packet): boolean | undefined {
  if (p.arp) return false; // the match is IPv4's
  return ebOptions(words, "--ip-", (opt, val) => ebIpOption(opt, val, p));
}

/**
 * ebtables' ARP match (`--arp-ip-src [!] A[/N]`, `--arp-ip-dst`) read from the rule's words
 * against an ARP frame (sender and target as `saddr`, `daddr`); `--arp-op` and the MAC options
 * are not judged (undefined): a request and a reply both happen.
 */
export function ebArpMatch(words: string | undefined, p: Packet): boolean | undefined {
  if (!p.arp) return false; // the match is ARP's
  return ebOptions(
    words,
    "--arp-",
    (opt, val) =>
      opt === "--arp-ip-src"
        ? ipIn(p.saddr, val)
        : opt === "--arp-ip-dst"
        ? ipIn(p.daddr, val)
        : undefined,
  );
}

/** Every `prefix` option of an ebtables rule's words judged by `judgeOption` (all must hold). */
function ebOptions(
  words: string | undefined,
  prefix: string,
  judgeOption: (opt: string, val: string) => boolean | undefined,
): boolean | undefined {
  if (!words) return undefined;
  const t = words.split(/\s+/);
  let all = true;
  for (let i = 0; i < t.length; i++) {
    const opt = t[i]!;
    if (!opt.startsWith(prefix)) continue;
    let neg = t[i - 1] === "!";
    if (t[i + 1] === "!") {
      neg = !neg;
      i++;
    }
    const val = t[++i];
    if (val === undefined) return undefined;
    const hit = judgeOption(opt, val);
    if (hit === undefined) return undefined;
    if (hit === neg) all = false;
  }
  return all;
}

/** Whether address `ip` is `val` ("A" or "A/N"); undefined for a dotted mask or a name. */
function ipIn(ip: string, val: string): boolean | undefined {
  if (!/^[\d.]+(\/\d+)?$/.test(val)) return undefined;
  const n = ipv4Number(ip);
  return n !== undefined && inCidr(n, val.includes("/") ? val : `${val}/32`);
}

/** ebtables' `--ip-dport`/`--ip-sport` value `N[:M]` against `port` of `p` (none for ICMP). */
function ebPort(val: string, p: Packet, port: Port | undefined): boolean | undefined {
  if (!/^\d+(:\d+)?$/.test(val)) return undefined;
  if (port === undefined && p.l4proto !== "udp" && p.l4proto !== "tcp") return false;
  return portListHolds(val, port);
}

function ebIpOption(opt: string, val: string, p: Packet): boolean | undefined {
  switch (opt) {
    case "--ip-src":
    case "--ip-source":
      return ipIn(p.saddr, val);
    case "--ip-dst":
    case "--ip-destination":
      return ipIn(p.daddr, val);
    case "--ip-proto":
    case "--ip-protocol": {
      const want = /^\d+$/.test(val) ? Number(val) : PROTO_NUM[val as Packet["l4proto"]];
      return want === undefined ? undefined : want === PROTO_NUM[p.l4proto];
    }
    case "--ip-dport":
    case "--ip-destination-port":
      return ebPort(val, p, p.dport);
    case "--ip-sport":
    case "--ip-source-port":
      return ebPort(val, p, p.sport);
    default:
      return undefined;
  }
}

/** A rule in nft syntax, with iptables' (or ebtables') own words for it when known. */
function ruleWords(rule: Chain["rules"][number], ch: Chain): string {
  const t = ruleText(rule.expr);
  const tool = ch.family === "bridge" ? "ebtables" : "iptables";
  return rule.iptables ? `${t} (${tool}: ${rule.iptables})` : t;
}

/** A rule that could not be judged, and whether it could lead to a drop. */
function unknownRef(w: Walk, ch: Chain, rule: Chain["rules"][number], depth: number): RuleRef {
  const mayDrop = rule.expr.some((e) => mayLeadToDrop(w, ch, e, depth));
  return { ...ref(ch, rule.handle, ruleWords(rule, ch)), mayDrop };
}

/**
 * Whether statement `e` of a rule not judged could lead to a drop had the rule matched: a drop,
 * reject, fwd or queue, a statement that may steal or rewrite the packet (nft_statements.ts), or a jump/goto (also a verdict map's) to a chain that would drop this packet (or holds
 * a rule that may).
 */
function mayLeadToDrop(w: Walk, ch: Chain, e: Json, depth: number): boolean {
  if ("drop" in e || "reject" in e || "fwd" in e || "queue" in e) return true;
  const xt = e.xt as Json | undefined;
  if (xt) {
    return xt.type === "target" && !XT_NAT[String(xt.name)] &&
      (xt.name === "REJECT" || xt.name === "NFQUEUE" || xtTargetEffect(String(xt.name)) === "acts");
  }
  const [name = ""] = Object.keys(e);
  if (!MODELLED.has(name) && statementEffect(e) === "acts") return true;
  const vm = e.vmap as Json | undefined;
  if (vm) {
    const elems = vmapElements(w.rs, ch, vm.data);
    return !elems ||
      elems.some((x) => !Array.isArray(x) || mayLeadToDrop(w, ch, x[1] as Json, depth));
  }
  const j = (e.jump ?? e.goto) as Json | undefined;
  if (!j) return false;
  // Had the rule matched, the packet would run through the target chain: it may drop only
  // if that chain drops it (or holds a rule that may).
  const target = w.rs.chains.get(key(ch.family, ch.table, String(j.target)));
  if (!target || depth >= 16) return true;
  const sub: Walk = { rs: w.rs, p: w.p, unknown: [] };
  return runChain(sub, target, depth + 1) === "drop" || sub.unknown.some((u) => u.mayDrop);
}

function natRef(w: Walk, ch: Chain, rule: Chain["rules"][number], statement: string): NatRef {
  return {
    ...ref(ch, rule.handle, ruleWords(rule, ch)),
    statement,
    uncertain: w.unknown.length > 0,
  };
}

/**
 * A packet handed to userspace queue `num` (nft's queue, iptables' NFQUEUE): with a program bound
 * to it that program decides (a rule not judged, which may drop); without one the kernel drops
 * it, unless the rule says bypass (then it is accepted).
 */
function queue(
  w: Walk,
  ch: Chain,
  rule: Chain["rules"][number],
  num: number,
  bypass: boolean,
  depth: number,
): ChainResult {
  if (w.rs.boundQueues?.has(num)) {
    w.unknown.push({ ...unknownRef(w, ch, rule, depth), mayDrop: true });
    return "accept";
  }
  if (bypass) return "accept";
  w.by = ref(
    ch,
    rule.handle,
    `${
      ruleWords(rule, ch)
    } (queue ${num}: no program is bound to it, so the kernel drops the packet)`,
  );
  return "drop";
}

/** conntrack's priority: a notrack in a chain before it (raw, -300) leaves the packet untracked. */
const NF_IP_PRI_CONNTRACK = -200;

/** A notrack statement: the packet is untracked from here on, if conntrack has not seen it yet. */
function untrack(w: Walk, ch: Chain, rule: Chain["rules"][number]): void {
  if ((ch.hook !== "prerouting" && ch.hook !== "output") || (ch.prio ?? 0) >= NF_IP_PRI_CONNTRACK) {
    return;
  }
  if (w.p.ct === "untracked") return;
  w.p.ct = "untracked";
  w.untrackedBy ??= ref(ch, rule.handle, ruleWords(rule, ch));
}

/**
 * One xt expression of iptables-nft/ebtables-nft: "next" when it matches and the rule goes on,
 * else what the rule comes to (matches read from the rule's iptables/ebtables words).
 */
function runXt(
  w: Walk,
  ch: Chain,
  rule: Chain["rules"][number],
  xt: Json,
  depth: number,
): ChainResult | "return" | "continue" | "next" {
  if (xt.name === "comment") return "next";
  if (xt.type === "match" && (xt.name === "conntrack" || xt.name === "state")) {
    const m = ctStateMatch(rule.iptables, w.p);
    if (m === false) return "continue";
    if (m === true) return "next";
  }
  if (xt.type === "match" && XT_MATCHES.has(String(xt.name))) {
    // The rule's nth match of that name is the nth `-m NAME` of its words.
    const nth = rule.expr.slice(0, rule.expr.findIndex((e) => e.xt === xt))
      .filter((e) => (e.xt as Json | undefined)?.name === xt.name).length;
    const m = xtMatch(rule.iptables, String(xt.name), nth, w.p);
    if (m === false) return "continue";
    if (m === true) return "next";
  }
  if (
    xt.type === "match" && (xt.name === "ip" || xt.name === "arp") && ch.family === "bridge"
  ) {
    const m = (xt.name === "ip" ? ebIpMatch : ebArpMatch)(rule.iptables, w.p);
    if (m === false) return "continue";
    if (m === true) return "next";
  }
  if (xt.type === "target") {
    // iptables-nft keeps some targets as xt: the NAT ones rewrite (and end the chain),
    // REJECT drops, some (MARK, LOG, TEE, ...) change no verdict (nft_statements.ts).
    // ebtables' dnat/redirect (bridge family): the frame's destination MAC is rewritten.
    const nat = ch.family === "bridge" && (xt.name === "dnat" || xt.name === "redirect")
      ? "dnat"
      : XT_NAT[String(xt.name)];
    if (nat) {
      w.nat ??= natRef(w, ch, rule, nat);
      return "accept";
    }
    if (xt.name === "NFQUEUE") {
      const words = rule.iptables ?? "";
      const num = Number(/--queue-(?:num|balance) (\d+)/.exec(words)?.[1] ?? 0);
      return queue(w, ch, rule, num, /--queue-bypass\b/.test(words), depth);
    }
    if (xt.name === "CT" && /--notrack\b/.test(rule.iptables ?? "")) {
      untrack(w, ch, rule);
      return "continue";
    }
    if (xt.name === "MARK") {
      mark(w, ch, rule, xtSetMark(rule.iptables));
      return "continue";
    }
    if (xt.name === "CONNMARK" && /--restore-mark\b/.test(rule.iptables ?? "")) {
      mark(w, ch, rule, "ct mark");
      return "continue";
    }
    if (xt.name === "REJECT") {
      w.by = ref(ch, rule.handle, ruleWords(rule, ch));
      return "drop";
    }
    // One that steals or rewrites the packet (TPROXY, SYNPROXY, TTL, ...): a rule not judged.
    if (xtTargetEffect(String(xt.name)) === "acts") {
      w.unknown.push({ ...unknownRef(w, ch, rule, depth), mayDrop: true });
    }
    return "continue";
  }
  w.unknown.push(unknownRef(w, ch, rule, depth));
  return "continue";
}

/** What one rule comes to: a chain's verdict, a return, or on to the next rule ("continue"). */
type RuleResult = ChainResult | "return" | "continue";

function runRule(w: Walk, ch: Chain, rule: Chain["rules"][number], depth: number): RuleResult {
  for (const e of rule.expr) {
    if (e.match) {
      const m = matchExpr(e.match as Json, w.p, w.rs, ch);
      if (m === "unknown") {
        w.unknown.push(unknownRef(w, ch, rule, depth));
        return "continue";
      }
      if (!m) return "continue";
      continue;
    }
    if (e.xt) {
      const r = runXt(w, ch, rule, e.xt as Json, depth);
      if (r === "next") continue;
      return r;
    }
    if (e.vmap) {
      const r = runVmap(w, ch, rule, e.vmap as Json, depth);
      if (r === "next") continue;
      return r;
    }
    const mangle = e.mangle as Json | undefined;
    const mk = (mangle?.key as Json | undefined)?.payload as Json | undefined;
    if (((mangle?.key as Json | undefined)?.meta as Json | undefined)?.key === "mark") {
      mark(w, ch, rule, mangle!.value);
      continue;
    }
    if (mk?.protocol === "ether" && mk.field === "daddr") {
      w.nat ??= natRef(w, ch, rule, "ether daddr set");
      continue;
    }
    if ("notrack" in e) {
      untrack(w, ch, rule);
      continue;
    }
    const q = e.queue as Json | undefined;
    if (q) {
      const flags = ([] as unknown[]).concat(q.flags ?? []);
      return queue(
        w,
        ch,
        rule,
        typeof q.num === "number" ? q.num : 0,
        flags.includes("bypass"),
        depth,
      );
    }
    const nat = NAT_STATEMENTS.find((n) => n in e);
    if (nat) {
      w.nat ??= natRef(w, ch, rule, nat);
      return "accept";
    }
    if ("reject" in e) {
      w.by = ref(ch, rule.handle, ruleWords(rule, ch));
      return "drop";
    }
    if (e.fwd) return forward(w, ch, rule, e.fwd as Json);
    const r = applyVerdict(w, ch, rule, e, depth);
    if (r === "next") continue;
    if (r !== undefined) return r;
    // A statement not modelled here: on with the rule when it changes nothing, else the rule is
    // one not judged (taken as not matching), which may drop when the statement could.
    const effect = statementEffect(e);
    if (effect === "none") continue;
    const u = unknownRef(w, ch, rule, depth);
    w.unknown.push(effect === "acts" ? { ...u, mayDrop: true } : u);
    return "continue";
  }
  return "continue";
}

/**
 * A netdev `fwd to DEV` (also `fwd ip to ADDR device DEV`): the packet is sent out of DEV and
 * does not go on (a `dup` copies it and the original goes on: nft_statements.ts).
 */
function forward(w: Walk, ch: Chain, rule: Chain["rules"][number], fwd: Json): "drop" {
  const dev = String(fwd.dev ?? "?");
  w.by = ref(
    ch,
    rule.handle,
    `${ruleWords(rule, ch)} (fwd: the packet leaves by ${dev} and goes no further)`,
  );
  w.redirectedTo = dev;
  return "drop";
}

/**
 * A verdict `v` (a statement of the rule, or the element of a verdict map the packet found): what
 * the rule comes to, "next" for continue (on with the rule's next statement); undefined when `v`
 * is no verdict. A jump the target chain comes back from goes on with the next rule, a goto
 * returns from this chain. `from`: the named map and the key of the element `v` is, when it is
 * one (named in the dropping rule's words).
 */
function applyVerdict(
  w: Walk,
  ch: Chain,
  rule: Chain["rules"][number],
  v: Json,
  depth: number,
  from?: { map: string; key: unknown },
): RuleResult | "next" | undefined {
  if ("accept" in v) return "accept";
  if ("drop" in v) {
    w.by = ref(ch, rule.handle, ruleWords(rule, ch));
    if (from) {
      const k = rightText(from.key);
      w.by.text += ` (@${from.map}: ${k} : drop)`;
      w.by.element = `${from.map} { ${k} }`;
    }
    return "drop";
  }
  if ("return" in v) return "return";
  if ("continue" in v) return "next";
  const j = (v.jump ?? v.goto) as Json | undefined;
  if (!j) return undefined;
  const target = w.rs.chains.get(key(ch.family, ch.table, String(j.target)));
  const r = target && depth < 16 ? runChain(w, target, depth + 1) : undefined;
  if (r) return r;
  return v.goto ? "return" : "continue";
}

/** A verdict map's elements, `[key, verdict]`: inline, or the table's named map; undefined: not known. */
function vmapElements(rs: Ruleset, ch: Chain, data: unknown): unknown[] | undefined {
  if (typeof data === "string" && data.startsWith("@")) {
    return rs.maps.get(key(ch.family, ch.table, data.slice(1)));
  }
  const set = (data as Json | undefined)?.set;
  return Array.isArray(set) ? set : undefined;
}

/**
 * A verdict map (`ip saddr vmap { 10.244.1.0/24 : drop }`, `ip saddr vmap @m`; kube-proxy's
 * nftables mode and firewalld dispatch with them): the verdict of the element the packet's key
 * finds, as if the rule said it. A key found in no element ends the rule; a key or an element
 * this evaluator cannot judge makes the rule one not judged.
 */
function runVmap(
  w: Walk,
  ch: Chain,
  rule: Chain["rules"][number],
  vm: Json,
  depth: number,
): RuleResult | "next" {
  const k = keyValue(vm.key as Json, w.p);
  if (k === false) return "continue"; // a payload of another protocol
  const elems = vmapElements(w.rs, ch, vm.data);
  let found: unknown[] | undefined;
  let unknown = k === "unknown" || !elems;
  for (const e of k === "unknown" ? [] : elems ?? []) {
    const m = Array.isArray(e) ? member(e[0], k as Key, undefined) : "unknown";
    if (m === true) {
      found = e as unknown[];
      break;
    }
    if (m === "unknown") unknown = true;
  }
  const named = typeof vm.data === "string"
    ? { map: vm.data.slice(1), key: found?.[0] }
    : undefined;
  const r = found ? applyVerdict(w, ch, rule, found[1] as Json, depth, named) : undefined;
  if (r !== undefined) return r;
  if (found || unknown) w.unknown.push(unknownRef(w, ch, rule, depth));
  return "continue";
}

function runChain(w: Walk, ch: Chain, depth = 0): ChainResult {
  for (const rule of ch.rules) {
    const r = runRule(w, ch, rule, depth);
    if (r === "accept" || r === "drop") return r;
    if (r === "return") return undefined;
  }
  return undefined;
}

/**
 * The hooks a packet judged at a hook crosses, in order: a packet for this host or one forwarded
 * crosses prerouting first (iptables' raw and mangle PREROUTING, nft chains at any priority), a
 * forwarded or locally sent one postrouting after.
 */
const HOOK_PATH: Readonly<Record<Packet["hook"], readonly Packet["hook"][]>> = {
  ingress: ["ingress"],
  egress: ["egress"],
  prerouting: ["prerouting"],
  input: ["prerouting", "input"],
  forward: ["prerouting", "forward", "postrouting"],
  output: ["output", "postrouting"],
  postrouting: ["postrouting"],
};

/**
 * Judges `p` against the ruleset: every base chain (ip and inet tables; bridge tables for a frame
 * of layer "bridge") of every hook it crosses
 * on its way to and past `p.hook` (HOOK_PATH), each hook's in priority order. In prerouting the
 * output interface is not known yet, so `oifname` matches nothing there.
 */
export function judge(rs: Ruleset, p: Packet): Verdict {
  const v: Verdict = { verdict: "accept", chains: [], unknown: [] };
  let ct = p.ct;
  for (const hook of HOOK_PATH[p.hook]) {
    const { oifname: _oif, ...noOif } = p;
    const at: Packet = hook === "prerouting" ? { ...noOif, hook, ct } : { ...p, hook, ct };
    const dev = hook === "ingress" ? p.iifname : p.oifname;
    const bases = [...rs.chains.values()].filter((c) =>
      c.hook === hook &&
      (p.layer === "netdev"
        ? c.family === "netdev" && (c.devices === undefined || c.devices.includes(dev ?? ""))
        : p.layer === "bridge" || p.layer === "arp"
        ? c.family === p.layer
        : c.family === "ip" || c.family === "inet")
    ).sort((a, b) => (a.prio ?? 0) - (b.prio ?? 0));
    for (const ch of bases) {
      v.chains.push(key(ch.family, ch.table, ch.name));
      const w: Walk = { rs, p: at, unknown: v.unknown };
      const r = runChain(w, ch);
      if (w.nat) v.nat ??= w.nat;
      if (w.untrackedBy) v.untrackedBy ??= w.untrackedBy;
      if (w.markedBy) v.markedBy ??= w.markedBy;
      ct = at.ct;
      if (r === "drop") {
        return {
          ...v,
          verdict: "drop",
          by: w.by!,
          ...(w.redirectedTo ? { redirectedTo: w.redirectedTo } : {}),
        };
      }
      if (r === undefined && ch.policy === "drop") {
        return { ...v, verdict: "drop", by: ref(ch, undefined, "policy drop") };
      }
    }
  }
  return v;
}

/**
 * Packet counters of the rules that have one, by "family table chain handle N" ("... drop" for
 * dropping rules, and for a netdev fwd, which takes the packet away as well).
 */
export function ruleCounters(text: string): Map<string, number> {
  const v = JSON.parse(text) as { nftables?: Json[] };
  const out = new Map<string, number>();
  for (const item of v.nftables ?? []) {
    const r = item.rule as Json | undefined;
    if (!r) continue;
    const c = ((r.expr as Json[]) ?? []).find((e) => e.counter)?.counter as Json | undefined;
    if (c && typeof c.packets === "number") {
      const drops = ((r.expr as Json[]) ?? []).some((e) =>
        "drop" in e || "reject" in e || "fwd" in e
      );
      out.set(
        `${r.family} ${r.table} ${r.chain} handle ${r.handle}${drops ? " drop" : ""}`,
        c.packets,
      );
    }
  }
  return out;
}
