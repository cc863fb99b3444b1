/**
 * `netfilter.bridge`: the flow's frames through the bridge tables (nft's bridge family, which
 * ebtables-nft fills) on each node with a bridged pod of the flow. A frame between two pods of
 * one bridge crosses its prerouting, forward and postrouting hooks; a pod's frame to its gateway
 * (the flow leaving the node) prerouting and input; the node's frame to a pod output and
 * postrouting. Both directions are judged (the reply as established), and the ARP frames the
 * same ports carry (a pod resolving its gateway or the other pod, the node resolving the pod).
 * One check per node: its first drop, else a warning for rules it cannot judge that could drop,
 * else a pass.
 *
 * @module
 */
import type { Link } from "../../net/types.ts";
import { type CheckResult, pass } from "../check.ts";
import type { Diagnosis, Endpoint, NodeView, Pair } from "../context.ts";
import { judge, type Packet } from "../nft_eval.ts";
import { echoOf } from "../nft_icmp.ts";
import { rulesetOf } from "../ruleset.ts";
import { hostVethOf, podGatewayTo, podModeOf } from "./_pod_host.ts";
import { nodeOwner, verdictCheck } from "./_verdict.ts";

/** A bridged pod of the flow: its host veth (a port) and the bridge. */
interface Bridged {
  e: Endpoint;
  node: NodeView;
  port: Link;
  bridge: string;
}

function bridgedOf(d: Diagnosis, e: Endpoint): Bridged | undefined {
  const node = e.node;
  if (!node?.kernel || !e.netns || podModeOf(d, e) !== "bridge") return undefined;
  const port = hostVethOf(d, e);
  if (port?.masterIndex === undefined) return undefined; // pod.host says why
  const bridge = node.kernel.link(port.masterIndex)?.name;
  return bridge ? { e, node, port, bridge } : undefined;
}

/**
 * The frames of the flow on one node, each with what it is in words: `from` and `to` are the
 * flow's bridged pods on that node (undefined: elsewhere, or not bridged).
 */
function framesOn(
  pair: Pair,
  from: Bridged | undefined,
  to: Bridged | undefined,
): [string, Packet][] {
  const icmp = { l4proto: "icmp" as const, layer: "bridge" as const };
  const out: [string, Packet][] = [];
  if (from && to && from.node === to.node && from.bridge === to.bridge) {
    const base = { ...icmp, bridge: from.bridge };
    const [a, b] = [from.e.ip, to.e.ip];
    return [
      [`${a} -> ${b} between ports ${from.port.name} and ${to.port.name}`, {
        ...base,
        hook: "forward",
        saddr: a,
        daddr: b,
        icmp: echoOf(false),
        iifname: from.port.name,
        oifname: to.port.name,
      }],
      [`the replies ${b} -> ${a}`, {
        ...base,
        hook: "forward",
        saddr: b,
        daddr: a,
        icmp: echoOf(true),
        iifname: to.port.name,
        oifname: from.port.name,
        ct: "established",
      }],
    ];
  }
  // Across nodes: each pod's frames go up to the node (input) and come down from it (output).
  for (const [x, peer, request] of [[from, pair.to.ip, true], [to, pair.from.ip, false]] as const) {
    if (!x) continue;
    const base = { ...icmp, bridge: x.bridge };
    const up: Packet = {
      ...base,
      hook: "input",
      saddr: x.e.ip,
      daddr: peer,
      icmp: echoOf(!request),
      iifname: x.port.name,
      ...(request ? {} : { ct: "established" as const }),
    };
    const down: Packet = {
      ...base,
      hook: "output",
      saddr: peer,
      daddr: x.e.ip,
      icmp: echoOf(request),
      oifname: x.port.name,
      ...(request ? { ct: "established" as const } : {}),
    };
    out.push(
      [`${x.e.ip} -> ${peer} in from port ${x.port.name}`, up],
      [`${peer} -> ${x.e.ip} out to port ${x.port.name}`, down],
    );
  }
  return out;
}

/**
 * The IPv4 frames, then one ARP frame per hook and ports they use: between the two pods on one
 * bridge, else between a pod and its gateway (`gateways`: by the pod's port) when it is known.
 */
function withArp(frames: [string, Packet][], gateways: Map<string, string>): [string, Packet][] {
  const seen = new Set<string>();
  const arp: [string, Packet][] = [];
  for (const [, p] of frames) {
    const k = `${p.hook} ${p.iifname} ${p.oifname}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const { ct: _ct, ...rest } = p;
    if (p.hook === "input" && gateways.has(p.iifname!)) rest.daddr = gateways.get(p.iifname!)!;
    if (p.hook === "output" && gateways.has(p.oifname!)) rest.saddr = gateways.get(p.oifname!)!;
    const ports = [
      p.iifname && `in from port ${p.iifname}`,
      p.oifname && `out to port ${p.oifname}`,
    ]
      .filter(Boolean).join(" ");
    arp.push([`ARP between ${rest.saddr} and ${rest.daddr} ${ports}`, { ...rest, arp: true }]);
  }
  return [...frames, ...arp];
}

/** `netfilter.bridge` for a flow (see the module doc). */
export async function bridgeChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const from = bridgedOf(d, pair.from), to = bridgedOf(d, pair.to);
  const nodes = [...new Set([from?.node, to?.node].filter((n): n is NodeView => !!n))];
  const out: CheckResult[] = [];
  for (const node of nodes) {
    const rs = await rulesetOf(d, node);
    if (!rs.ok) continue; // netfilter.forward says why
    const mine = (b: Bridged | undefined) => b?.node === node ? b : undefined;
    const gateways = new Map<string, string>();
    for (const [b, peer] of [[mine(from), pair.to], [mine(to), pair.from]] as const) {
      const gw = b ? podGatewayTo(d, b.e, peer.ip)?.ip : undefined;
      if (b && gw) gateways.set(b.port.name, gw);
    }
    const checks = withArp(framesOn(pair, mine(from), mine(to)), gateways).map(([what, p]) =>
      verdictCheck("netfilter.bridge", nodeOwner(node), what, p, judge(rs.ruleset, p))
    );
    const chains = [...new Set(checks.flatMap((c) => c.evidence.chains as string[] | string))];
    out.push(
      checks.find((c) => c.status === "fail") ?? checks.find((c) => c.status === "warn") ??
        pass("netfilter.bridge", node.name, `${node.name}'s bridge tables pass the flow's frames`, {
          evidence: { chains },
        }),
    );
  }
  return out;
}
