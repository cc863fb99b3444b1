/**
 * `netfilter.arp`: the ARP the flow needs through each node's arp tables (nft's arp family, which
 * arptables-nft fills). On a node with a bridged pod of the flow: the pod resolving its gateway
 * (in on the bridge) and the node answering or resolving the pod (out on the bridge). On a node
 * whose traffic goes to another node: the node resolving its next hop on the uplink (out) and
 * being resolved by it (in). One check per node: its first drop, else a warning for rules it
 * cannot judge that could drop (an `--opcode` match), else a pass.
 *
 * @module
 */
import { type CheckResult, pass } from "../check.ts";
import { type Diagnosis, type Endpoint, fibOn, type NodeView, type Pair } from "../context.ts";
import { judge, type Packet } from "../nft_eval.ts";
import { rulesetOf } from "../ruleset.ts";
import { hostVethOf, podGatewayTo, podModeOf } from "./_pod_host.ts";
import { nodeOwner, verdictCheck } from "./_verdict.ts";

/** One ARP exchange as two packets (in and out of the node's stack), with what it is. */
function exchange(
  what: string,
  dev: string,
  node: string,
  other: string,
): [string, Packet][] {
  const base = { layer: "arp" as const, l4proto: "icmp" as const };
  return [
    [`${what}: in on ${dev} from ${other}`, {
      ...base,
      hook: "input",
      saddr: other,
      daddr: node,
      iifname: dev,
    }],
    [`${what}: out on ${dev} to ${other}`, {
      ...base,
      hook: "output",
      saddr: node,
      daddr: other,
      oifname: dev,
    }],
  ];
}

/** A bridged pod of the flow on `node` and its gateway there: the pod's ARP with the node. */
function podArp(d: Diagnosis, e: Endpoint, peer: Endpoint): [string, Packet][] {
  const node = e.node;
  if (!node?.kernel || !e.netns || podModeOf(d, e) !== "bridge") return [];
  const port = hostVethOf(d, e);
  const bridge = port?.masterIndex !== undefined ? node.kernel.link(port.masterIndex) : undefined;
  const gw = podGatewayTo(d, e, peer.ip)?.ip;
  if (!bridge || !gw) return []; // an on-link peer: the pods resolve each other, not the node
  return exchange(`pod ${e.podName ?? e.ip} and its gateway ${gw}`, bridge.name, gw, e.ip);
}

/** The node's next hop toward `peer`'s node on its uplink: their ARP. */
function underlayArp(d: Diagnosis, node: NodeView, peer: NodeView): [string, Packet][] {
  const dst = peer.lease?.publicIP;
  const a = dst ? fibOn(d, node, { dst }) : undefined;
  if (!a?.ok || !a.route.devName) return [];
  const hop = a.route.gateway ?? dst!;
  const src = a.route.src ?? node.lease?.publicIP;
  if (!src) return [];
  return exchange(
    `${node.name} and its next hop ${hop} toward ${peer.name}`,
    a.route.devName,
    src,
    hop,
  );
}

/** `netfilter.arp` for a flow (see the module doc). */
export async function arpChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const { from, to } = pair;
  const nodes = [...new Set([from.node, to.node].filter((n): n is NodeView => !!n?.kernel))];
  const out: CheckResult[] = [];
  for (const node of nodes) {
    const rs = await rulesetOf(d, node);
    if (!rs.ok) continue; // netfilter.forward says why
    const hasArp = [...rs.ruleset.chains.values()].some((c) => c.family === "arp" && c.hook);
    const packets: [string, Packet][] = [];
    for (const [e, peer] of [[from, to], [to, from]] as const) {
      if (e.node === node) packets.push(...podArp(d, e, peer));
    }
    const other = nodes.find((n) => n !== node);
    if (other) packets.push(...underlayArp(d, node, other));
    const checks = hasArp
      ? packets.map(([what, p]) =>
        verdictCheck("netfilter.arp", nodeOwner(node), what, p, judge(rs.ruleset, p))
      )
      : [];
    out.push(
      checks.find((c) => c.status === "fail") ?? checks.find((c) => c.status === "warn") ??
        pass(
          "netfilter.arp",
          node.name,
          hasArp
            ? `${node.name}'s arp tables pass the ARP the flow needs`
            : `${node.name} has no arp tables`,
          { evidence: { judged: checks.length } },
        ),
    );
  }
  return out;
}
