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
import { echoOf } from "../nft_icmp.ts";
import { tunnelsTo, uplinkOf } from "../path.ts";
import { rulesetOf } from "../ruleset.ts";
import { hostVethOf } from "./_pod_host.ts";
import { leasePeer, otherLeases, podAddressIn } from "./_node_peers.ts";
import { tunnelPorts } from "./packets.ts";
import { nodeOwner, verdictCheck } from "./_verdict.ts";

/** A packet of the flow; `only`: the one hook of the device it crosses (the uplink's). */
type Base = Pick<Packet, "saddr" | "daddr" | "l4proto" | "dport" | "sport" | "icmp"> & {
  only?: "ingress" | "egress";
};

/**
 * The devices of `node` that pod traffic between `src` (a pod address) and `dst` (one on `peer`)
 * crosses, each with the packets it carries (both ways); `mine`: whether a pod address is on
 * `node`; `veths`: the pods' host veths of `node` to judge too.
 */
function devicesOf(
  node: NodeView,
  peer: NodeView | undefined,
  [src, dst]: [string, string],
  mine: (ip: string) => boolean,
  veths: (string | undefined)[],
): [string, Base[]][] {
  const inner: Base[] = [
    { saddr: src, daddr: dst, l4proto: "icmp", icmp: echoOf(false) },
    { saddr: dst, daddr: src, l4proto: "icmp", icmp: echoOf(true) },
  ];
  const a = node.lease?.publicIP, b = peer?.lease?.publicIP, t = node.facts.tunnel;
  const outer: Base[] = peer && a && b && t && tunnelsTo(node, peer)
    ? [a, b].map((s) => ({
      saddr: s,
      daddr: s === a ? b : a,
      ...(t === "ipip"
        ? { l4proto: "ipip" as const }
        : { l4proto: "udp" as const, ...tunnelPorts(node) }),
    }))
    : inner;
  // On the uplink a packet goes one way: out when this node sends it, in when it receives it.
  const way = (p: Base): Base => ({
    ...p,
    only: p.saddr === a || mine(p.saddr) ? "egress" : "ingress",
  });
  const out: [string, Base[]][] = [];
  const add = (dev: string | undefined, packets: Base[]) => {
    if (dev && node.kernel?.link(dev) && !out.some(([x]) => x === dev)) out.push([dev, packets]);
  };
  add(uplinkOf(node)?.name, outer.map(way));
  add(node.facts.device, inner);
  add(node.facts.bridge, inner);
  for (const v of veths) add(v, inner);
  return out;
}

/** The devices of `node` the flow crosses, each with the packets it carries (both ways). */
function flowDevices(d: Diagnosis, node: NodeView, pair: Pair): [string, Base[]][] {
  const peer = pair.nodes.find((n) => n !== node);
  const mine = (ip: string) => [pair.from, pair.to].some((e) => e.ip === ip && e.node === node);
  const veths = [pair.from, pair.to].filter((x) => x.node === node && x.netns)
    .map((e) => hostVethOf(d, e)?.name);
  return devicesOf(node, peer, [pair.from.ip, pair.to.ip], mine, veths);
}

/** netfilter.netdev of one node: the first drop of `devices`' packets, else a pass. */
async function nodeNetdev(
  d: Diagnosis,
  node: NodeView,
  devices: [string, Base[]][],
  flow: string,
): Promise<CheckResult | undefined> {
  const rs = await rulesetOf(d, node);
  if (!rs.ok) return skip("netfilter.netdev", node.name, rs.reason);
  const chains = [...rs.ruleset.chains.values()].filter((c) => c.family === "netdev" && c.hook);
  if (!chains.length) return undefined;
  for (const [dev, packets] of devices) {
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
        if (v.verdict !== "drop") continue;
        return verdictCheck(
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
  return pass("netfilter.netdev", node.name, `${node.name}'s netdev chains pass ${flow}`, {
    evidence: {
      chains: chains.map((c) => `${c.table} ${c.name} (${c.hook} ${c.devices?.join(",") ?? "?"})`),
    },
  });
}

/** netfilter.netdev of each node of the pair that has netdev chains. */
export async function netdevChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const node of pair.nodes) {
    if (!node.kernel) continue;
    const c = await nodeNetdev(d, node, flowDevices(d, node, pair), "the flow");
    if (c) out.push(c);
  }
  return out;
}

/**
 * netfilter.netdev for `--node`: pod traffic between this node's subnet and every other lease's
 * (and its tunnel packets) on the uplink, the tunnel device and the bridge.
 */
export async function nodeNetdevChecks(d: Diagnosis, node: NodeView): Promise<CheckResult[]> {
  if (!node.kernel || !node.lease) return [];
  const src = podAddressIn(node.lease.subnet);
  const devices = otherLeases(d, node).flatMap((l) =>
    devicesOf(node, leasePeer(node, l), [src, podAddressIn(l.subnet)], (ip) => ip === src, [])
  );
  const c = await nodeNetdev(d, node, devices, "pod traffic to every other node");
  return c ? [c] : [];
}
