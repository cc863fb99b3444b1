/**
 * `xfrm`: IPsec (XFRM) policies on the nodes the flow crosses. skein sets none; one left by an
 * IPsec setup, a VPN agent or a test sits before every route and firewall rule and drops the
 * flow while `ip route get` and the rulesets all look right. A `block` policy whose selector
 * matches the flow's packets fails; an `allow` policy with templates requires IPsec for them
 * and fails when the node has no security association at all (the kernel drops them:
 * XfrmOutNoStates), warns otherwise. The packets judged: the pods' packets forwarded by each
 * node (dir fwd, both directions), and on a tunnel the encapsulated ones the node sends (out)
 * and receives (in).
 *
 * @module
 */
import { xfrmPolicies, type XfrmPolicy, xfrmStateCount } from "../../net/mod.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { nsExec, tunnelsTo } from "../path.ts";
import { within } from "../route_diff.ts";
import { leasePeer, otherLeases, podAddressIn } from "./_node_peers.ts";

/** One packet as XFRM selectors see it, and the policy direction that judges it. */
interface XPacket {
  dir: XfrmPolicy["dir"];
  src: string;
  dst: string;
  proto: number;
  dport?: number;
}

const PROTO_NAMES: Record<number, string> = { 1: "icmp", 4: "ipip", 6: "tcp", 17: "udp" };

function selects(p: XfrmPolicy, x: XPacket): boolean {
  return p.dir === x.dir && within(`${x.src}/32`, p.src) && within(`${x.dst}/32`, p.dst) &&
    (p.proto === 0 || p.proto === x.proto) && p.sport === undefined &&
    (p.dport === undefined || p.dport === x.dport);
}

/** `ip xfrm policy` words for a policy's selector (what `delete` needs). */
function selectorText(p: XfrmPolicy): string {
  const proto = p.proto ? ` proto ${PROTO_NAMES[p.proto] ?? p.proto}` : "";
  const dport = p.dport !== undefined ? ` dport ${p.dport}` : "";
  return `src ${p.src} dst ${p.dst}${proto}${dport} dir ${p.dir}`;
}

/**
 * The packets `node` handles between pod addresses `src` and `dst` (one on `peer`), with the
 * policy direction of each.
 */
function packetsOf(
  node: NodeView,
  peer: NodeView | undefined,
  src: string,
  dst: string,
): XPacket[] {
  const out: XPacket[] = [
    { dir: "fwd", src, dst, proto: 1 },
    { dir: "fwd", src: dst, dst: src, proto: 1 },
  ];
  const a = node.lease?.publicIP, b = peer?.lease?.publicIP, t = node.facts.tunnel;
  if (peer && a && b && t && tunnelsTo(node, peer)) {
    const l4 = t === "ipip" ? { proto: 4 } : { proto: 17, dport: node.facts.port };
    out.push({ dir: "out", src: a, dst: b, ...l4 }, { dir: "in", src: b, dst: a, ...l4 });
  }
  return out;
}

/** The xfrm.policy check of one node for `packets` (the flow's, or pod traffic to every peer). */
function nodeCheck(node: NodeView, packets: XPacket[], flow: string): CheckResult {
  const k = node.kernel!;
  let policies: XfrmPolicy[], states: number;
  try {
    [policies, states] = k.inside(() => [xfrmPolicies(), xfrmStateCount()] as const);
  } catch (e) {
    return skip(
      "xfrm.policy",
      node.name,
      `cannot read ${node.name}'s XFRM policies: ${(e as Error).message}`,
    );
  }
  const byPriority = [...policies].sort((a, b) => a.priority - b.priority);
  const hits = packets.flatMap((x) => {
    const p = byPriority.find((q) => selects(q, x));
    return p && (p.action === "block" || p.templates > 0) ? [{ x, p }] : [];
  });
  const evidence = {
    policies: policies.map((p) =>
      `${selectorText(p)} ${p.action}${p.templates ? ` tmpl x${p.templates}` : ""}`
    ),
    states,
  };
  const hit = hits.find((h) => h.p.action === "block") ?? hits[0];
  if (!hit) {
    return pass(
      "xfrm.policy",
      node.name,
      `no XFRM policy on ${node.name} blocks or encrypts ${flow}`,
      { evidence },
    );
  }
  const what = `${hit.x.src} -> ${hit.x.dst} (${
    PROTO_NAMES[hit.x.proto] ?? hit.x.proto
  }, dir ${hit.x.dir})`;
  const fix = `${nsExec(node)}ip xfrm policy delete ${
    selectorText(hit.p)
  }  # after checking who added it`;
  if (hit.p.action === "block") {
    return fail(
      "xfrm.policy",
      node.name,
      `XFRM policy "${selectorText(hit.p)} action block" on ${node.name} drops ${what}`,
      { evidence, fix },
    );
  }
  return (states === 0 ? fail : warn)(
    "xfrm.policy",
    node.name,
    `XFRM policy "${selectorText(hit.p)}" on ${node.name} requires IPsec for ${what}${
      states === 0
        ? ", and there is no security association: the kernel drops the packets"
        : ": the peer must share its SAs"
    }`,
    {
      evidence,
      fix: states === 0
        ? fix
        : `${nsExec(node)}ip xfrm state list  # the SAs must match the peer's; or ${fix}`,
    },
  );
}

/** The xfrm family. */
export const xfrmFamily: Family = {
  name: "xfrm",
  pair(_d, pair) {
    if (pair.nodes.length < 2) return [];
    return pair.nodes.filter((n) => n.kernel).map((n) => {
      const peer = pair.nodes.find((x) => x !== n);
      return nodeCheck(n, packetsOf(n, peer, pair.from.ip, pair.to.ip), "the flow");
    });
  },
  // Pod traffic between this node's subnet and every other lease's, and its tunnel packets.
  node(d, node) {
    if (!node.kernel || !node.lease) return [];
    const packets = otherLeases(d, node).flatMap((l) => {
      return packetsOf(
        node,
        leasePeer(node, l),
        podAddressIn(node.lease!.subnet),
        podAddressIn(l.subnet),
      );
    });
    return [nodeCheck(node, packets, "pod traffic to any other node")];
  },
};
