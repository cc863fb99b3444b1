/**
 * The path of a flow through the nodes: which device a packet enters and leaves each node by,
 * in both directions, and the kernel's FIB answer at each step (RTM_GETROUTE with the real
 * source, destination and input device).
 *
 * @module
 */
import { isOnLink } from "../backends/direct_routing.ts";
import type { Link } from "../net/types.ts";
import { type Diagnosis, fibOn, type NodeView, type Pair } from "./context.ts";
import type { FibAnswer } from "./kernel.ts";

/** One FIB lookup on the path. */
export interface Hop {
  node: NodeView;
  /** "forward" is from → to, "reverse" is to → from. */
  direction: "forward" | "reverse";
  src: string;
  dst: string;
  /** Where the packet enters this node. */
  iif: string;
  /** The kernel's answer (undefined: the node has no kernel access here). */
  answer?: FibAnswer;
}

/** The node's uplink: the link holding its public IP (from its lease), else the configured one. */
export function uplinkOf(node: NodeView): Link | undefined {
  const k = node.kernel;
  if (!k) return undefined;
  const ip = node.lease?.publicIP;
  const byIp = ip ? k.linkWithAddr(ip) : undefined;
  if (byIp) return byIp;
  return node.facts.iface ? k.link(node.facts.iface) : undefined;
}

/**
 * The device traffic from other nodes arrives on: the tunnel device, or the uplink (host-gw).
 * With `directRouting` and a `peer` whose node IP is on the uplink's networks: the uplink.
 */
export function remoteDevOf(node: NodeView, peer?: NodeView): string | undefined {
  if (node.facts.device && !(node.facts.directRouting && peer && onLinkPeer(node, peer))) {
    return node.facts.device;
  }
  return uplinkOf(node)?.name;
}

/**
 * Whether traffic between `node` and `peer` is encapsulated: the node has a tunnel and, with
 * `directRouting` (bgp: `crossSubnet`), the peer is not on the uplink's networks.
 */
export function tunnelsTo(node: NodeView, peer: NodeView): boolean {
  return node.facts.tunnel !== undefined && !(node.facts.directRouting && onLinkPeer(node, peer));
}

/** True when `peer`'s node IP is on a network of `node`'s uplink (its address prefixes). */
function onLinkPeer(node: NodeView, peer: NodeView): boolean {
  const up = uplinkOf(node), ip = peer.lease?.publicIP;
  if (!up || !ip || !node.kernel) return false;
  return isOnLink(ip, node.kernel.addrs().filter((a) => a.index === up.index).map((a) => a.cidr));
}

/**
 * The device on `node` that leads to local pod `ip` (cni0 in bridge mode, the pod's host veth in
 * routed mode), as the kernel routes it; undefined when the node holds `ip` itself.
 */
export function podDevOf(d: Diagnosis, node: NodeView, ip: string): string | undefined {
  const a = fibOn(d, node, { dst: ip });
  // A node that takes the pod's address for its own routes it to lo (pod.host names why): the
  // pod's packets still come in by its link, which routing cannot tell.
  return a?.ok && a.route.type !== "local" ? a.route.devName : undefined;
}

/** Every FIB lookup of the pair's path, both directions. */
export function pathHops(d: Diagnosis, pair: Pair): Hop[] {
  const { from, to } = pair;
  const key = `path|${from.ip}|${to.ip}`;
  const memo = d.memo.get(key) as Hop[] | undefined;
  if (memo) return memo;
  const hops: Hop[] = [];
  const src = from.node, dst = to.node;
  const ask = (node: NodeView, direction: Hop["direction"], iif: string | undefined) => {
    const s = direction === "forward" ? from.ip : to.ip;
    const t = direction === "forward" ? to.ip : from.ip;
    if (iif === undefined) return;
    const h: Hop = { node, direction, src: s, dst: t, iif };
    // The flow is a ping: policy rules on ipproto see ICMP.
    const a = fibOn(d, node, { dst: t, src: s, iif, ipProto: 1 });
    if (a) h.answer = a;
    hops.push(h);
  };
  if (src?.kernel) {
    ask(src, "forward", podDevOf(d, src, from.ip));
    ask(src, "reverse", src === dst ? podDevOf(d, src, to.ip) : remoteDevOf(src, dst));
  }
  if (dst && dst !== src && dst.kernel) {
    ask(dst, "forward", remoteDevOf(dst, src));
    ask(dst, "reverse", podDevOf(d, dst, to.ip));
  }
  d.memo.set(key, hops);
  return hops;
}

/** `ip route get` as a command line for the fix/evidence text. */
export function hopCommand(h: Hop): string {
  return `${nsExec(h.node)}ip route get ${h.dst} from ${h.src} iif ${h.iif}`;
}

/** `/run/netns/x` → `x` (for `ip netns exec`); other paths as they are. */
export function nsName(path: string): string {
  return path.startsWith("/run/netns/") ? path.slice("/run/netns/".length) : path;
}

/** "ip netns exec NS " (or "nsenter --net=PATH ") for a node with a namespace, "" otherwise. */
export function nsExec(node: NodeView): string {
  return nsPrefix(node.kernel?.netns);
}

/** The command prefix that runs a command inside namespace `path` ("" for none). */
export function nsPrefix(path: string | undefined): string {
  if (!path) return "";
  return path.startsWith("/run/netns/")
    ? `ip netns exec ${nsName(path)} `
    : `nsenter --net=${path} `;
}
