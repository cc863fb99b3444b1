/**
 * `netfilter.legacy`: legacy iptables (x_tables) rules, which `nft list ruleset` does not show,
 * judged for the flow (xt_legacy.ts over `iptables-legacy-save` run inside the node's namespace):
 * the forwarded pod packets on each node of the path and the tunnel's packets in and out. A
 * legacy FORWARD policy DROP (Docker sets one) or a dropping rule fails with the iptables-legacy
 * command that removes it; tables it can read and that pass the flow pass; tables it cannot read
 * stay the warning that they exist. A legacy nat rule that rewrites the flow is netfilter.nat's
 * (`_netfilter_nat.ts`).
 *
 * @module
 */
import { type CheckResult, fail, pass, warn } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import type { Kernel } from "../kernel.ts";
import { judge, type Packet, type Ruleset } from "../nft_eval.ts";
import { replyState } from "../reply_ct.ts";
import { rulesetOf } from "../ruleset.ts";
import { echoOf } from "../nft_icmp.ts";
import { pathHops } from "../path.ts";
import { judgeLegacy, type LegacyDrop, type LegacyTables, parseLegacySave } from "../xt_legacy.ts";
import type { RulesetOwner } from "./_verdict.ts";
import { leasePeer, otherLeases } from "./_node_peers.ts";
import { encapPacket, podForwardPacket } from "./packets.ts";

/** The legacy tables loaded in the namespace (/proc/net/ip_tables_names), none when empty. */
export function legacyTableNames(k: Kernel | undefined): string[] {
  if (!k) return [];
  try {
    const names = k.inside(() => Deno.readTextFileSync("/proc/thread-self/net/ip_tables_names"));
    return names.split("\n").map((x) => x.trim()).filter((x) => x);
  } catch {
    return []; // x_tables not loaded at all
  }
}

/** `iptables-legacy-save` inside namespace `netns`, parsed (memoised); undefined if it fails. */
export function legacyTables(
  d: Diagnosis,
  netns: string | undefined,
): Promise<LegacyTables | undefined> {
  const key = `legacy|${netns ?? ""}`;
  let p = d.memo.get(key) as Promise<LegacyTables | undefined> | undefined;
  if (!p) {
    p = new Deno.Command("nsenter", {
      args: [...(netns ? [`--net=${netns}`] : []), "iptables-legacy-save"],
      stdout: "piped",
      stderr: "null",
    }).output().then(
      (o) => o.success ? parseLegacySave(new TextDecoder().decode(o.stdout)) : undefined,
      () => undefined,
    );
    d.memo.set(key, p);
  }
  return p;
}

/** The command that removes a legacy drop (or rewrite): the rule by its words, or the policy. */
export function legacyFix(exec: string, by: LegacyDrop): string {
  const ipt = `${exec}iptables-legacy${by.table === "filter" ? "" : ` -t ${by.table}`}`;
  return by.rule === undefined
    ? `${ipt} -P ${by.chain} ACCEPT  # the legacy ${by.table} ${by.chain} policy (nft does not show it)`
    : `${ipt} -D ${by.chain} ${by.rule}  # after checking why it is there (nft does not show it)`;
}

/**
 * `netfilter.legacy` in the namespace of kernel `k` (a node's, a pod's) for `packets` ([what,
 * packet]); undefined without legacy tables.
 */
export async function judgedLegacy(
  d: Diagnosis,
  k: Kernel | undefined,
  owner: RulesetOwner,
  packets: [string, Packet][],
): Promise<CheckResult | undefined> {
  const names = legacyTableNames(k);
  if (!names.length) return undefined;
  const t = await legacyTables(d, k?.netns);
  const evidence: Record<string, unknown> = { "/proc/net/ip_tables_names": names };
  if (!t) {
    return warn(
      "netfilter.legacy",
      owner.label,
      `${owner.who} has legacy iptables tables (${
        names.join(", ")
      }) that the verdicts above cannot see`,
      {
        evidence,
        fix: `${owner.exec}iptables-legacy-save  # read them; move them to iptables-nft`,
      },
    );
  }
  const unknown: string[] = [];
  for (const [what, p] of packets) {
    const v = judgeLegacy(t, p);
    unknown.push(...v.unknown.filter((u) => !unknown.includes(u)));
    if (v.verdict !== "drop" || !v.by) continue;
    evidence.droppedBy = v.by.rule === undefined
      ? `${v.by.table} ${v.by.chain} policy DROP`
      : `${v.by.table} ${v.by.chain}: -A ${v.by.chain} ${v.by.rule}`;
    return fail(
      "netfilter.legacy",
      owner.label,
      `${owner.who}'s legacy iptables (x_tables, not in nft's ruleset) drops ${what}: ${evidence.droppedBy}`,
      { evidence, fix: legacyFix(owner.exec, v.by) },
    );
  }
  if (unknown.length) {
    return warn(
      "netfilter.legacy",
      owner.label,
      `${owner.who}'s legacy iptables has rules not judged here that could drop the flow`,
      { evidence: { ...evidence, notJudged: unknown }, fix: `${owner.exec}iptables-legacy-save` },
    );
  }
  return pass("netfilter.legacy", owner.label, `${owner.who}'s legacy iptables passes the flow`, {
    evidence,
  });
}

/**
 * The pair's forwarded packets on `node` and its tunnel's packets to and from `peer`. The replies
 * are established, or invalid when `node`'s nftables ruleset `rs` takes the request out of
 * conntrack (the one conntrack both see: reply_ct.ts).
 */
function pairPackets(
  d: Diagnosis,
  pair: Pair,
  node: NodeView,
  peer?: NodeView,
  rs?: Ruleset,
): [string, Packet][] {
  const out: [string, Packet][] = pathHops(d, pair).filter((h) => h.node === node).map((h) => [
    `${h.direction} ${h.src} -> ${h.dst}`,
    {
      hook: "forward",
      saddr: h.src,
      daddr: h.dst,
      l4proto: "icmp",
      icmp: echoOf(h.direction === "reverse"),
      iifname: h.iif,
      ct: h.direction === "forward" ? "new" : "established",
      ...(h.answer?.ok && h.answer.route.devName ? { oifname: h.answer.route.devName } : {}),
    },
  ]);
  const request = out.find(([, p]) => p.ct === "new")?.[1];
  const v = request && rs ? judge(rs, request) : undefined;
  const ct = v ? replyState(v, "icmp") : undefined;
  for (const x of ct ? out : []) {
    if (x[1].ct !== "established") continue;
    x[1].ct = ct;
    const u = v!.untrackedBy!;
    x[0] +=
      ` (${ct} for conntrack: nft rule ${u.family} ${u.table} ${u.chain} handle ${u.handle} takes its request out of conntrack)`;
  }
  for (const hook of ["input", "output"] as const) {
    const p = peer ? encapPacket(node, peer, hook) : undefined;
    if (p) {
      out.push([
        `the ${node.facts.backend} packet ${hook === "input" ? "from" : "to"} ${peer!.name}`,
        p,
      ]);
    }
  }
  return out;
}

/** `netfilter.legacy` for a pair: each node of the path. */
export async function legacyPairChecks(
  d: Diagnosis,
  pair: Pair,
  owner: (n: NodeView) => RulesetOwner,
): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const n of pair.nodes) {
    const peer = pair.nodes.find((x) => x !== n);
    const rs = n.kernel ? await rulesetOf(d, n) : undefined;
    const packets = pairPackets(d, pair, n, peer, rs?.ok ? rs.ruleset : undefined);
    const c = await judgedLegacy(d, n.kernel, owner(n), packets);
    if (c) out.push(c);
  }
  return out;
}

/** `netfilter.legacy` for `--node`: pod traffic to every other lease and the tunnel's packets. */
export function legacyNodeCheck(
  d: Diagnosis,
  node: NodeView,
  owner: RulesetOwner,
): Promise<CheckResult | undefined> {
  if (!node.lease) return Promise.resolve(undefined);
  const packets: [string, Packet][] = [];
  for (const l of otherLeases(d, node)) {
    const peer = leasePeer(node, l);
    packets.push([
      `pod traffic to ${l.node} (${l.subnet})`,
      podForwardPacket(node, node.lease.subnet, l.subnet),
    ]);
    const p = encapPacket(node, peer, "input");
    if (p) packets.push([`the ${node.facts.backend} packet from ${l.node}`, p]);
  }
  return judgedLegacy(d, node.kernel, owner, packets);
}
