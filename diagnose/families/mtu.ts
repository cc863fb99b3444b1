/**
 * `mtu`: each pod's MTU against the path budget (the uplink's MTU minus the backend's
 * encapsulation overhead: vxlan 50, ipip 20, host-gw 0), and the MTU of every device of the
 * path (host veth, bridge, tunnel device, uplink). `--probe` adds DF probes (probe family).
 *
 * @module
 */
import type { Link } from "../../net/types.ts";
import { backendDefinition } from "../../backends/registry.ts";
import { tryReadLeaseFile } from "../../node/lease_file.ts";
import { type CheckResult, fail, pass, skip } from "../check.ts";
import type { Diagnosis, Endpoint, NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { nsExec, nsPrefix, uplinkOf } from "../path.ts";
import { podLink } from "./_pod_kernel.ts";
import { within } from "../route_diff.ts";

/**
 * Encapsulation overhead over an IPv4 underlay of a backend or a tunnel kind (vxlan, ipip, udp:
 * the backend table's, node/mtu.ts).
 */
export function overhead(backend: string): number {
  return backendDefinition(backend)?.capabilities.overhead[4] ?? 0;
}

/** The largest pod MTU the node's path carries, with its parts; undefined without an uplink. */
export function budgetOf(
  node: NodeView,
): { budget: number; uplink: string; uplinkMtu: number; overhead: number } | undefined {
  const up = uplinkOf(node);
  const o = overhead(node.facts.tunnel ?? node.facts.backend);
  if (up) return { budget: up.mtu - o, uplink: up.name, uplinkMtu: up.mtu, overhead: o };
  const dbg = node.daemon?.debug?.uplink;
  if (dbg) return { budget: dbg.mtu - o, uplink: dbg.name, uplinkMtu: dbg.mtu, overhead: o };
  return undefined;
}

/** The smallest budget of the nodes a flow crosses. */
export function pathBudget(nodes: readonly NodeView[]): number | undefined {
  const b = nodes.map(budgetOf).filter((x) => x !== undefined).map((x) => x!.budget);
  return b.length ? Math.min(...b) : undefined;
}

/**
 * Two nodes on one network whose uplinks differ in MTU: the smaller side drops the larger
 * frames the other sends (and the pods' budget follows the smaller). A mismatch on one segment
 * is a fault whichever side meant it; the fix raises the smaller to the other's.
 */
function uplinkMismatch(a: NodeView, b: NodeView): CheckResult | undefined {
  const ua = uplinkOf(a), ub = uplinkOf(b), ipb = b.lease?.publicIP;
  if (!ua || !ub || !ipb || ua.mtu === ub.mtu) return undefined;
  const onLink = a.kernel?.addrs().some((x) =>
    x.index === ua.index && x.family === 4 && within(`${ipb}/32`, x.cidr)
  );
  if (!onLink) return undefined; // a router between them fragments or answers Frag needed
  const [lo, hi] = ua.mtu < ub.mtu ? [[a, ua], [b, ub]] as const : [[b, ub], [a, ua]] as const;
  return fail(
    "mtu.uplink",
    lo[0].name,
    `${lo[0].name}'s uplink ${lo[1].name} has MTU ${lo[1].mtu}, ${
      hi[0].name
    }'s on the same network ${hi[1].mtu}: frames over ${lo[1].mtu} bytes from ${
      hi[0].name
    } are dropped`,
    {
      evidence: {
        [lo[0].name]: `${lo[1].name} mtu ${lo[1].mtu}`,
        [hi[0].name]: `${hi[1].name} mtu ${hi[1].mtu}`,
      },
      fix: `${nsExec(lo[0])}ip link set ${lo[1].name} mtu ${
        hi[1].mtu
      }  # or every node's uplink to ${lo[1].mtu}, with the pods' MTU below it`,
    },
  );
}

function podMtu(d: Diagnosis, e: Endpoint, nodes: NodeView[]): CheckResult | undefined {
  const eth0 = podLink(d, e);
  if (!eth0 || !e.node) return undefined;
  const budget = pathBudget(nodes);
  if (budget === undefined) {
    return skip("mtu.pod", e.node.name, "the uplink MTU of the path is not known");
  }
  const ev = {
    pod: e.podName ?? e.ip,
    eth0Mtu: eth0.mtu,
    pathBudget: budget,
    nodes: nodes.map((n) => ({ node: n.name, ...budgetOf(n) })),
  };
  if (eth0.mtu > budget) {
    return fail(
      "mtu.pod",
      e.node.name,
      `pod ${
        e.podName ?? e.ip
      } has MTU ${eth0.mtu}, above the path budget ${budget}: large packets are dropped (TCP stalls once ICMP is filtered)`,
      {
        evidence: ev,
        fix: `${
          nsPrefix(e.netns)
        }ip link set ${eth0.name} mtu ${budget}  # and set the CNI "mtu" / daemon backend.mtu to ${budget}, then recreate pods`,
      },
    );
  }
  const below = belowHostVeth(d, e, budget, ev);
  if (below) return below;
  return pass(
    "mtu.pod",
    e.node.name,
    `pod ${e.podName ?? e.ip} MTU ${eth0.mtu} fits the path budget ${budget}`,
    { evidence: ev },
  );
}

/**
 * A pod whose eth0 MTU is below both its host veth's and the path budget: the node forwards it
 * frames up to the veth's MTU, and the veth drops the larger ones on the pod's side without an ICMP
 * error (large pings and UDP are lost; TCP gets by on the MSS the pod announces).
 */
function belowHostVeth(
  d: Diagnosis,
  e: Endpoint,
  budget: number,
  ev: Record<string, unknown>,
): CheckResult | undefined {
  const eth0 = podLink(d, e)!, k = e.node?.kernel;
  const host = eth0.parentIndex !== undefined ? k?.link(eth0.parentIndex) : undefined;
  if (!host || eth0.mtu >= host.mtu || eth0.mtu >= budget) return undefined;
  const want = Math.min(host.mtu, budget);
  return fail(
    "mtu.pod",
    e.node!.name,
    `pod ${
      e.podName ?? e.ip
    } has MTU ${eth0.mtu}, below its host veth ${host.name}'s ${host.mtu}: ` +
      `packets over ${eth0.mtu} bytes towards it are dropped at the veth, with no ICMP error`,
    {
      evidence: { ...ev, hostVeth: host.name, hostVethMtu: host.mtu },
      fix: `${nsPrefix(e.netns)}ip link set ${eth0.name} mtu ${want}`,
    },
  );
}

function deviceMtus(node: NodeView, podMtus: number[]): CheckResult[] {
  const k = node.kernel;
  if (!k) return [];
  const b = budgetOf(node);
  if (!b) return [skip("mtu.device", node.name, `${node.name}'s uplink is not known`)];
  const out: CheckResult[] = [];
  const tun = node.facts.device ? k.link(node.facts.device) : undefined;
  if (tun && tun.mtu > b.budget) {
    out.push(
      fail(
        "mtu.device",
        node.name,
        `${tun.name} MTU ${tun.mtu} exceeds ${b.uplink} MTU ${b.uplinkMtu} minus ${b.overhead} bytes of ${node.facts.backend} overhead`,
        {
          evidence: {
            device: tun.name,
            mtu: tun.mtu,
            uplink: b.uplink,
            uplinkMtu: b.uplinkMtu,
            overhead: b.overhead,
          },
          fix: `${nsExec(node)}ip link set ${tun.name} mtu ${b.budget}`,
        },
      ),
    );
  }
  // What the devices must carry: the pods' largest MTU, but no more than the path budget (a pod
  // above it is mtu.pod's failure; raising the bridge or tunnel to its MTU would not help).
  const need = podMtus.length ? Math.min(Math.max(...podMtus), b.budget) : undefined;
  const br = k.link(node.facts.bridge);
  for (const l of [br, tun].filter((x) => x !== undefined)) {
    if (need !== undefined && l!.mtu < need) out.push(belowPods(node, l!, l === br, need));
  }
  if (!out.length) {
    out.push(
      pass(
        "mtu.device",
        node.name,
        `device MTUs on ${node.name} fit (${
          [b.uplink, tun?.name, br?.name].filter((x) => x).join(", ")
        })`,
        {
          evidence: {
            uplink: `${b.uplink} ${b.uplinkMtu}`,
            tunnel: tun ? `${tun.name} ${tun.mtu}` : "none",
            bridge: br ? `${br.name} ${br.mtu}` : "none",
            budget: b.budget,
          },
        },
      ),
    );
  }
  return out;
}

/**
 * A bridge or tunnel below the pods' MTU `need`. A bridge takes its smallest port's MTU: when a
 * port holds it down, that port is the one to raise.
 */
function belowPods(node: NodeView, l: Link, isBridge: boolean, need: number): CheckResult {
  const k = node.kernel!;
  const port = isBridge
    ? k.links().find((p) => p.masterIndex === l.index && p.mtu === l.mtu)
    : undefined;
  return fail(
    "mtu.device",
    node.name,
    `${l.name} MTU ${l.mtu} is below the pods' MTU ${need}: their full-size packets are ` +
      `dropped there${port ? ` (a bridge takes its smallest port's MTU: ${port.name}'s)` : ""}`,
    {
      evidence: {
        device: l.name,
        mtu: l.mtu,
        podMtu: need,
        ...(port ? { smallestPort: `${port.name} ${port.mtu}` } : {}),
      },
      fix: port
        ? `${nsExec(node)}ip link set ${port.name} mtu ${need}  # the bridge follows`
        : `${nsExec(node)}ip link set ${l.name} mtu ${need}`,
    },
  );
}

function leaseMtu(node: NodeView): CheckResult | undefined {
  const path = node.facts.leaseFile;
  const b = budgetOf(node);
  if (!path || !node.kernel || !b) return undefined;
  const mtu = tryReadLeaseFile(path)?.mtu; // undefined: lease.file reports why
  if (mtu === undefined) return undefined;
  const ev = { leaseFile: path, mtu, budget: b.budget };
  return mtu > b.budget
    ? fail(
      "mtu.lease",
      node.name,
      `the lease file hands new pods MTU ${mtu}, above the budget ${b.budget}`,
      {
        evidence: ev,
        fix: `set backend.mtu (or remove it) in the daemon config and restart the daemon`,
      },
    )
    : pass("mtu.lease", node.name, `new pods get MTU ${mtu} (budget ${b.budget})`, {
      evidence: ev,
    });
}

/**
 * The pod's host-side veth must carry the pod's full-size packets, up to the path budget (a pod
 * above the budget is mtu.pod's failure, not its veth's).
 */
function hostVethMtu(d: Diagnosis, e: Endpoint): CheckResult | undefined {
  const eth0 = podLink(d, e);
  const k = e.node?.kernel;
  const host = eth0?.parentIndex !== undefined ? k?.link(eth0.parentIndex) : undefined;
  if (!eth0 || !host) return undefined;
  const budget = budgetOf(e.node!)?.budget;
  const need = budget === undefined ? eth0.mtu : Math.min(eth0.mtu, budget);
  if (host.mtu >= need) return undefined;
  return fail(
    "mtu.device",
    e.node!.name,
    `host veth ${host.name} MTU ${host.mtu} is below pod ${e.podName ?? e.ip}'s MTU ${eth0.mtu}`,
    {
      evidence: { hostVeth: host.name, mtu: host.mtu, podMtu: eth0.mtu },
      fix: `${nsExec(e.node!)}ip link set ${host.name} mtu ${need}`,
    },
  );
}

/** The mtu family. */
export const mtuFamily: Family = {
  name: "mtu",
  pair(d, pair) {
    const out: CheckResult[] = [];
    const [a, b] = pair.nodes;
    const u = a && b ? uplinkMismatch(a, b) : undefined;
    if (u) out.push(u);
    const pods: number[] = [];
    for (const e of [pair.from, pair.to]) {
      const c = podMtu(d, e, pair.nodes);
      if (c) out.push(c);
      const m = podLink(d, e)?.mtu;
      if (m) pods.push(m);
    }
    for (const n of pair.nodes) {
      out.push(...deviceMtus(n, pods));
      const l = leaseMtu(n);
      if (l) out.push(l);
    }
    for (const e of [pair.from, pair.to]) {
      const c = hostVethMtu(d, e);
      if (c) out.push(c);
    }
    return out;
  },
  node(_d, node) {
    const out = deviceMtus(node, []);
    const l = leaseMtu(node);
    if (l) out.push(l);
    return out;
  },
};
