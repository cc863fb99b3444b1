/**
 * The lab's own network between its nodes, for `skein lab diagnose`: what a cluster's switches
 * and routers are, here namespaces the lab made, so the diagnosis can look inside them too.
 *
 * - `lab.segment`: each segment the pair's traffic crosses: its bridge `br0` is up, the ports of
 *   the pair's nodes (and of the router, across segments) are up forwarding ports of it, its
 *   forwarding database sends each end's MAC (a node's uplink, the router's port) to that end's
 *   port (a static `bridge fdb add MAC dev PORT master static` elsewhere blackholes it), and its
 *   bridge tables (ebtables) pass the nodes' IPv4 and ARP between those ports;
 * - `lab.router` (two segments, the pair's nodes on different ones): the router forwards
 *   (`net.ipv4.ip_forward=1`), its ports are up, and its ruleset's forward hook passes the
 *   packets the nodes exchange (the encapsulated ones, or the pods' own without a tunnel).
 *
 * A qdisc on those ports that drops every packet (tc.qdisc's judgement) fails either.
 *
 * @module
 */
import { type CheckResult, fail, pass } from "../diagnose/check.ts";
import { type Diagnosis, ipv4Number, type NodeView, type Pair } from "../diagnose/context.ts";
import { firstHolding } from "../diagnose/kernel_index.ts";
import type { Family } from "../diagnose/family.ts";
import { Kernel, noArp } from "../diagnose/kernel.ts";
import { judge, type Packet, type Ruleset } from "../diagnose/nft_eval.ts";
import { echoOf } from "../diagnose/nft_icmp.ts";
import { type RulesetOwner, verdictCheck } from "../diagnose/families/_verdict.ts";
import { rulesetIn } from "../diagnose/ruleset.ts";
import { encapPacket } from "../diagnose/families/packets.ts";
import { harmfulQdiscs } from "../diagnose/families/_tc_qdisc.ts";
import { otherMac } from "../diagnose/families/_mac.ts";
import { portFlagFaults } from "../diagnose/families/_pod_port.ts";
import type { Link } from "../net/types.ts";
import { nsExec, uplinkOf } from "../diagnose/path.ts";
import { LAN_BRIDGE, type NodePlan, ROUTER_PORT, type SegmentPlan } from "./plan.ts";
import type { Lab } from "./up.ts";

/** BR_STATE_FORWARDING. */
const FORWARDING = 3;

/** The packets the two nodes exchange (both directions), as the network between them sees them. */
function nodePackets(pair: Pair, a: NodeView, b: NodeView): Packet[] {
  const out: Packet[] = [];
  const ways = [[a, b, pair.from.ip, pair.to.ip], [b, a, pair.to.ip, pair.from.ip]] as const;
  for (const [x, y, src, dst] of ways) {
    const encap = encapPacket(x, y, "output");
    if (encap) {
      const { oifname: _o, iifname: _i, ...p } = encap;
      out.push({ ...p, hook: "forward" });
    } else {
      const icmp = echoOf(src !== pair.from.ip);
      out.push({ hook: "forward", saddr: src, daddr: dst, l4proto: "icmp", icmp });
    }
  }
  return out;
}

function what(p: Packet): string {
  return `${p.layer === "bridge" && p.arp ? "arp" : p.l4proto}${p.dport ? ` ${p.dport}` : ""} ` +
    `${p.saddr} -> ${p.daddr}`;
}

/**
 * The first packet `rs` drops, as the netfilter checks word it (the rule, or the policy, and the
 * fix in nft's or iptables'/ebtables' words); undefined when none is dropped.
 */
function firstDrop(
  id: string,
  owner: RulesetOwner,
  rs: Ruleset,
  packets: [string, Packet][],
): CheckResult | undefined {
  for (const [w, p] of packets) {
    const v = judge(rs, p);
    if (v.verdict === "drop") return verdictCheck(id, owner, w, p, v);
  }
  return undefined;
}

/**
 * A qdisc on the ports the pair's traffic leaves by that drops every packet (a chaos test's
 * `pfifo limit 0`, a token bucket at a few bits per second, netem losing everything).
 */
function qdiscFail(
  id: string,
  label: string,
  who: string,
  k: Kernel,
  ports: readonly string[],
  exec: string,
): CheckResult | undefined {
  let found;
  try {
    found = harmfulQdiscs(k, ports, exec).filter((f) => f.harm.sure);
  } catch {
    return undefined; // qdiscs unreadable: the other checks still run
  }
  const q = found[0];
  if (!q) return undefined;
  return fail(id, label, `${who}'s qdisc ${q.text} ${q.harm.text}`, {
    evidence: { qdiscs: found.map((f) => f.text) },
    fix: q.fix,
  });
}

/**
 * What is wrong with a segment port the pair's traffic crosses: missing, down, off the bridge,
 * not forwarding, or an MTU below the nodes' uplinks' (`mtu`: it drops their larger frames).
 */
function portProblem(
  k: Kernel,
  bridge: number,
  name: string,
  mtu: number | undefined,
  ns: string,
): { what: string; fix: string } | undefined {
  const l = k.link(name);
  if (!l) return { what: "missing", fix: "recreate the lab (skein lab down; skein lab up)" };
  const bad = !l.up
    ? "down"
    : l.masterIndex !== bridge
    ? `not on ${LAN_BRIDGE}`
    : l.portState !== undefined && l.portState !== FORWARDING
    ? `in bridge state ${l.portState}`
    : undefined;
  if (bad) {
    return {
      what: bad,
      fix:
        `${ns}ip link set ${name} master ${LAN_BRIDGE} up; ${ns}bridge link set dev ${name} state 3`,
    };
  }
  if (mtu !== undefined && l.mtu < mtu) {
    return {
      what: `at MTU ${l.mtu}, below the nodes' uplinks' ${mtu}: it drops their larger frames`,
      fix: `${ns}ip link set ${name} mtu ${mtu}`,
    };
  }
  return undefined;
}

/**
 * Port flags of a segment's ports that cut the devices behind them off (`portFlagFaults`: proxy
 * ARP, bcast_flood off, learning and flood off), or both ports isolated (a switch's port
 * isolation, private VLAN: no frame passes between them).
 */
function flagFault(
  k: Kernel,
  ports: readonly string[],
  ns: string,
): { what: string; fix: string; evidence: Record<string, string> } | undefined {
  const links = ports.map((n) => k.link(n)).filter((l): l is Link => l !== undefined);
  for (const l of links) {
    const [bad] = portFlagFaults(k, l, ns);
    if (bad) {
      return {
        what: `port ${l.name} of the lab's segment ${bad[0]}`,
        fix: bad[1],
        evidence: { port: l.name },
      };
    }
  }
  if (links.length === 2 && links.every((l) => l.portFlags?.isolated)) {
    return {
      what: `ports ${
        ports.join(" and ")
      } of the lab's segment are both isolated (no frame passes between them)`,
      fix: links.map((l) => `${ns}bridge link set dev ${l.name} isolated off`).join("; "),
      evidence: { isolated: ports.join(", ") },
    };
  }
  return undefined;
}

/** A port of a segment the pair's traffic crosses, and the MAC of the device behind it. */
interface SegmentEnd {
  port: string;
  /** The MAC the frames toward that port are addressed to (a node's uplink, the router's port). */
  mac?: string;
  /** Whose MAC it is, for the message ("n2's uplink"). */
  who: string;
  /** The command that gives the end's device another MAC, less the MAC (a node's uplink). */
  setMac?: string;
}

/**
 * A forwarding entry of the segment's bridge that sends the frames for an end's MAC elsewhere:
 * to another port (a static `bridge fdb add MAC dev PORT master static`, or one learned there:
 * another device sends with that MAC), or to the bridge itself (a `local` entry: the bridge keeps
 * the frames). Either blackholes the traffic toward that end.
 */
function fdbProblem(
  k: Kernel,
  bridge: number,
  ends: readonly SegmentEnd[],
  ns: string,
): { what: string; fix: string; entry: string } | undefined {
  for (const e of ends) {
    const mac = e.mac?.toLowerCase();
    if (!mac) continue;
    const wrong = k.fdbs().find((f) =>
      f.mac.toLowerCase() === mac && f.vlan === undefined &&
      (f.index === bridge ? f.state === "permanent" : k.link(f.index)?.masterIndex === bridge) &&
      k.link(f.index)?.name !== e.port
    );
    if (!wrong) continue;
    const dev = k.link(wrong.index)?.name ?? String(wrong.index);
    const onBridge = wrong.index === bridge;
    const entry = `${mac} dev ${dev}${onBridge ? " self" : ` master ${LAN_BRIDGE}`} ${
      wrong.state || "dynamic"
    }${wrong.sticky ? " sticky" : ""}`;
    const learned = !onBridge && wrong.state !== "static" && wrong.state !== "permanent";
    // The other end itself sends with this MAC: two uplinks share one (a cloned VM).
    const twin = learned
      ? ends.find((o) => o !== e && o.port === dev && o.mac?.toLowerCase() === mac)
      : undefined;
    const kind = wrong.state === "permanent"
      ? "a permanent entry: the bridge takes the frames for its own"
      : wrong.sticky
      ? "a static sticky entry: learning never moves it back"
      : `a static entry: moved back only once ${e.who.replace(/'s .*/, "")} sends`;
    return {
      what: onBridge
        ? `keeps the frames for ${e.who} ${mac} (a local entry on ${LAN_BRIDGE}): they never reach port ${e.port}`
        : `sends the frames for ${e.who} ${mac} to port ${dev}, not ${e.port}${
          twin
            ? `: ${twin.who} has the same MAC`
            : learned
            ? ": another device behind it sends with that MAC"
            : ` (${kind})`
        }`,
      fix: twin?.setMac
        ? `${twin.setMac} ${otherMac(mac)}`
        : learned
        ? `${ns}ip -d link show ${dev}  # whose is it? give it another MAC`
        : `${ns}bridge fdb del ${mac} dev ${dev} ${onBridge ? "self" : "master"}`,
      entry,
    };
  }
  return undefined;
}

/**
 * One segment: its bridge, the two ports the pair's traffic crosses it by (in the order the first
 * packet, from the pair's source node, goes), and its rules.
 */
async function segmentCheck(
  d: Diagnosis,
  seg: SegmentPlan,
  ends: SegmentEnd[],
  packets: Packet[],
  mtu?: number,
): Promise<CheckResult> {
  const ports = ends.map((e) => e.port);
  const label = seg.netns;
  const ns = `ip netns exec ${seg.netns} `;
  const k = new Kernel(`/run/netns/${seg.netns}`);
  try {
    const br = k.link(LAN_BRIDGE);
    if (!br?.up) {
      return fail(
        "lab.segment",
        label,
        `the lab's segment bridge ${LAN_BRIDGE} is ${br ? "down" : "missing"}`,
        {
          evidence: { netns: seg.netns },
          fix: `${ns}ip link set ${LAN_BRIDGE} up`,
        },
      );
    }
    for (const name of ports) {
      const bad = portProblem(k, br.index, name, mtu, ns);
      if (bad) {
        return fail("lab.segment", label, `port ${name} of the lab's segment is ${bad.what}`, {
          evidence: { netns: seg.netns, port: name },
          fix: bad.fix,
        });
      }
    }
    const flags = flagFault(k, ports, ns);
    if (flags) {
      return fail(
        "lab.segment",
        label,
        flags.what,
        {
          evidence: { netns: seg.netns, ...flags.evidence },
          fix: flags.fix,
        },
      );
    }
    const q = qdiscFail("lab.segment", label, "the lab's segment", k, ports, ns);
    if (q) return q;
    const f = fdbProblem(k, br.index, ends, ns);
    if (f) {
      return fail("lab.segment", label, `the lab's segment bridge ${LAN_BRIDGE} ${f.what}`, {
        evidence: { netns: seg.netns, entry: f.entry },
        fix: f.fix,
      });
    }
  } finally {
    k.close();
  }
  const rs = await rulesetIn(d, `/run/netns/${seg.netns}`);
  if (rs.ok && ports.length === 2) {
    const [p0, p1] = ports as [string, string];
    const frames = packets.flatMap((p, i) => {
      const [iif, oif] = i === 0 ? [p0, p1] : [p1, p0];
      const f: Packet = { ...p, layer: "bridge", bridge: LAN_BRIDGE, iifname: iif, oifname: oif };
      return [f, { ...f, arp: true }];
    });
    const dropped = firstDrop(
      "lab.segment",
      { label, who: "the lab's segment", exec: ns },
      rs.ruleset,
      frames.map((f) => [`${what(f)} (from port ${f.iifname} to ${f.oifname})`, f]),
    );
    if (dropped) return dropped;
  }
  return pass("lab.segment", label, `${LAN_BRIDGE} forwards between ports ${ports.join(" and ")}`, {
    evidence: { netns: seg.netns },
  });
}

/** A node as the router sees it: its address, its uplink's MAC and MTU. */
interface RouterEnd {
  name: string;
  ip: string;
  mac?: string;
  mtu?: number;
}

/** The router's view of node `n` (its uplink read from the node's own kernel). */
function routerEnd(n: NodeView, plan: NodePlan): RouterEnd {
  const up = n.kernel?.linkWithAddr(plan.ip);
  return { name: n.name, ip: plan.ip, mac: up?.mac, mtu: up?.mtu };
}

/**
 * How the router forwards between the pair's nodes (`ports[i]`: its port toward `ends[i]`):
 * its FIB sends each node's address out of the port toward it (no blackhole or stray route),
 * its neighbour entry for each names the node's uplink MAC, and its ports carry the nodes'
 * uplink MTU. The first failure, or undefined.
 */
function routerPathFail(
  k: Kernel,
  label: string,
  ns: string,
  ends: [RouterEnd, RouterEnd],
  ports: [string, string],
): CheckResult | undefined {
  for (const i of [0, 1] as const) {
    const to = ends[i], from = ends[1 - i]!, out = ports[i], inp = ports[1 - i]!;
    const a = k.fib({ dst: to.ip, src: from.ip, iif: inp });
    const lookup = `${ns}ip route get ${to.ip} from ${from.ip} iif ${inp}`;
    if (!a.ok || a.route.devName !== out) {
      // The most specific main-table route holding the node's address that is not a connected one.
      const stray = firstHolding(k.routes(), 254, ipv4Number(to.ip), (r) => r.protocol !== 2);
      const del = stray ? `${stray.type !== "unicast" ? `${stray.type} ` : ""}${stray.dst}` : "";
      // EHOSTUNREACH on a forwarded lookup: forwarding is off on the port the packet enters by.
      const perPort = `net/ipv4/conf/${inp}/forwarding`;
      const offPort = !a.ok && a.code === "EHOSTUNREACH" && !stray && k.sysctl(perPort) === "0";
      if (offPort) {
        return fail(
          "lab.router",
          label,
          `the lab's router does not forward ${from.ip} -> ${to.ip}: forwarding is off on ${inp}, the port it enters by`,
          {
            evidence: { lookup, kernel: a.message, [perPort.replaceAll("/", ".")]: "0" },
            fix: `${ns}sysctl -w ${perPort}=1`,
          },
        );
      }
      return fail(
        "lab.router",
        label,
        `the lab's router does not forward ${from.ip} -> ${to.ip} out of ${out}: ${
          a.ok ? `it sends it by ${a.route.devName}` : a.code
        }${stray ? ` (route ${del})` : ""}`,
        {
          evidence: { lookup, kernel: a.ok ? `${to.ip} dev ${a.route.devName}` : a.message },
          fix: stray ? `${ns}ip route del ${del}` : lookup,
        },
      );
    }
    const n = k.neighs().find((x) => x.ip === to.ip && x.index === a.route.oif);
    if (n?.mac && to.mac && n.mac.toLowerCase() !== to.mac.toLowerCase()) {
      return fail(
        "lab.router",
        label,
        `the lab's router resolves ${to.name}'s ${to.ip} to ${n.mac} (${n.state}), not its uplink's ${to.mac}`,
        {
          evidence: {
            kernel: `${n.ip} lladdr ${n.mac} ${n.state} dev ${out}`,
            expectedMAC: to.mac,
          },
          fix: `${ns}ip neigh del ${to.ip} dev ${out}`,
        },
      );
    }
    const mtu = k.link(out)?.mtu, want = Math.min(from.mtu ?? Infinity, to.mtu ?? Infinity);
    if (mtu !== undefined && want !== Infinity && mtu < want) {
      return fail(
        "lab.router",
        label,
        `the lab's router port ${out} has MTU ${mtu}, below the nodes' uplinks' ${want}: it drops their larger packets (pod traffic near the pod MTU)`,
        {
          evidence: { port: out, mtu, uplinks: want },
          fix: `${ns}ip link set ${out} mtu ${want}`,
        },
      );
    }
  }
  return undefined;
}

/**
 * The router between the segments: forwarding on, its ports up, its ruleset passing the nodes'
 * packets (`ports`: the router's port toward the source node's segment, then the other's).
 */
/**
 * ARP on the router's ports the pair crosses: each must answer (no NOARP, arp_ignore below 8:
 * the nodes resolve their next hop) and ask (mcast_solicit or app_solicit above 0: the router
 * resolves the nodes it forwards to).
 */
function routerArpFail(
  k: Kernel,
  label: string,
  ns: string,
  ports: readonly string[],
): CheckResult | undefined {
  for (const name of ports) {
    const l = k.link(name);
    if (!l) continue;
    const ignore = k.arpIgnore(name);
    if (noArp(l.flags) || ignore >= 8) {
      return fail(
        "lab.router",
        label,
        `the lab's router port ${name} answers no ARP (${
          ignore >= 8 ? `arp_ignore=${ignore}` : "NOARP"
        }): the nodes behind it cannot resolve their next hop`,
        {
          evidence: { port: name, arp_ignore: ignore, noarp: noArp(l.flags) },
          fix: ignore >= 8
            ? `${ns}sysctl -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.${name}.arp_ignore=0`
            : `${ns}ip link set ${name} arp on`,
        },
      );
    }
    const key = (n: string) => `net/ipv4/neigh/${name}/${n}`;
    k.readSysctls([key("mcast_solicit"), key("app_solicit")]);
    if (k.sysctl(key("mcast_solicit")) === "0" && (k.sysctl(key("app_solicit")) ?? "0") === "0") {
      return fail(
        "lab.router",
        label,
        `the lab's router sends no ARP request on ${name} (mcast_solicit=0, app_solicit=0): it ` +
          "cannot resolve the nodes behind it",
        {
          evidence: { port: name, [`net.ipv4.neigh.${name}.mcast_solicit`]: "0" },
          fix: `${ns}sysctl -w net.ipv4.neigh.${name}.mcast_solicit=3`,
        },
      );
    }
  }
  return undefined;
}

async function routerCheck(
  d: Diagnosis,
  lab: Lab,
  packets: Packet[],
  ports: [string, string],
  ends: [RouterEnd, RouterEnd],
): Promise<CheckResult> {
  const r = lab.plan.router!;
  const label = r.netns, ns = `ip netns exec ${r.netns} `;
  const k = new Kernel(`/run/netns/${r.netns}`);
  try {
    const fwd = k.sysctl("net/ipv4/ip_forward");
    if (fwd !== "1") {
      return fail(
        "lab.router",
        label,
        `the lab's router does not forward (net.ipv4.ip_forward=${fwd ?? "?"})`,
        {
          evidence: { netns: r.netns, ip_forward: fwd ?? "unknown" },
          fix: `${ns}sysctl -w net.ipv4.ip_forward=1`,
        },
      );
    }
    for (const p of r.ports) {
      const l = k.link(p.name);
      const held = k.addrs().some((a) => a.cidr === p.cidr);
      if (!l?.up || !held) {
        return fail(
          "lab.router",
          label,
          `the lab's router port ${p.name} is ${
            !l ? "missing" : !l.up ? "down" : `without ${p.cidr}`
          }`,
          {
            evidence: { netns: r.netns, port: p.name },
            fix: `${ns}ip link set ${p.name} up; ${ns}ip addr replace ${p.cidr} dev ${p.name}`,
          },
        );
      }
    }
    const arp = routerArpFail(k, label, ns, ports);
    if (arp) return arp;
    const q = qdiscFail("lab.router", label, "the lab's router", k, ports, ns);
    if (q) return q;
    const path = routerPathFail(k, label, ns, ends, ports);
    if (path) return path;
  } finally {
    k.close();
  }
  const rs = await rulesetIn(d, `/run/netns/${r.netns}`);
  if (!rs.ok) {
    return pass("lab.router", label, "the lab's router forwards", {
      evidence: { rules: rs.reason },
    });
  }
  const dropped = firstDrop(
    "lab.router",
    { label, who: "the lab's router", exec: ns },
    rs.ruleset,
    packets.map((p, i) => {
      const [iifname, oifname] = i === 0 ? ports : [ports[1], ports[0]];
      return [what(p), { ...p, iifname, oifname }];
    }),
  );
  if (dropped) return dropped;
  return pass("lab.router", label, "the lab's router forwards between the segments", {
    evidence: { netns: r.netns },
  });
}

/** The router's port on segment `seg`, with its MAC read from the router's namespace. */
function routerSegmentEnd(lab: Lab, seg: SegmentPlan): SegmentEnd {
  const end: SegmentEnd = { port: ROUTER_PORT, who: "the router's port" };
  const r = lab.plan.router, p = r?.ports.find((x) => x.segment.netns === seg.netns);
  if (!r || !p) return end;
  let k: Kernel | undefined;
  try {
    k = new Kernel(`/run/netns/${r.netns}`);
    const mac = k.link(p.name)?.mac;
    if (mac) end.mac = mac;
  } catch {
    // The router's namespace is unreadable: lab.router says so; no MAC to check here.
  } finally {
    k?.close();
  }
  return end;
}

/** The `lab` family of a lab diagnosis (see the module doc). */
export function labInfraFamily(lab: Lab): Family {
  const planOf = (n: NodeView) => lab.plan.nodes.find((p) => p.nodeName === n.nodeName);
  return {
    name: "lab",
    async pair(d, pair) {
      const [a, b] = pair.nodes;
      const pa = a && planOf(a), pb = b && planOf(b);
      if (!a || !b || !pa || !pb) return [];
      const packets = nodePackets(pair, a, b);
      const ends = [routerEnd(a, pa), routerEnd(b, pb)] as [RouterEnd, RouterEnd];
      const known = ends.map((e) => e.mtu).filter((m) => m !== undefined);
      const mtu = known.length ? Math.min(...known) : undefined;
      const nodeEnd = (n: NodeView, p: NodePlan, e: RouterEnd): SegmentEnd => ({
        port: p.lanPort,
        who: `${n.name}'s uplink`,
        ...(e.mac ? { mac: e.mac } : {}),
        ...(uplinkOf(n)
          ? { setMac: `${nsExec(n)}ip link set dev ${uplinkOf(n)!.name} address` }
          : {}),
      });
      const [ea, eb] = [nodeEnd(a, pa, ends[0]), nodeEnd(b, pb, ends[1])];
      if (pa.segment.netns === pb.segment.netns) {
        return [await segmentCheck(d, pa.segment, [ea, eb], packets, mtu)];
      }
      const out = [
        await segmentCheck(d, pa.segment, [ea, routerSegmentEnd(lab, pa.segment)], packets, mtu),
        await segmentCheck(d, pb.segment, [routerSegmentEnd(lab, pb.segment), eb], packets, mtu),
      ];
      const r = lab.plan.router;
      if (r) {
        const port = (n: NodePlan) =>
          r.ports.find((p) => p.segment.netns === n.segment.netns)?.name;
        out.push(
          await routerCheck(d, lab, packets, [port(pa) ?? "eth0", port(pb) ?? "eth1"], ends),
        );
      }
      return out;
    },
  };
}
