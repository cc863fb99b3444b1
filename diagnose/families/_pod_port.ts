/**
 * `pod.port`: the bridge port flags (`bridge -d link show`) that decide whether frames reach
 * the flow's pods. No CNI plugin sets them; someone did by hand, or a tool meant for another
 * bridge did:
 *
 * - two pods on one bridge whose host veths are both `isolated` never exchange a frame (the
 *   bridge's own traffic, the path to other nodes, still passes);
 * - a port with `bcast_flood off` gets no broadcast from another port: a pod on the same bridge
 *   cannot resolve it by ARP (the node's own requests still reach it);
 * - a port with `learning off` and `flood off` and no FDB entry for its pod's MAC gets no unicast
 *   frame at all, not even the node's;
 * - a port with `proxy_arp on` (`ip link set DEV type bridge_slave proxy_arp on`) gets nothing the
 *   bridge floods, not even the node's own broadcasts: no ARP request for the pod reaches it, so
 *   once the neighbour entries for it expire neither the node nor another pod can resolve it.
 *
 * @module
 */
import type { Link } from "../../net/types.ts";
import { type CheckResult, fail, pass } from "../check.ts";
import type { Diagnosis, Endpoint, NodeView, Pair } from "../context.ts";
import { nsExec } from "../path.ts";
import type { Kernel } from "../kernel.ts";
import { podLink } from "./_pod_kernel.ts";
import { hostVethOf, podModeOf } from "./_pod_host.ts";

/** A bridged endpoint of the flow and its host veth. */
interface Port {
  e: Endpoint;
  host: Link;
  name: string;
}

function portOf(d: Diagnosis, e: Endpoint): Port | undefined {
  if (!e.node?.kernel || !e.netns || podModeOf(d, e) !== "bridge") return undefined;
  const host = hostVethOf(d, e);
  if (host?.masterIndex === undefined) return undefined; // pod.host says why
  return { e, host, name: e.podName ?? e.ip };
}

/** The flags in `bridge link set`'s words. */
const WORDS: Readonly<Record<string, string>> = {
  learning: "learning",
  flood: "flood",
  bcastFlood: "bcast_flood",
  mcastFlood: "mcast_flood",
  isolated: "isolated",
  proxyArp: "proxy_arp",
};

function flagsText(h: Link): string {
  const f = h.portFlags ?? {};
  return Object.entries(f).map(([k, v]) => `${WORDS[k] ?? k} ${v ? "on" : "off"}`).join(", ");
}

/** Unicast to the pod: neither learned nor flooded, and no entry for its MAC on its port. */
function unicastCheck(d: Diagnosis, p: Port): CheckResult | undefined {
  const f = p.host.portFlags;
  if (f?.learning !== false || f.flood !== false) return undefined;
  const k = p.e.node!.kernel!;
  const mac = podLink(d, p.e)?.mac?.toLowerCase();
  if (mac && k.fdbs().some((x) => x.index === p.host.index && x.mac.toLowerCase() === mac)) {
    return undefined;
  }
  return fail(
    "pod.port",
    p.e.node!.name,
    `host veth ${p.host.name} of pod ${p.name} neither learns nor floods: the bridge sends no ` +
      `unicast frame to the pod`,
    {
      evidence: { hostVeth: p.host.name, flags: flagsText(p.host), podMac: mac ?? "-" },
      fix: `${nsExec(p.e.node!)}bridge link set dev ${p.host.name} learning on flood on`,
    },
  );
}

/** A port with proxy ARP on: the bridge floods nothing to it (br_flood skips BR_PROXYARP ports). */
function proxyArpCheck(p: Port): CheckResult | undefined {
  if (p.host.portFlags?.proxyArp !== true) return undefined;
  return fail(
    "pod.port",
    p.e.node!.name,
    `host veth ${p.host.name} of pod ${p.name} is a proxy_arp bridge port: the bridge floods ` +
      `nothing to it, so no ARP request for ${p.e.ip} (not even the node's) reaches the pod`,
    {
      evidence: { hostVeth: p.host.name, flags: flagsText(p.host) },
      fix: `${nsExec(p.e.node!)}ip link set dev ${p.host.name} type bridge_slave proxy_arp off`,
    },
  );
}

/** Checks between two ports of one bridge: isolation, and broadcasts into the receiver. */
function sameBridgeChecks(a: Port, b: Port): CheckResult[] {
  const node = a.e.node!, ns = nsExec(node);
  const out: CheckResult[] = [];
  if (a.host.portFlags?.isolated && b.host.portFlags?.isolated) {
    out.push(fail(
      "pod.port",
      node.name,
      `host veths ${a.host.name} (pod ${a.name}) and ${b.host.name} (pod ${b.name}) are both ` +
        `isolated ports: the bridge passes no frame between them`,
      {
        evidence: { [a.host.name]: flagsText(a.host), [b.host.name]: flagsText(b.host) },
        fix: `${ns}bridge link set dev ${a.host.name} isolated off; ` +
          `${ns}bridge link set dev ${b.host.name} isolated off`,
      },
    ));
  }
  for (const [from, to] of [[a, b], [b, a]] as const) {
    if (to.host.portFlags?.bcastFlood !== false) continue;
    out.push(fail(
      "pod.port",
      node.name,
      `host veth ${to.host.name} of pod ${to.name} takes no broadcast from other ports ` +
        `(bcast_flood off): pod ${from.name}'s ARP request for it never arrives`,
      {
        evidence: { hostVeth: to.host.name, flags: flagsText(to.host) },
        fix: `${ns}bridge link set dev ${to.host.name} bcast_flood on`,
      },
    ));
  }
  return out;
}

/** `pod.port` for a flow: fails as the module doc says, else one pass per bridged pod. */
export function portChecks(d: Diagnosis, pair: Pair): CheckResult[] {
  const ports = [pair.from, pair.to].filter((e, i, all) => all.indexOf(e) === i)
    .map((e) => portOf(d, e)).filter((p): p is Port => p !== undefined);
  const out: CheckResult[] = [];
  for (const p of ports) {
    for (const c of [unicastCheck(d, p), proxyArpCheck(p)]) if (c) out.push(c);
  }
  const [a, b] = ports;
  if (a && b && a.e.node === b.e.node && a.host.masterIndex === b.host.masterIndex) {
    out.push(...sameBridgeChecks(a, b));
  }
  if (out.length) return out;
  return ports.map((p) =>
    pass("pod.port", p.e.node!.name, `${p.host.name} (pod ${p.name}): ${flagsText(p.host)}`, {
      evidence: { hostVeth: p.host.name, flags: flagsText(p.host) },
    })
  );
}

/**
 * What is wrong with the flags of bridge port `p` of kernel `k`, whatever is behind it: [why, fix]
 * (`ns` prefixes the commands). Shared with the lab's segment bridges (lab.segment).
 */
export function portFlagFaults(k: Kernel, p: Link, ns: string): [string, string][] {
  const f = p.portFlags ?? {};
  const out: [string, string][] = [];
  if (f.proxyArp) {
    out.push([
      "is a proxy_arp port: the bridge floods nothing to it, no ARP request reaches the device behind it",
      `${ns}ip link set dev ${p.name} type bridge_slave proxy_arp off`,
    ]);
  }
  if (f.bcastFlood === false) {
    out.push([
      "takes no broadcast from other ports (bcast_flood off): their ARP requests never reach the device behind it",
      `${ns}bridge link set dev ${p.name} bcast_flood on`,
    ]);
  }
  // Only its own addresses (local entries) on the port: nothing tells the bridge who is behind it.
  const known = k.fdbs().some((x) => x.master && x.index === p.index && x.state !== "permanent");
  if (f.learning === false && f.flood === false && !known) {
    out.push([
      "neither learns nor floods: the bridge sends the device behind it no unicast frame",
      `${ns}bridge link set dev ${p.name} learning on flood on`,
    ]);
  }
  return out;
}

/**
 * `pod.port` for `--node`: every veth port of the node's bridge (the pods' host veths) against
 * the flags that cut its pod off (proxy_arp, bcast_flood off, learning and flood off), and the
 * isolated ports (two or more pass no frame between them). One pass when none is wrong.
 */
/**
 * The bridge is missing while pods' host veths are there (skein's `sk` + 12 hex names, on no
 * bridge): deleted under its pods, whose traffic now goes nowhere. A node without pods has no
 * bridge yet (the first ADD makes it): nothing to say.
 */
function orphanVeths(node: NodeView): CheckResult[] {
  const k = node.kernel!, br = node.facts.bridge;
  // A routed pod's host veth is on no bridge by design: a /32 route of the CNI's (proto 101).
  const routed = new Set(k.routes().filter((r) => r.protocol === 101).map((r) => r.oif));
  const veths = k.links().filter((l) =>
    l.kind === "veth" && /^sk[0-9a-f]{12}$/.test(l.name) && l.masterIndex === undefined &&
    !routed.has(l.index)
  );
  if (!veths.length) return [];
  return [fail(
    "pod.host",
    node.name,
    `bridge ${br} is missing on ${node.name}: the host veths of its ${veths.length} pod(s) are on no bridge`,
    {
      evidence: { bridge: br, hostVeths: veths.slice(0, 20).map((l) => l.name) },
      fix: `${nsExec(node)}ip link add ${br} type bridge && ${nsExec(node)}ip link set ${br} up; ` +
        "then recreate the pods (their CNI ADD puts back the bridge's address and their ports)",
    },
  )];
}

export function nodePortChecks(node: NodeView): CheckResult[] {
  const k = node.kernel, bridge = k?.link(node.facts.bridge);
  if (!k) return [];
  if (!bridge) return orphanVeths(node);
  const ports = k.links().filter((l) => l.masterIndex === bridge.index && l.kind === "veth");
  const out: CheckResult[] = [];
  for (const p of ports) {
    for (const [why, fix] of portFlagFaults(k, p, nsExec(node))) {
      out.push(fail("pod.port", node.name, `host veth ${p.name} on ${bridge.name} ${why}`, {
        evidence: { hostVeth: p.name, flags: flagsText(p) },
        fix,
      }));
    }
  }
  const isolated = ports.filter((p) => p.portFlags?.isolated);
  if (isolated.length >= 2) {
    const names = isolated.map((p) => p.name);
    out.push(fail(
      "pod.port",
      node.name,
      `${names.join(", ")} are isolated ports of ${bridge.name}: their pods exchange no frame`,
      {
        evidence: { isolated: names },
        fix: names.map((n) => `${nsExec(node)}bridge link set dev ${n} isolated off`).join("; "),
      },
    ));
  }
  if (out.length) return out;
  return [
    pass("pod.port", node.name, `the ${ports.length} pod ports of ${bridge.name} pass frames`, {
      evidence: { bridge: bridge.name, ports: ports.length },
    }),
  ];
}
