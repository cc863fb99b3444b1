/**
 * `netfilter`: the static verdict of the flow through each node's ruleset (nftables, including
 * iptables-nft tables): the forward hook at every hop of both directions with the hop's real
 * input and output devices, and the output hook for the encapsulated packet leaving the source
 * node (the destination's input hook for the underlay port is the underlay family's), and the
 * flow through each pod's own ruleset (netfilter.pod). `--trace` adds what the kernel itself
 * logged (trace family). The bridge tables (ebtables) are `_netfilter_bridge.ts`'s
 * netfilter.bridge, the arp tables (arptables) `_netfilter_arp.ts`'s netfilter.arp.
 *
 * @module
 */
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import type { Family } from "../family.ts";
import { judge, type NatRef, type Packet, type Ruleset } from "../nft_eval.ts";
import { type Hop, nsExec, nsPrefix, pathHops } from "../path.ts";
import { podRulesetOf, rulesetOf } from "../ruleset.ts";
import { podIf, podKernel } from "./_pod_kernel.ts";
import { bridgeChecks } from "./_netfilter_bridge.ts";
import { arpChecks } from "./_netfilter_arp.ts";
import { netdevChecks, nodeNetdevChecks } from "./_netfilter_netdev.ts";
import { egressChecks, isExternal, nodeEgressChecks } from "./_netfilter_egress.ts";
import { leasePeer, otherLeases } from "./_node_peers.ts";
import { encapPacket, podForwardPacket } from "./packets.ts";
import { dropFix, nodeOwner, verdictCheck } from "./_verdict.ts";
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
        nodeOwner(h.node),
        `${h.direction} ${h.src} -> ${h.dst}`,
        p,
        judge(rs.ruleset, p),
      ),
    );
  }
  return out;
}

/**
 * netfilter.pod: the flow through each pod's own ruleset (a sidecar's or the image's rules in the
 * pod's namespace): the source's output and the destination's input for the request (a new
 * flow), the destination's output and the source's input for the reply (established). One
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
    const request = { saddr: from.ip, daddr: to.ip, l4proto: "icmp" as const, ct: "new" as const };
    const reply = {
      saddr: to.ip,
      daddr: from.ip,
      l4proto: "icmp" as const,
      ct: "established" as const,
    };
    const dev = podIf(e);
    const packets: [string, Packet][] = e === from
      ? [
        [`the flow's packets out to ${to.ip}`, { ...request, hook: "output", oifname: dev }],
        [`the replies from ${to.ip}`, { ...reply, hook: "input", iifname: dev }],
      ]
      : [
        [`the flow's packets in from ${from.ip}`, { ...request, hook: "input", iifname: dev }],
        [`its replies to ${from.ip}`, { ...reply, hook: "output", oifname: dev }],
      ];
    const checks = packets.map(([what, p]) =>
      verdictCheck("netfilter.pod", owner, what, p, judge(rs.ruleset, p))
    );
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
 * netfilter.nat: whether a node rewrites the flow's addresses on its way from pod to pod (the
 * forward direction, at each node it crosses): a DNAT of the destination pod's address in
 * prerouting sends the packets elsewhere (fail); a masquerade or SNAT in postrouting hides the
 * source pod (warn: the pod is reached, but it sees a node's address, so NetworkPolicies and
 * logs keyed on pod addresses do not match). flannel's and skein's masquerade return early for
 * pod-to-pod traffic; a rule that masquerades the whole pod network does not.
 */
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

/** A DNAT of the flow's destination in prerouting: the packets go elsewhere. */
function dnatCheck(node: NodeView, h: Hop, n: NatRef, p: Packet): CheckResult {
  return (n.uncertain ? warn : fail)(
    "netfilter.nat",
    node.name,
    `${node.name} ${
      n.uncertain ? "may rewrite (a rule before it cannot be judged)" : "rewrites"
    } the flow's destination ${h.dst} (${n.statement}): the packets go elsewhere`,
    {
      evidence: {
        packet: `prerouting icmp ${h.src} -> ${h.dst} iif ${h.iif}`,
        rewrittenBy: natRuleText(n),
      },
      fix: natFix(node, n, p),
    },
  );
}

/** A masquerade or SNAT of pod-to-pod traffic in postrouting: the pod is reached, as a node. */
function snatCheck(node: NodeView, h: Hop, n: NatRef, p: Packet): CheckResult {
  return warn(
    "netfilter.nat",
    node.name,
    `${node.name} ${
      n.statement === "masquerade" ? "masquerades" : "SNATs"
    } the flow from pod ${h.src}: ${h.dst} sees a node's address, not the pod's (NetworkPolicies on pod addresses will not match)`,
    {
      evidence: {
        packet: `postrouting icmp ${h.src} -> ${h.dst}${p.oifname ? ` oif ${p.oifname}` : ""}`,
        rewrittenBy: natRuleText(n),
      },
      fix: `${
        natFix(node, n, p)
      }; pod-to-pod traffic should keep its addresses (return before the masquerade for the cluster network)`,
    },
  );
}

/**
 * A DNAT or REDIRECT of the tunnel's own packets (the ones the node sends to the peer, output;
 * the ones it receives, prerouting): they go to another address or port, and the peer's (or
 * this node's) tunnel device never sees them.
 */
function encapNat(node: NodeView, peer: NodeView, rs: Ruleset): CheckResult | undefined {
  for (const hook of ["output", "input"] as const) {
    const p = encapPacket(node, peer, hook);
    const n = p ? judge(rs, p).nat : undefined;
    if (!p || !n || (n.statement !== "dnat" && n.statement !== "redirect")) continue;
    const what = `${p.l4proto}${p.dport ? ` ${p.dport}` : ""} ${p.saddr} -> ${p.daddr}`;
    return (n.uncertain ? warn : fail)(
      "netfilter.nat",
      node.name,
      `${node.name} ${n.uncertain ? "may rewrite" : "rewrites"} the ${node.facts.backend} packets ${
        hook === "output" ? "it sends" : "it receives"
      } (${what}, ${n.statement}): the tunnel ${
        hook === "output" ? "on " + peer.name : "here"
      } never sees them`,
      {
        evidence: { packet: `${hook} ${what}`, rewrittenBy: natRuleText(n) },
        fix: natFix(node, n, p),
      },
    );
  }
  return undefined;
}

/**
 * `--node`: the tunnel packets this node sends to each peer through its output hook
 * (netfilter.output) and a DNAT or REDIRECT of them either way (netfilter.nat); a failing or
 * doubtful verdict per peer, else one pass each.
 */
function nodeTunnelChecks(node: NodeView, rs: Ruleset, peers: NodeView[]): CheckResult[] {
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
    const n = encapNat(node, peer, rs);
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

async function natChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const node of pair.nodes) {
    const rs = await rulesetOf(d, node);
    if (!rs.ok) continue; // netfilter.forward says why
    const hops = pathHops(d, pair).filter((h) => h.node === node && h.direction === "forward");
    let found: CheckResult | undefined;
    for (const h of hops) {
      const icmp = { saddr: h.src, daddr: h.dst, l4proto: "icmp" as const };
      const pre: Packet = { ...icmp, hook: "prerouting", iifname: h.iif };
      const oif = h.answer?.ok ? h.answer.route.devName : undefined;
      const post: Packet = { ...icmp, hook: "postrouting", ...(oif ? { oifname: oif } : {}) };
      const dnat = judge(rs.ruleset, pre).nat;
      if (dnat && (dnat.statement === "dnat" || dnat.statement === "redirect")) {
        found = dnatCheck(node, h, dnat, pre);
        break;
      }
      // A masquerade behind a rule that could not be judged (kube-proxy's mark-based RETURN before
      // its MASQUERADE) is most likely never reached by pod traffic: not reported.
      const snat = isExternal(d, pair.to.ip, node.facts.network)
        ? undefined // to the outside a masquerade is wanted (netfilter.masq)
        : judge(rs.ruleset, post).nat;
      if (
        snat && !snat.uncertain && (snat.statement === "masquerade" || snat.statement === "snat")
      ) {
        found ??= snatCheck(node, h, snat, post);
      }
    }
    const peer = pair.nodes.find((n) => n !== node);
    found ??= peer ? encapNat(node, peer, rs.ruleset) : undefined;
    out.push(
      found ??
        pass("netfilter.nat", node.name, `${node.name} rewrites neither address of the flow`, {
          evidence: { hops: hops.length },
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
      const p = podForwardPacket(node, node.lease.subnet, l.subnet);
      const v = judge(rs.ruleset, p);
      if (v.verdict === "drop" || v.unknown.some((u) => u.mayDrop)) {
        out.push(
          verdictCheck(
            "netfilter.forward",
            nodeOwner(node),
            `pod traffic to ${l.node} (${l.subnet})`,
            p,
            v,
          ),
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
    out.push(
      ...nodeTunnelChecks(node, rs.ruleset, otherLeases(d, node).map((l) => leasePeer(node, l))),
    );
    out.push(...await nodeNetdevChecks(d, node), ...await nodeEgressChecks(d, node));
    const l = await legacyNodeCheck(d, node, nodeOwner(node));
    if (l) out.push(l);
    return out;
  },
};
