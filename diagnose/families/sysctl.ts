/**
 * `sysctl`: IPv4 forwarding on every node of the path, the effective reverse-path filter
 * (max of `all` and the interface's) on every interface a packet enters by, flagged where the
 * path is asymmetric (the route back leaves by another device: strict rp_filter drops it), and
 * in bridge mode br_netfilter with bridge-nf-call-iptables; `sysctl.neigh` (_sysctl_neigh.ts):
 * every device the flow needs ARP on sends ARP requests.
 *
 * @module
 */
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import { confKey } from "../kernel.ts";
import { type Diagnosis, ipv4Number, type NodeView, type Pair } from "../context.ts";
import { firstHolding } from "../kernel_index.ts";
import { answeringRule, ruleText } from "../rule_walk.ts";
import type { Family } from "../family.ts";
import { nsExec, pathHops, remoteDevOf, uplinkOf } from "../path.ts";
import { neighSolicitChecks, neighTableCheck, nodeNeighSolicitChecks } from "./_sysctl_neigh.ts";

const RP_WORDS: Record<string, string> = { "0": "off", "1": "strict", "2": "loose" };

function ipForward(node: NodeView): CheckResult {
  const id = "sysctl.ip_forward";
  const k = node.kernel;
  const v = k
    ? k.sysctl("net.ipv4.ip_forward")
    : node.daemon?.debug?.sysctls["net.ipv4.ip_forward"];
  const from = k ? "kernel" : "peer daemon /debug/state";
  if (v === undefined) {
    return skip(
      id,
      node.name,
      `no kernel access to ${node.name} and no /debug/state from its daemon`,
    );
  }
  if (v === "1") {
    return pass(id, node.name, "IPv4 forwarding is on", {
      evidence: { "net.ipv4.ip_forward": v, source: from },
    });
  }
  return fail(
    id,
    node.name,
    `IPv4 forwarding is off on ${node.name}: it drops every packet between pods and other nodes`,
    {
      evidence: { "net.ipv4.ip_forward": v, source: from },
      fix: `${nsExec(node)}sysctl -w net.ipv4.ip_forward=1`,
    },
  );
}

/** Effective rp_filter of `dev` on a node: max(all, dev). */
export function effectiveRpFilter(
  node: NodeView,
  dev: string,
): { all?: string; dev?: string; effective?: number } {
  const k = node.kernel;
  if (!k) return {};
  k.readSysctls(["net/ipv4/conf/all/rp_filter", `net/ipv4/conf/${dev}/rp_filter`]);
  const all = k.sysctl("net/ipv4/conf/all/rp_filter");
  const d = k.sysctl(`net/ipv4/conf/${dev}/rp_filter`);
  const out: { all?: string; dev?: string; effective?: number } = {};
  if (all !== undefined) out.all = all;
  if (d !== undefined) out.dev = d;
  if (all !== undefined || d !== undefined) {
    out.effective = Math.max(Number(all ?? 0), Number(d ?? 0));
  }
  return out;
}

/**
 * The device the kernel's reverse-path check finds for `src` (the lookup it makes is the reply's:
 * from `dst` to `src`, so source-based policy rules take part): the table of the first rule that
 * answers that flow, else the kernel's own lookup (a lookup from a pod's address is not one the
 * kernel answers for an output route).
 */
function routeBack(
  node: NodeView,
  src: string,
  dst: string,
): { dev?: string; rule?: string; error?: string } {
  const k = node.kernel!;
  const rule = answeringRule(k.rules(), k.routes(), { src: dst, dst: src, ipProto: 1 });
  if (rule && rule.table !== 254) {
    const r = firstHolding(k.routes(), rule.table, ipv4Number(src));
    const dev = r?.oif !== undefined ? k.link(r.oif)?.name : undefined;
    if (dev) return { dev, rule: ruleText(rule) };
  }
  const a = k.fib({ dst: src, ipProto: 1 });
  return a.ok ? (a.route.devName ? { dev: a.route.devName } : {}) : { error: a.message };
}

function rpFilter(d: Diagnosis, pair: Pair): CheckResult[] {
  const out: CheckResult[] = [];
  const id = "sysctl.rp_filter";
  const hops = pathHops(d, pair);
  for (const h of hops) {
    const rp = effectiveRpFilter(h.node, h.iif);
    if (rp.effective === undefined) continue;
    const back = routeBack(h.node, h.src, h.dst);
    const backDev = back.dev;
    const asymmetric = backDev !== undefined && backDev !== h.iif;
    const evidence = {
      device: h.iif,
      "net.ipv4.conf.all.rp_filter": rp.all,
      [`net.ipv4.conf.${h.iif}.rp_filter`]: rp.dev,
      effective: `${rp.effective} (${RP_WORDS[String(rp.effective)] ?? "?"})`,
      packet: `${h.src} -> ${h.dst} arriving on ${h.iif}`,
      routeBackToSource: backDev ? `dev ${backDev}` : back.error ?? "?",
      ...(back.rule ? { ruleBack: back.rule } : {}),
      asymmetric,
    };
    const rejected = h.answer && !h.answer.ok && h.answer.code === "EINVAL";
    if (rp.effective === 1 && (asymmetric || rejected)) {
      out.push(
        fail(
          id,
          h.node.name,
          `strict rp_filter on ${h.iif} drops ${h.src} -> ${h.dst}: the route back to ${h.src} leaves by ${
            backDev ?? "no device"
          }, not ${h.iif}${back.rule ? ` (policy rule "${back.rule}" sends it there)` : ""}`,
          {
            evidence,
            fix: `${nsExec(h.node)}sysctl -w net.ipv4.conf.all.rp_filter=2 ${
              confKey(h.iif, "rp_filter")
            }=2`,
          },
        ),
      );
    } else if (asymmetric && rp.effective === 2) {
      out.push(
        pass(id, h.node.name, `path through ${h.iif} is asymmetric but rp_filter is loose`, {
          evidence,
        }),
      );
    } else {
      out.push(
        pass(
          id,
          h.node.name,
          `rp_filter ${RP_WORDS[String(rp.effective)]} on ${h.iif} accepts ${h.src} -> ${h.dst}`,
          { evidence },
        ),
      );
    }
  }
  return out;
}

function brNetfilter(node: NodeView): CheckResult | undefined {
  const k = node.kernel;
  if (!k || !k.link(node.facts.bridge)) return undefined;
  const id = "sysctl.br_netfilter";
  const v = k.sysctl("net.bridge.bridge-nf-call-iptables");
  if (v === undefined) {
    return warn(
      id,
      node.name,
      `br_netfilter is not loaded: traffic between pods on ${node.facts.bridge} bypasses iptables (kube-proxy Services between pods on one node break)`,
      {
        evidence: { "/proc/sys/net/bridge": "absent", bridge: node.facts.bridge },
        fix: `modprobe br_netfilter && ${
          nsExec(node)
        }sysctl -w net.bridge.bridge-nf-call-iptables=1`,
      },
    );
  }
  if (v !== "1") {
    return warn(
      id,
      node.name,
      `bridge-nf-call-iptables is ${v}: bridged pod traffic on ${node.facts.bridge} bypasses iptables`,
      {
        evidence: { "net.bridge.bridge-nf-call-iptables": v, bridge: node.facts.bridge },
        fix: `${nsExec(node)}sysctl -w net.bridge.bridge-nf-call-iptables=1`,
      },
    );
  }
  return pass(
    id,
    node.name,
    `br_netfilter loaded, bridge-nf-call-iptables=1 on ${node.facts.bridge}`,
    {
      evidence: { "net.bridge.bridge-nf-call-iptables": v },
    },
  );
}

function nodeRp(node: NodeView): CheckResult[] {
  const out: CheckResult[] = [];
  for (const dev of new Set([uplinkOf(node)?.name, remoteDevOf(node)])) {
    if (!dev) continue;
    const rp = effectiveRpFilter(node, dev);
    if (rp.effective === undefined) continue;
    const evidence = { device: dev, all: rp.all, dev: rp.dev, effective: rp.effective };
    out.push(
      rp.effective === 1
        ? warn(
          "sysctl.rp_filter",
          node.name,
          `strict rp_filter on ${dev}: any asymmetric pod path through it is dropped`,
          {
            evidence,
            fix: `${nsExec(node)}sysctl -w net.ipv4.conf.all.rp_filter=2 ${
              confKey(dev, "rp_filter")
            }=2`,
          },
        )
        : pass(
          "sysctl.rp_filter",
          node.name,
          `rp_filter ${RP_WORDS[String(rp.effective)]} on ${dev}`,
          { evidence },
        ),
    );
  }
  return out;
}

/** The sysctl family. */
export const sysctlFamily: Family = {
  name: "sysctl",
  pair(d, pair) {
    const out = pair.nodes.map(ipForward);
    out.push(...rpFilter(d, pair), ...neighSolicitChecks(d, pair));
    for (const n of pair.nodes) {
      const b = brNetfilter(n);
      if (b) out.push(b);
      const t = neighTableCheck(n);
      if (t) out.push(t);
    }
    return out;
  },
  node(_d, node) {
    const out = [ipForward(node), ...nodeRp(node), ...nodeNeighSolicitChecks(node)];
    const t = neighTableCheck(node);
    if (t) out.push(t);
    const b = brNetfilter(node);
    if (b) out.push(b);
    return out;
  },
};
