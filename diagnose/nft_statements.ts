/**
 * What an nftables statement that nft_eval.ts does not model (it models matches, verdicts,
 * verdict maps, NAT, queue, notrack, marks, fwd) does to one packet's verdict, so that none is
 * skipped silently: one that only counts, logs or copies lets the packet go on; one that holds
 * or not with the traffic (a rate, a quota, a connection count) is a match that cannot be judged;
 * one that may steal, drop or redirect the packet, or one not known here, makes its rule one not
 * judged that may drop; likewise for the iptables targets iptables-nft keeps as xt. Pure.
 *
 * @module
 */

type Json = Record<string, unknown>;

/**
 * A statement's effect on the verdict: "none" (the packet goes on, the rule too), "condition"
 * (the rest of the rule runs only when it holds, which depends on traffic not seen here) or
 * "acts" (it may drop, steal or redirect the packet; a statement not known here is taken so).
 */
export type StatementEffect = "none" | "condition" | "acts";

/**
 * Statements that change no verdict and do not send the packet elsewhere: counters, logging,
 * a copy to another host or device (`dup`: the original goes on), a set or map update,
 * conntrack helpers and timeouts, security marks, flow offload.
 */
const NONE = new Set([
  "counter",
  "log",
  "dup",
  "ct helper",
  "ct timeout",
  "ct expectation",
  "secmark",
  "last",
  "flow",
]);

/** Statements that hold only under some traffic: rates, quotas, connection counts. */
const CONDITION = new Set(["limit", "quota", "ct count"]);

/**
 * Header fields whose rewrite (`ip daddr set`, stateless NAT) sends the packet elsewhere or can
 * have it dropped further on (a TTL set to 1), by protocol ("th": any transport header).
 */
const REDIRECTING_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ether: ["daddr"],
  ip: ["saddr", "daddr", "ttl"],
  ip6: ["saddr", "daddr", "hoplimit"],
  th: ["sport", "dport"],
  tcp: ["sport", "dport"],
  udp: ["sport", "dport"],
  sctp: ["sport", "dport"],
};

/**
 * iptables targets iptables-nft keeps as xt that change no verdict and send the packet nowhere
 * else (logging, marks, a copy to another host: TEE, conntrack settings, header fields that do
 * not route). MARK, CONNMARK, CT, NFQUEUE, REJECT and the NAT targets are nft_eval.ts's own.
 */
const XT_TARGETS_NONE = new Set([
  "LOG",
  "NFLOG",
  "ULOG",
  "TRACE",
  "AUDIT",
  "MARK",
  "CONNMARK",
  "CT",
  "SECMARK",
  "CONNSECMARK",
  "TCPMSS",
  "TCPOPTSTRIP",
  "CHECKSUM",
  "DSCP",
  "TOS",
  "ECN",
  "CLASSIFY",
  "IDLETIMER",
  "LED",
  "HMARK",
  "RATEEST",
  "SET",
  "TEE",
]);

/**
 * The effect of an iptables target iptables-nft kept as xt (`{"xt": {"type": "target", "name"}}`)
 * that nft_eval.ts does not model: "none" for the ones that log, mark or copy, "acts" for the
 * others (TPROXY, SYNPROXY, TTL, NETMAP, a target not known here).
 */
export function xtTargetEffect(name: string): "none" | "acts" {
  return XT_TARGETS_NONE.has(name) ? "none" : "acts";
}

/**
 * The effect of statement `e` (one element of a rule's `expr` in `nft -j list ruleset`) that is
 * not a match, a verdict, or one of the statements nft_eval.ts models.
 *
 * @example
 * ```ts
 * import { statementEffect } from "./nft_statements.ts";
 * statementEffect({ counter: { packets: 0, bytes: 0 } }); // "none"
 * statementEffect({ limit: { rate: 10, per: "second", inv: true } }); // "condition"
 * statementEffect({ tproxy: { addr: "127.0.0.1", port: 8080 } }); // "acts"
 * ```
 */
export function statementEffect(e: Json): StatementEffect {
  const [name, value] = Object.entries(e)[0] ?? ["", null];
  if (NONE.has(name)) return "none";
  if (CONDITION.has(name)) return "condition";
  if (name === "mangle") {
    const pl = ((value as Json | null)?.key as Json | undefined)?.payload as Json | undefined;
    const fields = REDIRECTING_FIELDS[String(pl?.protocol)] ?? [];
    return fields.includes(String(pl?.field)) ? "acts" : "none";
  }
  // A set, map or meter update runs its own statements on the element: a rate limit per
  // source (`meter flood { ip saddr limit rate over 1/second }`) holds only under some traffic.
  if (name === "set" || name === "map" || name === "meter") {
    const inner = ([] as unknown[]).concat((value as Json | null)?.stmt ?? []) as Json[];
    const effects = inner.map(statementEffect);
    return effects.includes("acts") ? "acts" : effects.includes("condition") ? "condition" : "none";
  }
  return "acts";
}
