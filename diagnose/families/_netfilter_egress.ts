/**
 * `netfilter.masq`: a flow from a pod to an address outside the cluster network (no lease covers
 * it, the cluster network does not hold it). Its replies come back only when the pod's node
 * masquerades it (skein's daemon with `ipMasq: true`: `table inet skein-masq`; or any SNAT): the
 * outside does not route pod addresses. The source node's postrouting verdict for the packet,
 * out of the device its route takes, must rewrite the source.
 *
 * @module
 */
import { type CheckResult, fail, pass } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import { inCidr, ipv4Number } from "../context.ts";
import { judge, type Packet, type Ruleset } from "../nft_eval.ts";
import { echoOf } from "../nft_icmp.ts";
import { nsExec, pathHops, uplinkOf } from "../path.ts";
import { LeaseFileError, readLeaseFile } from "../../node/lease_file.ts";
import { podAddressIn } from "./_node_peers.ts";
import { rulesetOf } from "../ruleset.ts";

/** Whether `ip` is outside the cluster network and no node's address (an external destination). */
export function isExternal(d: Diagnosis, ip: string, net: string | undefined): boolean {
  if (!net || inCidr(ipv4Number(ip) ?? 0, net)) return false;
  // A node's own address is no outside: every node routes the pod subnets.
  return !(d.store.leases ?? []).some((l) => l.publicIP === ip);
}

/** netfilter.masq for a pod → outside flow (nothing for pod → pod). */
export async function egressChecks(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const { from, to } = pair;
  const node = from.node;
  const net = node?.facts.network;
  if (!node?.kernel || to.node || !isExternal(d, to.ip, net)) return [];
  const rs = await rulesetOf(d, node);
  if (!rs.ok) return [];
  const hop = pathHops(d, pair).find((h) => h.node === node && h.direction === "forward");
  const oif = hop?.answer?.ok ? hop.answer.route.devName : undefined;
  return [masqCheck(node, rs.ruleset, from.ip, to.ip, oif, net!)];
}

/**
 * netfilter.masq for `--node` when the node's daemon masquerades (`ipMasq: true` in the lease file
 * it writes): a pod's packet to an address outside the cluster network (TEST-NET-3's 203.0.113.1,
 * judged, never sent) out of the uplink must be rewritten.
 */
export async function nodeEgressChecks(d: Diagnosis, node: NodeView): Promise<CheckResult[]> {
  const net = node.facts.network, path = node.facts.leaseFile;
  if (!node.kernel || !node.lease || !net || !path || !isExternal(d, OUTSIDE, net)) return [];
  let ipMasq: boolean | undefined;
  try {
    ipMasq = readLeaseFile(path).ipMasq;
  } catch (e) {
    if (e instanceof LeaseFileError) return []; // lease.file says why
    throw e;
  }
  if (ipMasq !== true) return [];
  const rs = await rulesetOf(d, node);
  if (!rs.ok) return [];
  const from = podAddressIn(node.lease.subnet);
  return [masqCheck(node, rs.ruleset, from, OUTSIDE, uplinkOf(node)?.name, net, true)];
}

/** An address outside every cluster (TEST-NET-3, RFC 5737): judged, never sent. */
const OUTSIDE = "203.0.113.1";

/** The postrouting verdict of `from` → `to` out of `oif` on `node` must masquerade or SNAT it. */
function masqCheck(
  node: NodeView,
  rs: Ruleset,
  from: string,
  to: string,
  oif: string | undefined,
  net: string,
  configured = false,
): CheckResult {
  const p: Packet = {
    hook: "postrouting",
    saddr: from,
    daddr: to,
    l4proto: "icmp",
    icmp: echoOf(false),
    ...(oif ? { oifname: oif } : {}),
  };
  const n = judge(rs, p).nat;
  const evidence = {
    packet: `postrouting icmp ${from} -> ${to}${oif ? ` oif ${oif}` : ""}`,
    clusterNetwork: net,
    ...(configured ? { ipMasq: true } : {}),
  };
  if (n && (n.statement === "masquerade" || n.statement === "snat")) {
    return pass("netfilter.masq", node.name, `${node.name} ${n.statement}s ${from} -> ${to}`, {
      evidence: { ...evidence, rewrittenBy: `${n.family} ${n.table} ${n.chain}: ${n.text}` },
    });
  }
  return fail(
    "netfilter.masq",
    node.name,
    `${node.name} does not masquerade ${from} -> ${to} (outside the cluster network ${net})${
      configured ? ` although its daemon's lease file says ipMasq: true` : ""
    }: the replies go to a pod address the outside does not route back`,
    {
      evidence,
      fix: `${
        nsExec(node)
      }nft 'add table ip skein-egress; add chain ip skein-egress post { type nat hook postrouting priority srcnat; }; add rule ip skein-egress post ip saddr ${net} ip daddr != ${net} masquerade'  # for good: ${
        configured
          ? `restart ${node.name}'s daemon (it adds table inet skein-masq)`
          : `ipMasq: true in ${node.name}'s daemon config (table inet skein-masq)`
      }, then drop this table`,
    },
  );
}
