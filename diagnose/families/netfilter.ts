/**
 * `netfilter`: the static verdict of the flow through each node's ruleset (nftables, including
 * iptables-nft tables): the forward hook at every hop of both directions with the hop's real
 * input and output devices, and the output hook for the encapsulated packet leaving the source
 * node (the destination's input hook for the underlay port is the underlay family's). `--trace`
 * adds what the kernel itself logged (trace family).
 *
 * @module
 */
import { formatIp, nthIp, parseCidr } from "../../net/cidr.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import type { Family } from "../family.ts";
import { judge, type Packet, type RuleRef, type Verdict } from "../nft_eval.ts";
import { nsExec, pathHops, tunnelsTo, uplinkOf } from "../path.ts";
import { rulesetOf } from "../ruleset.ts";

/** The fix for a drop: delete the rule, or accept the flow before a dropping policy. */
export function dropFix(node: NodeView, by: RuleRef, p: Packet): string {
  const nft = `${nsExec(node)}nft`;
  if (by.handle !== undefined) {
    return `${nft} delete rule ${by.family} ${by.table} ${by.chain} handle ${by.handle}  # after checking why it is there`;
  }
  return `${nft} insert rule ${by.family} ${by.table} ${by.chain} ip saddr ${p.saddr} ip daddr ${p.daddr} accept`;
}

/** The check for one judged packet. */
export function verdictCheck(
  id: string,
  node: NodeView,
  what: string,
  p: Packet,
  v: Verdict,
): CheckResult {
  const evidence: Record<string, unknown> = {
    packet: `${p.hook} ${p.l4proto} ${p.saddr} -> ${p.daddr}${p.dport ? ` dport ${p.dport}` : ""}${
      p.iifname ? ` iif ${p.iifname}` : ""
    }${p.oifname ? ` oif ${p.oifname}` : ""}`,
    chains: v.chains.length ? v.chains : "no base chain on this hook",
  };
  if (v.unknown.length) {
    evidence.notJudged = v.unknown.map((u) =>
      `${u.family} ${u.table} ${u.chain} handle ${u.handle}: ${u.text}`
    );
  }
  if (v.verdict === "drop" && v.by) {
    evidence.droppedBy = `${v.by.family} ${v.by.table} ${v.by.chain}${
      v.by.handle !== undefined ? ` handle ${v.by.handle}` : ""
    }: ${v.by.text}`;
    return fail(id, node.name, `${node.name}'s ruleset drops ${what}`, {
      evidence,
      fix: dropFix(node, v.by, p),
    });
  }
  if (v.unknown.length) {
    return warn(
      id,
      node.name,
      `${node.name}'s ruleset accepts ${what} unless a rule it cannot judge matches`,
      {
        evidence,
        fix: `${nsExec(node)}nft -a list ruleset  # check the rules listed in notJudged`,
      },
    );
  }
  return pass(id, node.name, `${node.name}'s ruleset accepts ${what}`, { evidence });
}

/**
 * A packet between two nodes' public IPs as `node`'s `hook` sees it on its uplink: from `peer` on
 * the input hook, to it on the output hook.
 */
export function nodePacket(
  node: NodeView,
  peer: NodeView,
  hook: "input" | "output",
  l4: Pick<Packet, "l4proto" | "dport">,
): Packet | undefined {
  const src = hook === "input" ? peer.lease?.publicIP : node.lease?.publicIP;
  const dst = hook === "input" ? node.lease?.publicIP : peer.lease?.publicIP;
  if (!src || !dst) return undefined;
  const up = uplinkOf(node)?.name;
  return {
    hook,
    saddr: src,
    daddr: dst,
    ...l4,
    ...(up ? (hook === "input" ? { iifname: up } : { oifname: up }) : {}),
  };
}

/**
 * The encapsulated packet between two nodes for their tunnel (NodeFacts.tunnel): UDP to its
 * port for vxlan (8472) and udp (8285), IP protocol 4 for ipip; none without a tunnel or when
 * the two talk directly (directRouting, bgp crossSubnet: an on-link peer).
 */
export function encapPacket(
  node: NodeView,
  peer: NodeView,
  hook: "input" | "output",
): Packet | undefined {
  if (!tunnelsTo(node, peer)) return undefined;
  const t = node.facts.tunnel;
  if (t === "vxlan" || t === "udp") {
    return nodePacket(node, peer, hook, { l4proto: "udp", dport: node.facts.port });
  }
  return t === "ipip" ? nodePacket(node, peer, hook, { l4proto: "ipip" }) : undefined;
}

/**
 * Check `id`: `node`'s ruleset lets `p` (described as `what`) through; skipped when the ruleset
 * cannot be read.
 */
export async function rulesetVerdict(
  d: Diagnosis,
  id: string,
  node: NodeView,
  what: string,
  p: Packet,
): Promise<CheckResult> {
  const rs = await rulesetOf(d, node);
  if (!rs.ok) return skip(id, node.name, rs.reason);
  return verdictCheck(id, node, what, p, judge(rs.ruleset, p));
}

async function forwardChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const h of pathHops(d, pair)) {
    const rs = await rulesetOf(d, h.node);
    if (!rs.ok) {
      out.push(skip("netfilter.forward", h.node.name, rs.reason));
      continue;
    }
    const p: Packet = {
      hook: "forward",
      saddr: h.src,
      daddr: h.dst,
      l4proto: "icmp",
      iifname: h.iif,
      ...(h.answer?.ok && h.answer.route.devName ? { oifname: h.answer.route.devName } : {}),
    };
    out.push(
      verdictCheck(
        "netfilter.forward",
        h.node,
        `${h.direction} ${h.src} -> ${h.dst}`,
        p,
        judge(rs.ruleset, p),
      ),
    );
  }
  return out;
}

/** A pod address of a subnet (its second host), to judge pod traffic in general. */
function podAddressIn(subnet: string): string {
  return formatIp(nthIp(parseCidr(subnet), 2));
}

/**
 * Legacy iptables (x_tables, not nf_tables) rules are invisible to `nft list ruleset`: when the
 * node's namespace has legacy tables loaded, the static verdicts above cannot see them (warn).
 */
export function legacyCheck(node: NodeView): CheckResult | undefined {
  const k = node.kernel;
  if (!k) return undefined;
  let names = "";
  try {
    names = k.inside(() => Deno.readTextFileSync("/proc/thread-self/net/ip_tables_names")).trim();
  } catch {
    return undefined; // x_tables not loaded at all
  }
  if (!names) return undefined;
  return warn(
    "netfilter.legacy",
    node.name,
    `${node.name} has legacy iptables tables (${
      names.split("\n").join(", ")
    }) that the verdicts above cannot see`,
    {
      evidence: { "/proc/net/ip_tables_names": names.split("\n") },
      fix: `${nsExec(node)}iptables-legacy-save  # read them; move them to iptables-nft`,
    },
  );
}

/** The netfilter family. */
export const netfilterFamily: Family = {
  name: "netfilter",
  async pair(d, pair) {
    await Promise.all(pair.nodes.map((n) => rulesetOf(d, n))); // one nft per node, in parallel
    const out = await forwardChecks(d, pair);
    const [a, b] = pair.nodes;
    if (a && b) {
      for (const [n, peer] of [[a, b], [b, a]] as const) {
        const p = encapPacket(n, peer, "output");
        const rs = n.kernel ? await rulesetOf(d, n) : undefined;
        if (!p || !rs?.ok) continue;
        out.push(
          verdictCheck(
            "netfilter.output",
            n,
            `the ${n.facts.backend} packet to ${peer.name} (${p.daddr})`,
            p,
            judge(rs.ruleset, p),
          ),
        );
      }
    }
    for (const n of pair.nodes) {
      const l = legacyCheck(n);
      if (l) out.push(l);
    }
    return out;
  },
  async node(d, node) {
    const rs = await rulesetOf(d, node);
    if (!rs.ok) return [skip("netfilter.forward", node.name, rs.reason)];
    if (!node.lease) return [];
    // Pod traffic to and from every other node's subnet through the forward hook.
    const out: CheckResult[] = [];
    for (const l of d.store.leases ?? []) {
      if (l.subnet === node.lease.subnet) continue;
      const p: Packet = {
        hook: "forward",
        saddr: podAddressIn(node.lease.subnet),
        daddr: podAddressIn(l.subnet),
        l4proto: "icmp",
        iifname: node.facts.bridge,
        ...(node.facts.device ? { oifname: node.facts.device } : {}),
      };
      const v = judge(rs.ruleset, p);
      if (v.verdict === "drop" || v.unknown.length) {
        out.push(
          verdictCheck("netfilter.forward", node, `pod traffic to ${l.node} (${l.subnet})`, p, v),
        );
      }
    }
    if (!out.length) {
      out.push(
        pass(
          "netfilter.forward",
          node.name,
          `${node.name}'s ruleset forwards pod traffic to every other node`,
          { evidence: { leases: (d.store.leases ?? []).length } },
        ),
      );
    }
    const l = legacyCheck(node);
    if (l) out.push(l);
    return out;
  },
};
