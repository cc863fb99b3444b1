/**
 * `netfilter.netdev`: nftables chains of the netdev family (`hook ingress device eth0`, `hook
 * egress ...`) on the devices the flow crosses. They see every packet on that device before the
 * IP stack (ingress) or after it (egress), so a drop there is invisible to the forward and input
 * verdicts. Each node's uplink is judged with the packets it carries (the tunnel's, or the pods'
 * own without one), the tunnel device, the bridge and the pods' host veths with the pods'.
 *
 * @module
 */
import { type CheckResult, pass, skip } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import { judge, type Packet } from "../nft_eval.ts";
import { tunnelsTo, uplinkOf } from "../path.ts";
import { rulesetOf } from "../ruleset.ts";
import { hostVethOf } from "./_pod_host.ts";
import { nodeOwner, verdictCheck } from "./_verdict.ts";

/** A packet of the flow; `only`: the one hook of the device it crosses (the uplink's). */
type Base = Pick<Packet, "saddr" | "daddr" | "l4proto" | "dport"> & { only?: "ingress" | "egress" };

/** The devices of `node` the flow crosses, each with the packets it carries (both ways). */
function devicesOf(d: Diagnosis, node: NodeView, pair: Pair): [string, Base[]][] {
  const inner: Base[] = [
    { saddr: pair.from.ip, daddr: pair.to.ip, l4proto: "icmp" },
    { saddr: pair.to.ip, daddr: pair.from.ip, l4proto: "icmp" },
  ];
  const peer = pair.nodes.find((n) => n !== node);
  const a = node.lease?.publicIP, b = peer?.lease?.publicIP, t = node.facts.tunnel;
  const outer: Base[] = peer && a && b && t && tunnelsTo(node, peer)
    ? [a, b].map((src) => ({
      saddr: src,
      daddr: src === a ? b : a,
      ...(t === "ipip"
        ? { l4proto: "ipip" as const }
        : { l4proto: "udp" as const, dport: node.facts.port }),
    }))
    : inner;
  // On the uplink a packet goes one way: out when this node sends it, in when it receives it.
  const mine = (ip: string) =>
    ip === a || [pair.from, pair.to].some((e) => e.ip === ip && e.node === node);
  const way = (p: Base): Base => ({ ...p, only: mine(p.saddr) ? "egress" : "ingress" });
  const out: [string, Base[]][] = [];
  const add = (dev: string | undefined, packets: Base[]) => {
    if (dev && node.kernel?.link(dev) && !out.some(([x]) => x === dev)) out.push([dev, packets]);
  };
  add(uplinkOf(node)?.name, outer.map(way));
  add(node.facts.device, inner);
  add(node.facts.bridge, inner);
  for (const e of [pair.from, pair.to].filter((x) => x.node === node && x.netns)) {
    add(hostVethOf(d, e)?.name, inner);
  }
  return out;
}

/** netfilter.netdev of each node of the pair that has netdev chains. */
export async function netdevChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const node of pair.nodes) {
    if (!node.kernel) continue;
    const rs = await rulesetOf(d, node);
    if (!rs.ok) {
      out.push(skip("netfilter.netdev", node.name, rs.reason));
      continue;
    }
    const chains = [...rs.ruleset.chains.values()].filter((c) => c.family === "netdev" && c.hook);
    if (!chains.length) continue;
    let dropped: CheckResult | undefined;
    for (const [dev, packets] of devicesOf(d, node, pair)) {
      for (const b of packets) {
        for (const hook of b.only ? [b.only] : ["ingress", "egress"] as const) {
          const { only: _only, ...base } = b;
          const p: Packet = {
            ...base,
            hook,
            layer: "netdev",
            ...(hook === "ingress" ? { iifname: dev } : { oifname: dev }),
          };
          const v = judge(rs.ruleset, p);
          if (v.verdict === "drop") {
            dropped ??= verdictCheck(
              "netfilter.netdev",
              nodeOwner(node),
              `${b.l4proto}${
                b.dport ? ` ${b.dport}` : ""
              } ${b.saddr} -> ${b.daddr} at ${hook} of ${dev}`,
              p,
              v,
            );
          }
        }
      }
    }
    out.push(
      dropped ??
        pass("netfilter.netdev", node.name, `${node.name}'s netdev chains pass the flow`, {
          evidence: {
            chains: chains.map((c) =>
              `${c.table} ${c.name} (${c.hook} ${c.devices?.join(",") ?? "?"})`
            ),
          },
        }),
    );
  }
  return out;
}
