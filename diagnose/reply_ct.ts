/**
 * The conntrack state of a reply on a node whose ruleset took the request out of conntrack (a
 * `notrack` before conntrack: Verdict.untrackedBy). Only the notracked packet itself is
 * "untracked": conntrack made no entry for its connection, so the reply coming back is looked up
 * afresh and found in no entry. An ICMP echo reply cannot start a connection, nor can a TCP
 * SYN-ACK (conntrack's TCP state table: none → invalid), so either is "invalid" there; a UDP
 * reply starts a connection of its own ("new"). A `ct state invalid drop` (common hygiene) then
 * drops every reply while the requests pass. Pure.
 *
 * @module
 */
import { judge, type Packet, type RuleRef, type Ruleset, type Verdict } from "./nft_eval.ts";

/**
 * The state conntrack gives the reply to a request whose verdict on the same node is `request`:
 * undefined when the request was tracked (the reply's usual state holds).
 */
export function replyState(request: Verdict, l4proto: Packet["l4proto"]): Packet["ct"] {
  if (!request.untrackedBy) return undefined;
  return l4proto === "udp" ? "new" : "invalid";
}

/** A verdict of a reply, and the notrack rule to blame when the drop comes from it. */
export type ReplyVerdict = Verdict & {
  /**
   * The notrack rule that took the reply's request out of conntrack, when that is why the reply
   * is dropped: with its connection tracked, the reply would pass (or be dropped by another rule).
   */
  requestUntrackedBy?: RuleRef;
};

/**
 * Judges `reply` on the node whose verdict of the request is `request`: in the state conntrack
 * gives it there (replyState()); `packet` is the reply as judged.
 */
export function judgeReply(
  rs: Ruleset,
  reply: Packet,
  request: Verdict,
): { packet: Packet; verdict: ReplyVerdict } {
  const ct = replyState(request, reply.l4proto);
  if (!ct) return { packet: reply, verdict: judge(rs, reply) };
  const packet: Packet = { ...reply, ct };
  const v = judge(rs, packet);
  if (v.verdict !== "drop") return { packet, verdict: v };
  const tracked = judge(rs, reply);
  const same = tracked.verdict === "drop" && sameRule(tracked.by, v.by);
  return { packet, verdict: same ? v : { ...v, requestUntrackedBy: request.untrackedBy } };
}

function sameRule(a: RuleRef | undefined, b: RuleRef | undefined): boolean {
  return a?.family === b?.family && a?.table === b?.table && a?.chain === b?.chain &&
    a?.handle === b?.handle && a?.text === b?.text;
}
