/**
 * `sysctl.neigh`: the neighbour-table settings that decide whether a kernel sends ARP requests at
 * all. A new entry is resolved with `mcast_solicit` broadcast requests and `app_solicit` asks to a
 * user-space daemon; with both at 0 (`sysctl net.ipv4.neigh.DEV.mcast_solicit`) the kernel sends
 * none and marks the entry FAILED at once, so nothing is ever resolved on that device that did
 * not ARP first. Judged on every device the flow's packets need a new neighbour entry on: the
 * device each node reaches its pod by (the bridge, a routed pod's veth), the device it reaches the
 * other node by (the uplink), and each pod's interface (eth0, net1, ...).
 *
 * `sysctl.neigh_table`: the IPv4 neighbour table (one per machine, shared by its namespaces) has
 * room: at `gc_thresh3` entries the kernel makes no new one ("neighbour table overflow!", counted
 * in `ip -s ntable`'s table_fulls), so a pod or node not resolved yet stays unreachable. Only the
 * first namespace may raise the thresholds.
 *
 * @module
 */
import { type CheckResult, fail, pass, warn } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import type { Kernel } from "../kernel.ts";
import type { NeighTable } from "../../net/types.ts";
import { nsExec, nsPrefix, uplinkOf } from "../path.ts";
import { podIf, podKernel } from "./_pod_kernel.ts";

/** A device a kernel must resolve neighbours on, and whose it is. */
interface Resolver {
  /** The check's node label. */
  node: string;
  /** Who resolves ("n2", "pod n1-p1"), for the summary. */
  who: string;
  k: Kernel;
  dev: string;
  /** What it resolves there, for the summary. */
  what: string;
  exec: string;
}

/** The device `k` sends packets for `ip` out of, if it has a route. */
function devTo(k: Kernel, ip: string): string | undefined {
  const a = k.fib({ dst: ip });
  return a.ok && a.route.type !== "local" ? a.route.devName : undefined;
}

function nodeResolvers(pair: Pair, node: NodeView): Resolver[] {
  const k = node.kernel;
  if (!k) return [];
  const base = { node: node.name, who: node.name, k, exec: nsExec(node) };
  const out: Resolver[] = [];
  for (const e of [pair.from, pair.to]) {
    const dev = e.node === node && e.netns ? devTo(k, e.ip) : undefined;
    if (dev) out.push({ ...base, dev, what: `pod ${e.podName ?? e.ip}` });
  }
  for (const peer of pair.nodes) {
    const ip = peer.lease?.publicIP;
    if (peer === node || !ip) continue;
    const dev = devTo(k, ip) ?? uplinkOf(node)?.name;
    if (dev) out.push({ ...base, dev, what: `${peer.name}'s node IP ${ip} or its next hop` });
  }
  return out;
}

function podResolvers(d: Diagnosis, pair: Pair): Resolver[] {
  const out: Resolver[] = [];
  for (const e of [pair.from, pair.to].filter((x, i, all) => all.indexOf(x) === i)) {
    const k = podKernel(d, e);
    if (!k?.link(podIf(e)) || !e.node) continue;
    const who = `pod ${e.podName ?? e.ip}`;
    const exec = nsPrefix(e.netns);
    out.push({ node: e.node.name, who, k, dev: podIf(e), what: "its next hop", exec });
  }
  return out;
}

/** `sysctl.neigh` for one device: fails when the kernel sends no ARP request on it. */
export function solicitCheck(r: Resolver): CheckResult {
  const key = (n: string) => `net/ipv4/neigh/${r.dev}/${n}`;
  r.k.readSysctls([key("mcast_solicit"), key("app_solicit"), key("ucast_solicit")]);
  const v = (n: string) => r.k.sysctl(key(n));
  const evidence = {
    device: r.dev,
    [`net.ipv4.neigh.${r.dev}.mcast_solicit`]: v("mcast_solicit"),
    [`net.ipv4.neigh.${r.dev}.app_solicit`]: v("app_solicit"),
    [`net.ipv4.neigh.${r.dev}.ucast_solicit`]: v("ucast_solicit"),
  };
  if (v("mcast_solicit") !== "0" || (v("app_solicit") ?? "0") !== "0") {
    return pass("sysctl.neigh", r.node, `${r.who} sends ARP requests on ${r.dev}`, { evidence });
  }
  return fail(
    "sysctl.neigh",
    r.node,
    `${r.who} sends no ARP request on ${r.dev} (mcast_solicit=0, app_solicit=0): it cannot ` +
      `resolve ${r.what} unless that side ARPs first (a new neighbour entry fails at once)`,
    {
      evidence,
      fix: `${r.exec}sysctl -w net.ipv4.neigh.${r.dev}.mcast_solicit=3` +
        `${v("ucast_solicit") === "0" ? ` net.ipv4.neigh.${r.dev}.ucast_solicit=3` : ""}`,
    },
  );
}

/** `sysctl.neigh` for a flow: one check per device that needs resolving, deduplicated. */
export function neighSolicitChecks(d: Diagnosis, pair: Pair): CheckResult[] {
  const all = [...pair.nodes.flatMap((n) => nodeResolvers(pair, n)), ...podResolvers(d, pair)];
  const seen = new Set<string>();
  return all.filter((r) => {
    const key = `${r.who}|${r.dev}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  }).map(solicitCheck);
}

/** `sysctl.neigh` for `--node`: the node's uplink and its bridge. */
export function nodeNeighSolicitChecks(node: NodeView): CheckResult[] {
  const k = node.kernel;
  if (!k) return [];
  const devs = [uplinkOf(node)?.name, k.link(node.facts.bridge)?.name];
  return [...new Set(devs)].filter((x): x is string => x !== undefined).map((dev) =>
    solicitCheck({
      node: node.name,
      who: node.name,
      k,
      dev,
      what: dev === node.facts.bridge ? "its pods" : "the other nodes",
      exec: nsExec(node),
    })
  );
}

/** Thresholds that give `entries` room: gc_thresh3 a power of two at least twice it (>= 4096). */
export function roomyThresholds(entries: number): { t1: number; t2: number; t3: number } {
  let t3 = 4096;
  while (t3 < 2 * entries) t3 *= 2;
  return { t1: t3 / 8, t2: t3 / 2, t3 };
}

/** `sysctl.neigh_table` on a node, from its kernel's `arp_cache` table; undefined without one. */
export function neighTableCheck(node: NodeView): CheckResult | undefined {
  const t = node.kernel?.neighTables().find((x) => x.name === "arp_cache");
  return t && t.thresh3 !== undefined ? judgeNeighTable(node.name, t) : undefined;
}

/** `sysctl.neigh_table` of node `name` from its table `t`: pass, or full (warn, fail). */
export function judgeNeighTable(name: string, t: NeighTable): CheckResult {
  if (t.thresh3 === undefined) {
    return pass("sysctl.neigh_table", name, "neighbour table: no gc_thresh3 reported");
  }
  const evidence = {
    entries: t.entries,
    gc_thresh1: t.thresh1,
    gc_thresh2: t.thresh2,
    gc_thresh3: t.thresh3,
    table_fulls: t.tableFulls,
  };
  if (t.entries < t.thresh3) {
    return pass(
      "sysctl.neigh_table",
      name,
      `neighbour table: ${t.entries} entries, room up to gc_thresh3 ${t.thresh3}`,
      { evidence },
    );
  }
  const r = roomyThresholds(t.entries);
  // Permanent entries (a VXLAN peer's) do not count toward the limit: without a refusal counted
  // the table may still make entries.
  const refused = (t.tableFulls ?? 0) > 0;
  return (refused ? fail : warn)(
    "sysctl.neigh_table",
    name,
    `${name}'s neighbour table is full: ${t.entries} entries at gc_thresh3 ${t.thresh3}` +
      (refused
        ? ` (${t.tableFulls} refused since boot: "neighbour table overflow"): no new neighbour ` +
          "is made, so pods and nodes not resolved yet are unreachable"
        : ": a new neighbour may be refused"),
    {
      evidence,
      // The thresholds are the machine's: set in its first namespace (the host), not a node's.
      fix: `sysctl -w net.ipv4.neigh.default.gc_thresh1=${r.t1} ` +
        `net.ipv4.neigh.default.gc_thresh2=${r.t2} net.ipv4.neigh.default.gc_thresh3=${r.t3}`,
    },
  );
}
