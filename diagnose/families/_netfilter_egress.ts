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
import type { Diagnosis, Pair } from "../context.ts";
import { inCidr, ipv4Number } from "../context.ts";
import { judge, type Packet } from "../nft_eval.ts";
import { nsExec, pathHops } from "../path.ts";
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
  // A node's own address is no outside: every node routes the pod subnets.
  if ((d.store.leases ?? []).some((l) => l.publicIP === to.ip)) return [];
  const rs = await rulesetOf(d, node);
  if (!rs.ok) return [];
  const hop = pathHops(d, pair).find((h) => h.node === node && h.direction === "forward");
  const oif = hop?.answer?.ok ? hop.answer.route.devName : undefined;
  const p: Packet = {
    hook: "postrouting",
    saddr: from.ip,
    daddr: to.ip,
    l4proto: "icmp",
    ...(oif ? { oifname: oif } : {}),
  };
  const n = judge(rs.ruleset, p).nat;
  const evidence = {
    packet: `postrouting icmp ${from.ip} -> ${to.ip}${oif ? ` oif ${oif}` : ""}`,
    clusterNetwork: net,
  };
  if (n && (n.statement === "masquerade" || n.statement === "snat")) {
    return [
      pass("netfilter.masq", node.name, `${node.name} ${n.statement}s ${from.ip} -> ${to.ip}`, {
        evidence: { ...evidence, rewrittenBy: `${n.family} ${n.table} ${n.chain}: ${n.text}` },
      }),
    ];
  }
  return [
    fail(
      "netfilter.masq",
      node.name,
      `${node.name} does not masquerade ${from.ip} -> ${to.ip} (outside the cluster network ${net}): the replies go to a pod address the outside does not route back`,
      {
        evidence,
        fix: `${
          nsExec(node)
        }nft 'add table ip skein-egress; add chain ip skein-egress post { type nat hook postrouting priority srcnat; }; add rule ip skein-egress post ip saddr ${net} ip daddr != ${net} masquerade'  # for good: ipMasq: true in ${node.name}'s daemon config (table inet skein-masq), then drop this table`,
      },
    ),
  ];
}
