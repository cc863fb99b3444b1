/**
 * `netfilter`: the static verdict of the flow through each node's ruleset (nftables, including
 * iptables-nft tables): the forward hook at every hop of both directions with the hop's real
 * input and output devices (a reply is invalid for conntrack where the node's ruleset took its
 * request out of conntrack: reply_ct.ts), and the output hook for the encapsulated packet leaving the source
 * node (the destination's input hook for the underlay port is the underlay family's), and the
 * flow through each pod's own ruleset (netfilter.pod). `--trace` adds what the kernel itself
 * logged (trace family). Rewrites are `_netfilter_nat.ts`'s netfilter.nat, the bridge tables
 * (ebtables) `_netfilter_bridge.ts`'s netfilter.bridge, the arp tables (arptables)
 * `_netfilter_arp.ts`'s netfilter.arp.
 *
 * @module
 */
import { type CheckResult, pass, skip } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import type { Family } from "../family.ts";
import { judge, type Packet, type Ruleset, type Verdict } from "../nft_eval.ts";
import { judgeReply } from "../reply_ct.ts";
import { echoOf } from "../nft_icmp.ts";
import { nsPrefix, pathHops } from "../path.ts";
import { podRulesetOf, rulesetOf } from "../ruleset.ts";
import { podIf, podKernel } from "./_pod_kernel.ts";
import { bridgeChecks } from "./_netfilter_bridge.ts";
import { arpChecks } from "./_netfilter_arp.ts";
import { netdevChecks, nodeNetdevChecks } from "./_netfilter_netdev.ts";
import { egressChecks, nodeEgressChecks } from "./_netfilter_egress.ts";
import { encapNat, natChecks, type NatFinder, natFinders } from "./_netfilter_nat.ts";
import { leasePeer, otherLeases } from "./_node_peers.ts";
import { encapPacket, podForwardPacket, podInboundPacket } from "./packets.ts";
import { nodeOwner, verdictCheck } from "./_verdict.ts";
import { judgedLegacy, legacyNodeCheck, legacyPairChecks } from "./_netfilter_legacy.ts";

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
  return verdictCheck(id, nodeOwner(node), what, p, judge(rs.ruleset, p));
}

/**
 * netfilter.forward: each hop's forward verdict; a node's reply (reverse) in the state conntrack
 * gives it there: invalid when the node's ruleset took the request out of conntrack (reply_ct.ts).
 */
async function forwardChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const requests = new Map<NodeView, Verdict>();
  for (const h of pathHops(d, pair)) {
    const rs = await rulesetOf(d, h.node);
    if (!rs.ok) {
      out.push(skip("netfilter.forward", h.node.name, rs.reason));
      continue;
    }
    const hop: Packet = {
      hook: "forward",
      saddr: h.src,
      daddr: h.dst,
      l4proto: "icmp",
      icmp: echoOf(h.direction === "reverse"),
      // The reply belongs to the connection the request opened on this node (reply_ct.ts when
      // the request was taken out of conntrack): a `ct state established drop` drops it.
      ct: h.direction === "reverse" ? "established" : "new",
      iifname: h.iif,
      ...(h.answer?.ok && h.answer.route.devName ? { oifname: h.answer.route.devName } : {}),
    };
    const request = h.direction === "reverse" ? requests.get(h.node) : undefined;
    const { packet, verdict } = request
      ? judgeReply(rs.ruleset, hop, request)
      : { packet: hop, verdict: judge(rs.ruleset, hop) };
    if (h.direction === "forward") requests.set(h.node, verdict);
    out.push(
      verdictCheck(
        "netfilter.forward",
        nodeOwner(h.node),
        `${h.direction} ${h.src} -> ${h.dst}`,
        packet,
        verdict,
      ),
    );
  }
  return out;
}

/**
 * netfilter.pod: the flow through each pod's own ruleset (a sidecar's or the image's rules in the
 * pod's namespace): the source's output and the destination's input for the request (a new
 * flow), the destination's output and the source's input for the reply (established; invalid
 * where the pod's ruleset took the request out of conntrack: reply_ct.ts). One
 * check per pod: its first drop, else a warning for rules it cannot judge, else a pass.
 */
async function podChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const { from, to } = pair;
  if (from.ip === to.ip) return out;
  for (const e of [from, to]) {
    if (!e.netns || !e.node?.kernel) continue;
    const pod = `pod ${e.podName ?? e.ip}`;
    const owner = { label: e.node.name, who: pod, exec: nsPrefix(e.netns) };
    const rs = await podRulesetOf(d, e);
    if (!rs.ok) {
      out.push(skip("netfilter.pod", owner.label, `${pod}: ${rs.reason}`));
      continue;
    }
    const request = {
      saddr: from.ip,
      daddr: to.ip,
      l4proto: "icmp" as const,
      icmp: echoOf(false),
      ct: "new" as const,
    };
    const reply = {
      saddr: to.ip,
      daddr: from.ip,
      l4proto: "icmp" as const,
      icmp: echoOf(true),
      ct: "established" as const,
    };
    const dev = podIf(e);
    const [req, rep]: [[string, Packet], [string, Packet]] = e === from
      ? [
        [`the flow's packets out to ${to.ip}`, { ...request, hook: "output", oifname: dev }],
        [`the replies from ${to.ip}`, { ...reply, hook: "input", iifname: dev }],
      ]
      : [
        [`the flow's packets in from ${from.ip}`, { ...request, hook: "input", iifname: dev }],
        [`its replies to ${from.ip}`, { ...reply, hook: "output", oifname: dev }],
      ];
    // The reply in the state conntrack gives it in the pod: invalid after a notracked request.
    const rv = judge(rs.ruleset, req[1]);
    const back = judgeReply(rs.ruleset, rep[1], rv);
    const packets: [string, Packet][] = [req, [rep[0], back.packet]];
    const checks = [
      verdictCheck("netfilter.pod", owner, req[0], req[1], rv),
      verdictCheck("netfilter.pod", owner, rep[0], back.packet, back.verdict),
    ];
    const legacy = await judgedLegacy(d, podKernel(d, e), owner, packets);
    if (legacy) out.push(legacy);
    out.push(
      checks.find((c) => c.status === "fail") ?? checks.find((c) => c.status === "warn") ??
        pass("netfilter.pod", owner.label, `${pod}'s ruleset lets the flow through both ways`, {
          evidence: {
            chains: [...new Set(checks.flatMap((c) => c.evidence.chains as string[] | string))],
          },
        }),
    );
  }
  return out;
}

/**
 * `--node`: the tunnel packets this node sends to each peer through its output hook
 * (netfilter.output) and a DNAT or REDIRECT of them either way (netfilter.nat); a failing or
 * doubtful verdict per peer, else one pass each.
 */
function nodeTunnelChecks(
  node: NodeView,
  rs: Ruleset,
  peers: NodeView[],
  finders: NatFinder[],
): CheckResult[] {
  const out: CheckResult[] = [];
  let judged = 0;
  for (const peer of peers) {
    const p = encapPacket(node, peer, "output");
    if (!p) continue;
    judged++;
    const v = judge(rs, p);
    if (v.verdict === "drop" || v.unknown.some((u) => u.mayDrop)) {
      const what = `the ${node.facts.backend} packet to ${peer.name} (${p.daddr})`;
      out.push(verdictCheck("netfilter.output", nodeOwner(node), what, p, v));
    }
    const n = encapNat(node, peer, finders);
    if (n) out.push(n);
  }
  if (judged && !out.some((c) => c.id === "netfilter.output")) {
    out.push(
      pass(
        "netfilter.output",
        node.name,
        `${node.name}'s output hook passes its ${node.facts.backend} packets to every other node`,
        { evidence: { peers: judged } },
      ),
    );
  }
  if (judged && !out.some((c) => c.id === "netfilter.nat")) {
    out.push(
      pass("netfilter.nat", node.name, `${node.name} rewrites none of its tunnel packets`, {
        evidence: { peers: judged },
      }),
    );
  }
  return out;
}

/** The netfilter family. */
export const netfilterFamily: Family = {
  name: "netfilter",
  async pair(d, pair) {
    await Promise.all(pair.nodes.map((n) => rulesetOf(d, n))); // one nft per node, in parallel
    const out = [
      ...await forwardChecks(d, pair),
      ...await natChecks(d, pair),
      ...await podChecks(d, pair),
      ...await bridgeChecks(d, pair),
      ...await arpChecks(d, pair),
      ...await netdevChecks(d, pair),
      ...await egressChecks(d, pair),
    ];
    const [a, b] = pair.nodes;
    if (a && b) {
      for (const [n, peer] of [[a, b], [b, a]] as const) {
        const p = encapPacket(n, peer, "output");
        const rs = n.kernel ? await rulesetOf(d, n) : undefined;
        if (!p || !rs?.ok) continue;
        out.push(
          verdictCheck(
            "netfilter.output",
            nodeOwner(n),
            `the ${n.facts.backend} packet to ${peer.name} (${p.daddr})`,
            p,
            judge(rs.ruleset, p),
          ),
        );
      }
    }
    out.push(...await legacyPairChecks(d, pair, nodeOwner));
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
      const own = node.lease.subnet;
      // Out to the peer's pods, in from them (a new connection), and the replies coming back.
      const packets: [string, Packet][] = [
        [`pod traffic to ${l.node} (${l.subnet})`, podForwardPacket(node, own, l.subnet)],
        [`pod traffic from ${l.node} (${l.subnet})`, podInboundPacket(node, l.subnet, own, false)],
        [`replies from ${l.node} (${l.subnet})`, podInboundPacket(node, l.subnet, own, true)],
      ];
      for (const [what, p] of packets) {
        const v = judge(rs.ruleset, p);
        if (v.verdict === "drop" || v.unknown.some((u) => u.mayDrop)) {
          out.push(verdictCheck("netfilter.forward", nodeOwner(node), what, p, v));
          break;
        }
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
    out.push(
      ...nodeTunnelChecks(
        node,
        rs.ruleset,
        otherLeases(d, node).map((l) => leasePeer(node, l)),
        await natFinders(d, node),
      ),
    );
    out.push(...await nodeNetdevChecks(d, node), ...await nodeEgressChecks(d, node));
    const l = await legacyNodeCheck(d, node, nodeOwner(node));
    if (l) out.push(l);
    return out;
  },
};
