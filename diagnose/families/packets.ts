/**
 * The packets the netfilter judgements put through a node's rulesets: between two nodes' public
 * IPs on the uplink (plain, or encapsulated for the tunnel), and pod traffic through the forward
 * hook.
 *
 * @module
 */
import type { NodeView } from "../context.ts";
import type { Packet } from "../nft_eval.ts";
import { echoOf } from "../nft_icmp.ts";
import { tunnelsTo, uplinkOf } from "../path.ts";
import { podAddressIn } from "./_node_peers.ts";

/**
 * A packet between two nodes' public IPs as `node`'s `hook` sees it on its uplink: from `peer` on
 * the input hook, to it on the output hook.
 */
export function nodePacket(
  node: NodeView,
  peer: NodeView,
  hook: "input" | "output",
  l4: Pick<Packet, "l4proto" | "dport" | "sport" | "icmp">,
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
 * the two talk directly (directRouting, bgp crossSubnet: an on-link peer). The udp backend's
 * packets come from that port too (the daemon's socket is bound to it); VXLAN's source port is
 * a hash of the inner flow, not known here.
 */
export function encapPacket(
  node: NodeView,
  peer: NodeView,
  hook: "input" | "output",
): Packet | undefined {
  if (!tunnelsTo(node, peer)) return undefined;
  const t = node.facts.tunnel;
  if (t === "vxlan" || t === "udp") {
    return nodePacket(node, peer, hook, { l4proto: "udp", ...tunnelPorts(node) });
  }
  return t === "ipip" ? nodePacket(node, peer, hook, { l4proto: "ipip" }) : undefined;
}

/**
 * The UDP ports of `node`'s tunnel packets: to its port (vxlan, udp), from it too for the udp
 * backend, whose socket is bound to it.
 */
export function tunnelPorts(node: NodeView): Pick<Packet, "dport" | "sport"> {
  const port = node.facts.port;
  return node.facts.tunnel === "udp" ? { sport: port, dport: port } : { dport: port };
}

/**
 * Pod traffic from subnet `from` (`node`'s own) to subnet `to` as `node`'s forward hook sees it:
 * in on the node's bridge, out on its tunnel device when the backend has one (an ICMP echo
 * between two pod addresses standing for the subnets).
 */
export function podForwardPacket(node: NodeView, from: string, to: string): Packet {
  return podPacket(node, from, to, "out");
}

/**
 * A packet from a pod of subnet `from` (another node's) to one of `to` (this node's), as this
 * node forwards it: in by its tunnel device (its uplink without one), out to the bridge; a new
 * connection's echo request, or (`reply`) the echo reply to this node's pod.
 */
export function podInboundPacket(
  node: NodeView,
  from: string,
  to: string,
  reply: boolean,
): Packet {
  return podPacket(node, from, to, reply ? "reply" : "in");
}

function podPacket(
  node: NodeView,
  from: string,
  to: string,
  way: "out" | "in" | "reply",
): Packet {
  if (way !== "out") {
    const dev = node.facts.device ?? uplinkOf(node)?.name;
    return {
      hook: "forward",
      saddr: podAddressIn(from),
      daddr: podAddressIn(to),
      l4proto: "icmp",
      icmp: echoOf(way === "reply"),
      ct: way === "reply" ? "established" : "new",
      ...(dev ? { iifname: dev } : {}),
      oifname: node.facts.bridge,
    };
  }
  return {
    hook: "forward",
    saddr: podAddressIn(from),
    daddr: podAddressIn(to),
    l4proto: "icmp",
    icmp: echoOf(false),
    iifname: node.facts.bridge,
    ...(node.facts.device ? { oifname: node.facts.device } : {}),
  };
}
