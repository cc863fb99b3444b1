/**
 * `tc`: traffic-control filters on the devices the flow crosses (each node's uplink, tunnel
 * device, bridge and the pods' host veths; each pod's eth0). skein installs none; a filter left
 * by a chaos test, another CNI or a shaping tool can drop the flow's packets or redirect them
 * elsewhere while every route, neighbour and firewall rule is right. A filter that drops or
 * redirects (not to an ifb device: the bandwidth plugin's shaping) fails when it matches the
 * flow's packets as that device sees them (the pods' addresses; on the uplink of a tunnel, the
 * nodes' addresses and the tunnel's port: u32_eval.ts), passes when it cannot, and warns when it
 * cannot be judged (keys on other fields, a BPF program that decides by itself). tc.xdp warns
 * for an XDP program on those devices (it runs before tc; what it returns cannot be read here).
 * tc.qdisc fails for a qdisc there that drops every packet (_tc_qdisc.ts).
 *
 * @module
 */
import type { TcFilter } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import type { Family } from "../family.ts";
import type { Kernel } from "../kernel.ts";
import { nsExec, nsPrefix, tunnelsTo, uplinkOf } from "../path.ts";
import { u32Matches, type U32Packet } from "../u32_eval.ts";
import { podIf, podKernel } from "./_pod_kernel.ts";
import { hostVethOf } from "./_pod_host.ts";
import { qdiscCheck } from "./_tc_qdisc.ts";

/** TC_ACT_SHOT: the packet is dropped. */
const SHOT = 2;
/** ETH_P_ALL and ETH_P_IP: the protocols whose filters see IPv4 packets. */
const SEES_IPV4 = new Set([0x0003, 0x0800]);

/** A device on the path and the flow's packets as it sees them (both directions). */
interface Device {
  name: string;
  packets: U32Packet[];
}

/** Whose devices are looked at: a node's or a pod's namespace. */
interface Place {
  label: string;
  who: string;
  k: Kernel;
  exec: string;
  devices: Device[];
}

/** Whether filter `f` matches one of the flow's packets on `dev`; "unknown" when it cannot say. */
function matchesFlow(f: TcFilter, dev: Device): boolean | "unknown" {
  if (f.matchAll) return true;
  if (f.kind !== "u32" || !f.u32) return "unknown"; // bpf, flower: not judged here
  let unknown = false;
  for (const p of dev.packets) {
    const m = u32Matches(f.u32.keys, f.u32.variableOffset, p);
    if (m === true) return true;
    if (m === "unknown") unknown = true;
  }
  return unknown ? "unknown" : false;
}

/** What a filter does to the packets it matches, in words; undefined: nothing harmful. */
function harm(k: Kernel, f: TcFilter): string | undefined {
  for (const a of f.actions) {
    if (a.mirred?.redirect) {
      const to = k.link(a.mirred.ifindex);
      if (to?.kind === "ifb") continue; // shaping: the ifb device hands the packets back
      return `redirects them to ${to?.name ?? `link ${a.mirred.ifindex}`}${
        a.mirred.ingress ? " (ingress)" : ""
      }`;
    }
    if (a.verdict === SHOT) return `drops them (${a.kind})`;
  }
  if (f.kind === "bpf" && f.bpf?.directAction) {
    return `hands them to BPF program ${f.bpf.name ?? f.bpf.id ?? "?"}, whose return code decides`;
  }
  return undefined;
}

/** `tc filter show` words for one filter. */
function filterText(dev: string, f: TcFilter): string {
  const proto = f.protocol === 0x0800
    ? "ip"
    : f.protocol === 0x0003
    ? "all"
    : `0x${f.protocol.toString(16)}`;
  const what = f.kind === "bpf"
    ? `bpf${f.bpf?.name ? ` ${f.bpf.name}` : ""}${f.bpf?.directAction ? " da" : ""}`
    : f.kind;
  return `dev ${dev} ${f.hook} prio ${f.prio} protocol ${proto} ${what}${
    f.matchAll ? " (every packet)" : ""
  }`;
}

/**
 * tc.xdp: an XDP program on a device of the path sees every packet before tc and the stack, and
 * its return code can drop or redirect them; what it does cannot be read from here (a warning,
 * with the program's id for `bpftool prog show id N`). skein attaches none.
 */
function xdpCheck(p: Place): CheckResult {
  const found = p.devices.map((d) => p.k.link(d.name)).filter((l) => l?.xdp !== undefined)
    .map((l) => ({ dev: l!.name, mode: l!.xdp!.mode, id: l!.xdp!.progId }));
  if (!found.length) {
    return pass("tc.xdp", p.label, `${p.who}: no XDP program on the path's devices`, {
      evidence: { devices: p.devices.map((d) => d.name) },
    });
  }
  const first = found[0]!;
  const flag = first.mode === "generic"
    ? "xdpgeneric"
    : first.mode === "offload"
    ? "xdpoffload"
    : "xdp";
  return warn(
    "tc.xdp",
    p.label,
    `${p.who}: ${first.dev} runs XDP program ${first.id ?? "?"} (${first.mode}): it sees every ` +
      "packet first and may drop or redirect the flow's",
    {
      evidence: { programs: found.map((x) => `${x.dev}: id ${x.id ?? "?"} (${x.mode})`) },
      fix:
        `${p.exec}ip link set dev ${first.dev} ${flag} off  # after checking what it is (bpftool prog show id ${
          first.id ?? "N"
        })`,
    },
  );
}

/** The tc.filters check of one namespace's devices on the path. */
function placeCheck(p: Place): CheckResult {
  const found: string[] = [];
  let worst: { text: string; harm: string; sure: boolean; fix: string } | undefined;
  for (const dev of p.devices) {
    const link = p.k.link(dev.name);
    if (!link) continue;
    let filters: TcFilter[];
    try {
      filters = p.k.tcFilters(link.index);
    } catch (e) {
      return skip(
        "tc.filters",
        p.label,
        `cannot read ${p.who}'s tc filters: ${(e as Error).message}`,
      );
    }
    for (const f of filters) {
      const text = filterText(dev.name, f);
      found.push(text);
      const h = SEES_IPV4.has(f.protocol) ? harm(p.k, f) : undefined;
      const m = h ? matchesFlow(f, dev) : false;
      if (!h || m === false) continue;
      const sure = m === true && f.kind !== "bpf";
      if (!worst || (sure && !worst.sure)) {
        const parent = f.hook === "root" ? "" : ` ${f.hook}`;
        worst = {
          text,
          harm: h,
          sure,
          fix:
            `${p.exec}tc filter del dev ${dev.name}${parent} prio ${f.prio}  # after checking who added it`,
        };
      }
    }
  }
  const evidence = {
    devices: p.devices.map((x) => x.name),
    filters: found.length ? found : "none",
  };
  if (!worst) {
    return pass(
      "tc.filters",
      p.label,
      `${p.who}: no tc filter on the path's devices drops or redirects the flow`,
      { evidence },
    );
  }
  const summary = `${p.who}: tc filter ${worst.text} ${
    worst.sure ? "matches the flow and " : "may match the flow and "
  }${worst.harm}`;
  return (worst.sure ? fail : warn)("tc.filters", p.label, summary, { evidence, fix: worst.fix });
}

/** The flow's packets between the pods, both directions. */
function innerPackets(pair: Pair): U32Packet[] {
  const { from, to } = pair;
  return [
    { src: from.ip, dst: to.ip, proto: 1, icmp: { type: 8, code: 0 } },
    { src: to.ip, dst: from.ip, proto: 1, icmp: { type: 0, code: 0 } },
  ];
}

/** The encapsulated packets between two nodes' IPs (vxlan, udp: UDP to the port; ipip). */
function outerPackets(node: NodeView, peer: NodeView): U32Packet[] {
  const a = node.lease?.publicIP, b = peer.lease?.publicIP, t = node.facts.tunnel;
  if (!a || !b || !t) return [];
  const l4 = t === "ipip" ? { proto: 4 } : { proto: 17, dport: node.facts.port };
  return [{ src: a, dst: b, ...l4 }, { src: b, dst: a, ...l4 }];
}

/** The node's devices on the path: uplink, tunnel device, bridge, the pods' host veths. */
function nodePlace(d: Diagnosis, node: NodeView, pair?: Pair): Place | undefined {
  const k = node.kernel;
  if (!k) return undefined;
  const inner = pair ? innerPackets(pair) : [];
  const peer = pair?.nodes.find((n) => n !== node);
  const up = uplinkOf(node)?.name;
  const pods = pair ? [pair.from, pair.to].filter((e) => e.node === node) : [];
  const devices: Device[] = [];
  const add = (name: string | undefined, packets: U32Packet[]) => {
    if (name && k.link(name) && !devices.some((x) => x.name === name)) {
      devices.push({ name, packets });
    }
  };
  add(up, peer && tunnelsTo(node, peer) ? outerPackets(node, peer) : inner);
  add(node.facts.device, inner);
  add(node.facts.bridge, inner);
  for (const e of pods) add(e.netns ? hostVethOf(d, e)?.name : undefined, inner);
  return { label: node.name, who: node.name, k, exec: nsExec(node), devices };
}

function pairChecks(d: Diagnosis, pair: Pair): CheckResult[] {
  const out: CheckResult[] = [];
  for (const n of pair.nodes) {
    const p = nodePlace(d, n, pair);
    if (p) out.push(placeCheck(p), qdiscCheck(p), xdpCheck(p));
  }
  for (const e of [pair.from, pair.to]) {
    const k = podKernel(d, e);
    if (!k || !e.node) continue;
    const p: Place = {
      label: e.node.name,
      who: `pod ${e.podName ?? e.ip}`,
      k,
      exec: nsPrefix(e.netns),
      devices: [{ name: podIf(e), packets: innerPackets(pair) }],
    };
    out.push(placeCheck(p), qdiscCheck(p), xdpCheck(p));
  }
  return out;
}

/** The tc family. */
export const tcFamily: Family = {
  name: "tc",
  pair: pairChecks,
  node: (d, node) => {
    const p = nodePlace(d, node);
    return p ? [placeCheck(p), qdiscCheck(p), xdpCheck(p)] : [];
  },
};
