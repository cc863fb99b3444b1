/**
 * `tc`: traffic-control filters on the devices the flow crosses (each node's uplink, tunnel
 * device, bridge and the pods' host veths; each pod's eth0). skein installs none; a filter left
 * by a chaos test, another CNI or a shaping tool can drop the flow's packets or redirect them
 * elsewhere while every route, neighbour and firewall rule is right. A match-all filter that
 * drops or redirects (not to an ifb device: the bandwidth plugin's shaping) fails; one that
 * matches only some packets, or a BPF program that decides by itself, warns.
 *
 * @module
 */
import type { TcFilter } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, Endpoint, NodeView, Pair } from "../context.ts";
import type { Family } from "../family.ts";
import type { Kernel } from "../kernel.ts";
import { nsExec, nsPrefix, uplinkOf } from "../path.ts";
import { podKernel } from "./_pod_kernel.ts";
import { hostVethOf } from "./_pod_host.ts";

/** TC_ACT_SHOT: the packet is dropped. */
const SHOT = 2;
/** ETH_P_ALL and ETH_P_IP: the protocols whose filters see IPv4 packets. */
const SEES_IPV4 = new Set([0x0003, 0x0800]);

/** Whose devices are looked at: a node's or a pod's namespace. */
interface Place {
  label: string;
  who: string;
  k: Kernel;
  exec: string;
  devices: string[];
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

/** The tc.filters check of one namespace's devices on the path. */
function placeCheck(p: Place): CheckResult {
  const found: string[] = [];
  let worst: { text: string; harm: string; sure: boolean; fix: string } | undefined;
  for (const dev of p.devices) {
    const link = p.k.link(dev);
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
      const text = filterText(dev, f);
      found.push(text);
      const h = SEES_IPV4.has(f.protocol) ? harm(p.k, f) : undefined;
      if (!h) continue;
      const sure = f.matchAll === true && f.kind !== "bpf";
      if (!worst || (sure && !worst.sure)) {
        const parent = f.hook === "root" ? "" : ` ${f.hook}`;
        worst = {
          text,
          harm: h,
          sure,
          fix:
            `${p.exec}tc filter del dev ${dev}${parent} prio ${f.prio}  # after checking who added it`,
        };
      }
    }
  }
  const evidence = { devices: p.devices, filters: found.length ? found : "none" };
  if (!worst) {
    return pass(
      "tc.filters",
      p.label,
      `${p.who}: no tc filter on the path's devices drops or redirects`,
      {
        evidence,
      },
    );
  }
  const summary = `${p.who}: tc filter ${worst.text} ${
    worst.sure ? "" : "may match the flow and "
  }${worst.harm}`;
  return (worst.sure ? fail : warn)("tc.filters", p.label, summary, { evidence, fix: worst.fix });
}

/** The node's devices on the path: uplink, tunnel device, bridge, the pods' host veths. */
function nodePlace(d: Diagnosis, node: NodeView, pods: Endpoint[]): Place | undefined {
  const k = node.kernel;
  if (!k) return undefined;
  const devices = [
    uplinkOf(node)?.name,
    node.facts.device,
    node.facts.bridge,
    ...pods.map((e) => e.netns ? hostVethOf(d, e)?.name : undefined),
  ]
    .filter((x): x is string => x !== undefined && k.link(x) !== undefined);
  return {
    label: node.name,
    who: node.name,
    k,
    exec: nsExec(node),
    devices: [...new Set(devices)],
  };
}

function pairChecks(d: Diagnosis, pair: Pair): CheckResult[] {
  const out: CheckResult[] = [];
  const ends = [pair.from, pair.to];
  for (const n of pair.nodes) {
    const p = nodePlace(d, n, ends.filter((e) => e.node === n));
    if (p) out.push(placeCheck(p));
  }
  for (const e of ends) {
    const k = podKernel(d, e);
    if (!k || !e.node) continue;
    out.push(placeCheck({
      label: e.node.name,
      who: `pod ${e.podName ?? e.ip}`,
      k,
      exec: nsPrefix(e.netns),
      devices: ["eth0"],
    }));
  }
  return out;
}

/** The tc family. */
export const tcFamily: Family = {
  name: "tc",
  pair: pairChecks,
  node: (d, node) => {
    const p = nodePlace(d, node, []);
    return p ? [placeCheck(p)] : [];
  },
};
