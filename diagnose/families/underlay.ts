/**
 * `underlay`: each node holds the node IP its lease publishes, its uplink is up and answers ARP,
 * it reaches the other's node IP (the kernel's FIB answer and the neighbour state of the next hop
 * on the uplink; `underlay.ping`: a ping between the nodes, the only view of the network between
 * them), and the encapsulated traffic is not dropped on arrival: the static verdict of the
 * destination's input hook for the backend's UDP port (vxlan) or IP protocol (ipip), plus the
 * kernel's UDP error counters.
 *
 * @module
 */
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import { type Diagnosis, ipv4Number, type NodeView } from "../context.ts";
import type { Link } from "../../net/types.ts";
import type { Family } from "../family.ts";
import { addrOf, confKey, fibErrorMeaning, noArp } from "../kernel.ts";
import { nsExec, uplinkOf } from "../path.ts";
import { judge } from "../nft_eval.ts";
import { echoOf } from "../nft_icmp.ts";
import { ruleCause, ruleFix, ruleWords } from "../rule_walk.ts";
import { within } from "../route_diff.ts";
import { canonicalCidr } from "../../net/cidr.ts";
import { rulesetOf } from "../ruleset.ts";
import { rulesetVerdict } from "./netfilter.ts";
import { encapPacket, nodePacket } from "./packets.ts";
import { icmpErrors, ping } from "./_ping.ts";
import { otherMac } from "./_mac.ts";
import { neighOn, routesHolding } from "../kernel_index.ts";

function reach(node: NodeView, peer: NodeView): CheckResult[] {
  const k = node.kernel;
  const ip = peer.lease?.publicIP;
  if (!k || !ip) return [];
  const up = uplinkOf(node);
  const a = k.fib({ dst: ip });
  const cmd = `${nsExec(node)}ip route get ${ip}`;
  if (!a.ok) {
    const cause = ruleCause(k.rules(), k.routes(), { dst: ip });
    return [
      fail(
        "underlay.fib",
        node.name,
        `${node.name} has no route to ${peer.name}'s node IP ${ip}: ${
          cause ? ruleWords(cause) : fibErrorMeaning(a.code)
        }`,
        {
          evidence: { lookup: cmd, kernel: a.message, uplink: up?.name },
          fix: cause ? ruleFix(nsExec(node), cause) : connectedFix(node, ip, up?.name),
        },
      ),
    ];
  }
  const r = a.route;
  const ev = {
    lookup: cmd,
    kernel: `${r.type === "local" ? "local " : ""}${ip}${
      r.gateway ? ` via ${r.gateway}` : ""
    } dev ${r.devName}`,
    uplink: up?.name,
  };
  if (r.type === "local") return [heldHere(node, peer, ip, ev)];
  const stray = strayRoute(node, ip, up?.name);
  if (up && (r.devName !== up.name || (r.gateway && stray))) {
    return [
      fail(
        "underlay.route",
        node.name,
        r.devName !== up.name
          ? `${node.name} reaches ${peer.name}'s node IP ${ip} by ${r.devName}, not the uplink ${up.name}`
          : `${node.name} sends ${peer.name}'s node IP ${ip} via ${r.gateway} although it is on ${up.name}'s network: route ${stray}`,
        {
          evidence: { ...ev, ...(stray ? { route: stray } : {}) },
          fix: stray
            ? `${nsExec(node)}ip route del ${stray}  # after checking who added it`
            : `${nsExec(node)}ip route  # a route sends ${ip} away from ${up.name}`,
        },
      ),
      nextHopNeigh(node, peer, r.gateway ?? ip, r),
    ];
  }
  return [
    pass("underlay.fib", node.name, `${node.name} reaches ${ip} by ${r.devName}`, {
      evidence: ev,
    }),
    nextHopNeigh(node, peer, r.gateway ?? ip, r),
  ];
}

/**
 * A route more specific than the uplink's connected network that takes an on-link peer's node
 * IP elsewhere (via a gateway, or out of another device), in `ip route` words; undefined when
 * the peer is not on the uplink's network or no such route exists.
 */
function strayRoute(node: NodeView, ip: string, uplink: string | undefined): string | undefined {
  const k = node.kernel!;
  const link = uplink ? k.link(uplink) : undefined;
  const net = k.addrs().find((x) =>
    x.index === link?.index && x.family === 4 && within(`${ip}/32`, x.cidr)
  );
  if (!net) return undefined;
  const len = Number(net.cidr.split("/")[1]), n = ipv4Number(ip);
  if (n === undefined) return undefined;
  let r;
  for (const x of routesHolding(k.routes(), 254, n, len)) {
    if (x.type === "unicast") {
      r = x;
      break;
    }
  }
  if (!r) return undefined;
  const dev = r.oif !== undefined ? k.link(r.oif)?.name : undefined;
  return `${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}${dev ? ` dev ${dev}` : ""}`;
}

/**
 * The route back to an on-link peer's node IP when the uplink's connected route is gone (its
 * address's prefix covers the peer); else where to look.
 */
function connectedFix(node: NodeView, ip: string, uplink: string | undefined): string {
  const k = node.kernel!, ns = nsExec(node);
  const link = uplink ? k.link(uplink) : undefined;
  const a = k.addrs().find((x) =>
    x.index === link?.index && x.family === 4 && within(`${ip}/32`, x.cidr)
  );
  if (!a || !link) {
    return `${ns}ip route  # the underlay network to ${ip} is missing on ${uplink ?? "the uplink"}`;
  }
  const [addr, len] = a.cidr.split("/") as [string, string];
  const net = canonicalCidr(`${addr}/${len}`);
  return `${ns}ip route add ${net} dev ${link.name} proto kernel scope link src ${addr}  # ${link.name}'s connected route is gone`;
}

/**
 * The node takes the peer's node IP for its own (the address on one of its links, a duplicate
 * of the peer's, or a local route): its tunnel packets to the peer never leave it.
 */
function heldHere(
  node: NodeView,
  peer: NodeView,
  ip: string,
  evidence: Record<string, unknown>,
): CheckResult {
  const k = node.kernel!, ns = nsExec(node);
  const link = k.linkWithAddr(ip);
  const addr = link
    ? k.addrs().find((a) => a.index === link.index && addrOf(a.cidr) === ip)
    : undefined;
  return fail(
    "underlay.route",
    node.name,
    `${node.name} holds ${peer.name}'s node IP ${ip} itself (${
      addr && link ? `${addr.cidr} on ${link.name}: a duplicate address` : "a local route"
    }): its packets to ${peer.name} never leave it`,
    {
      evidence: {
        ...evidence,
        heldBy: addr && link ? `${addr.cidr} dev ${link.name}` : "local route",
      },
      fix: addr && link
        ? `${ns}ip addr del ${addr.cidr} dev ${link.name}`
        : `${ns}ip route show table local  # and delete the local route for ${ip}`,
    },
  );
}

/**
 * The neighbour entry of the next hop toward the peer on the way out: unresolved (nobody
 * answers ARP), or, when the next hop is the peer itself, a MAC that is not the peer's
 * uplink's (a static entry left behind, or another host answering for the address).
 */
function nextHopNeigh(
  node: NodeView,
  peer: NodeView,
  hop: string,
  r: { oif?: number; devName?: string },
): CheckResult {
  const k = node.kernel!, ns = nsExec(node);
  const n = neighOn(k.neighs(), hop, r.oif);
  const nev: Record<string, unknown> = {
    nextHop: hop,
    dev: r.devName,
    kernel: n ? `${n.ip} lladdr ${n.mac ?? "-"} ${n.state}` : "no entry",
  };
  if (n && (n.state === "failed" || n.state === "incomplete")) {
    return fail(
      "underlay.neigh",
      node.name,
      `${node.name} cannot resolve next hop ${hop} on ${r.devName} (${n.state}): it does not answer ARP (down, unplugged, or ignoring ARP: see underlay.arp)`,
      { evidence: nev, fix: `${ns}ping -c 1 ${hop}; check the link between the nodes` },
    );
  }
  const want = hop === peer.lease?.publicIP ? peer.kernel?.linkWithAddr(hop) : undefined;
  if (n?.mac && want?.mac && n.mac.toLowerCase() !== want.mac.toLowerCase()) {
    nev.expectedMAC = `${want.mac} (${peer.name}'s ${want.name})`;
    return fail(
      "underlay.neigh",
      node.name,
      `${node.name} resolves ${peer.name}'s node IP ${hop} to ${n.mac} (${n.state}), not ${peer.name}'s ${want.name} ${want.mac}: its packets to ${peer.name} go to no one${
        n.state === "permanent" ? " (a static entry)" : " (another host answers ARP for it?)"
      }`,
      {
        evidence: nev,
        fix: `${ns}ip neigh del ${hop} dev ${r.devName}  # the kernel resolves it again`,
      },
    );
  }
  return pass(
    "underlay.neigh",
    node.name,
    n
      ? `next hop ${hop} is ${n.state}`
      : `no neighbour entry for ${hop} yet (resolved on the first packet)`,
    { evidence: nev },
  );
}

/** UDP counters of /proc/net/snmp in the node's namespace. */
function udpCounters(node: NodeView): Record<string, number> | undefined {
  try {
    const text = node.kernel!.inside(() => Deno.readTextFileSync("/proc/thread-self/net/snmp"));
    const lines = text.split("\n").filter((l) => l.startsWith("Udp:"));
    const [names, values] = [lines[0]?.split(/\s+/).slice(1), lines[1]?.split(/\s+/).slice(1)];
    if (!names || !values) return undefined;
    const out: Record<string, number> = {};
    for (const k of ["InErrors", "NoPorts", "RcvbufErrors"]) {
      const i = names.indexOf(k);
      if (i >= 0) out[k] = Number(values[i]);
    }
    return out;
  } catch {
    return undefined;
  }
}

async function port(d: Diagnosis, node: NodeView, peer: NodeView): Promise<CheckResult[]> {
  const p = encapPacket(node, peer, "input");
  if (!p || !node.kernel) return [];
  const what = p.l4proto === "udp"
    ? `UDP ${p.dport} from ${peer.name} (${p.saddr})`
    : `IP protocol 4 (ipip) from ${peer.name}`;
  const c = await rulesetVerdict(d, "underlay.port", node, what, p);
  if (c.status === "skip") return [c];
  const udp = p.l4proto === "udp" ? udpCounters(node) : undefined;
  if (udp) c.evidence.udpCounters = udp;
  return [c];
}

/**
 * The node's uplink is up and has a carrier: a cable, a switch port or (in a lab) the peer end of
 * its veth that is down leaves every route in place and every packet undelivered.
 */
function uplinkState(node: NodeView): CheckResult[] {
  const up = uplinkOf(node);
  if (!up || !node.kernel) return [];
  const ev = { uplink: up.name, up: up.up, operState: up.operState };
  if (!up.up) {
    return [fail("underlay.link", node.name, `${node.name}'s uplink ${up.name} is down`, {
      evidence: ev,
      fix: `${nsExec(node)}ip link set ${up.name} up`,
    })];
  }
  if (up.operState === "down" || up.operState === "lowerlayerdown") {
    return [
      fail(
        "underlay.link",
        node.name,
        `${node.name}'s uplink ${up.name} has no carrier (${up.operState}): its cable, switch port or link peer is down`,
        {
          evidence: ev,
          fix: `${
            nsExec(node)
          }ip -d link show ${up.name}  # then the switch port or peer it is plugged into`,
        },
      ),
    ];
  }
  const master = up.masterIndex !== undefined ? node.kernel.link(up.masterIndex) : undefined;
  if (master) {
    return [
      fail(
        "underlay.link",
        node.name,
        `${node.name}'s uplink ${up.name} is a port of ${master.name}: frames for its address ${
          node.lease?.publicIP ?? ""
        } go to the bridge, not to the node, so the other nodes cannot reach it`,
        {
          evidence: { ...ev, master: master.name },
          fix: `${nsExec(node)}ip link set ${up.name} nomaster && ${
            nsExec(node)
          }ip neigh flush dev ${up.name}`,
        },
      ),
    ];
  }
  return [pass("underlay.link", node.name, `${node.name}'s uplink ${up.name} is up`, {
    evidence: ev,
  })];
}

/**
 * Two nodes whose uplinks have the same MAC (a cloned VM, a MAC set by hand): the switch between
 * them learns it behind whichever sent last and hands each one's frames to the other, so ARP
 * replies go astray and the nodes cannot resolve each other. Judged when both kernels are read,
 * or when `node` resolves the peer's node IP to its own uplink's MAC.
 */
function sameMacCheck(node: NodeView, peer: NodeView): CheckResult[] {
  const up = uplinkOf(node), mac = up?.mac?.toLowerCase();
  if (!up || !mac || mac === "00:00:00:00:00:00") return [];
  const theirs = peer.kernel ? uplinkOf(peer) : undefined;
  const ip = peer.lease?.publicIP;
  const resolved = ip
    ? node.kernel?.neighs().find((n) => n.ip === ip && n.mac?.toLowerCase() === mac)
    : undefined;
  if (theirs?.mac?.toLowerCase() !== mac && !resolved) return [];
  const ev: Record<string, unknown> = { [`${node.name}:${up.name}`]: mac };
  if (theirs) ev[`${peer.name}:${theirs.name}`] = theirs.mac;
  if (resolved) ev.neighbour = `${ip} lladdr ${resolved.mac} ${resolved.state}`;
  return [fail(
    "underlay.link",
    theirs ? peer.name : node.name,
    `${node.name}'s uplink ${up.name} and ${peer.name}'s ${theirs?.name ?? "uplink"} have the ` +
      `same MAC ${mac}: the network between them delivers each one's frames to the other ` +
      "(a cloned VM, a MAC set by hand), so ARP between them fails",
    {
      evidence: ev,
      fix: theirs
        ? `${nsExec(peer)}ip link set dev ${theirs.name} address ${otherMac(mac)}`
        : `${nsExec(node)}ip link set dev ${up.name} address ${otherMac(mac)}`,
    },
  )];
}

/**
 * The lease publishes an address of another interface than the configured uplink (`iface`): a
 * docker0 or a second NIC picked on a multi-NIC host, or a record rewritten by hand. The other
 * nodes send this node's pods' traffic there, which they may not reach.
 */
function wrongInterface(node: NodeView, ip: string, holder: Link): CheckResult | undefined {
  const k = node.kernel!, iface = node.facts.iface;
  // A publicIP the config sets (a loopback address BGP announces, ...) may be on any interface.
  if (node.facts.publicIP === ip) return undefined;
  const up = iface && iface !== holder.name ? k.link(iface) : undefined;
  const own = up
    ? k.addrs().find((a) => a.index === up.index && a.family === 4 && a.scope === "universe")
    : undefined;
  if (!up || !own) return undefined;
  const want = own.cidr.split("/")[0]!;
  const cfg = node.facts.configFile ?? "its config (/etc/skein/daemon.yaml)";
  return fail(
    "underlay.address",
    node.name,
    `${node.name}'s lease publishes ${ip}, an address of ${holder.name}, not of its uplink ` +
      `${iface} (${want}): the other nodes send its pods' traffic where they may not reach it ` +
      "(the wrong interface picked on a multi-NIC host)",
    {
      evidence: { leasePublicIP: ip, dev: holder.name, iface, ifaceAddress: own.cidr },
      fix: `restart ${node.name}'s daemon so that it publishes ${want} (with 'iface: ${iface}' ` +
        `or 'publicIP: ${want}' in ${cfg})`,
    },
  );
}

/**
 * The node holds the address its lease publishes: other nodes send its pods' traffic (routes,
 * tunnel FDB entries, BGP next hops) to the lease's publicIP, so a node renumbered under its
 * daemon (DHCP, a moved VM) receives none of it while every route looks right.
 */
function addressCheck(node: NodeView): CheckResult[] {
  const k = node.kernel, ip = node.lease?.publicIP;
  if (!k || !ip) return [];
  const holder = k.linkWithAddr(ip);
  const wrong = holder ? wrongInterface(node, ip, holder) : undefined;
  if (wrong) return [wrong];
  if (holder) {
    return [
      pass("underlay.address", node.name, `${node.name} holds its lease's node IP ${ip}`, {
        evidence: { publicIP: ip, dev: holder.name },
      }),
    ];
  }
  const up = uplinkOf(node);
  const held = k.addrs().filter((a) => a.family === 4 && (!up || a.index === up.index))
    .map((a) => `${a.cidr} dev ${k.link(a.index)?.name ?? a.index}`);
  return [
    fail(
      "underlay.address",
      node.name,
      `${node.name}'s lease publishes node IP ${ip}, which no interface on ${node.name} holds: ` +
        "other nodes send its pods' traffic to an address nobody answers",
      {
        evidence: { leasePublicIP: ip, ...(up ? { uplink: up.name } : {}), addresses: held },
        fix:
          `${node.name}'s daemon publishes the address it holds, at once when it sees the node ` +
          `renumbered or its record rewritten (its log: "starting over", "this node's lease ` +
          `changed"); if the lease stays wrong, restart it (or set publicIP in its config)`,
      },
    ),
  ];
}

/**
 * The node's uplink answers ARP for its address: a NOARP flag or arp_ignore 8 there leaves the
 * other nodes unable to resolve it (underlay.neigh then sees INCOMPLETE/FAILED on their side).
 */
function uplinkArp(node: NodeView): CheckResult[] {
  const k = node.kernel, up = uplinkOf(node);
  if (!k || !up) return [];
  const ignore = k.arpIgnore(up.name);
  const ev = { uplink: up.name, arp_ignore: ignore, noarp: noArp(up.flags) };
  if (ignore >= 8 || ev.noarp) {
    return [
      fail(
        "underlay.arp",
        node.name,
        `${node.name}'s uplink ${up.name} answers no ARP (${
          ignore >= 8 ? "arp_ignore=8" : "NOARP"
        }): other nodes cannot resolve ${node.lease?.publicIP ?? "its address"}`,
        {
          evidence: ev,
          fix: ignore >= 8
            ? `${nsExec(node)}sysctl -w net.ipv4.conf.all.arp_ignore=0 ${
              confKey(up.name, "arp_ignore")
            }=0`
            : `${nsExec(node)}ip link set ${up.name} arp on`,
        },
      ),
    ];
  }
  return [pass("underlay.arp", node.name, `${node.name}'s uplink ${up.name} answers ARP`, {
    evidence: ev,
  })];
}

/**
 * `underlay.ping`: the node pings the other node's IP from its own namespace (the network the
 * encapsulated or routed packets cross; a router between segments is seen only this way). No
 * reply is a warning: a firewall outside the nodes may drop ICMP alone (`--probe` fails the pods'
 * probe on it when their pings are lost too). Not run when the other node would not answer
 * anyway (echo ignored, or its ruleset drops the ping). Kept in the diagnosis for the probe.
 */
async function pingCheck(d: Diagnosis, node: NodeView, peer: NodeView): Promise<CheckResult[]> {
  const dst = peer.lease?.publicIP, netns = node.kernel?.netns;
  if (!node.kernel || !dst) return [];
  if (await ignoresPing(d, peer, node)) {
    const why =
      `${peer.name} would not answer (icmp_echo_ignore_all, or its ruleset drops the ping)`;
    return [skip("underlay.ping", node.name, why)];
  }
  // A node answers within a millisecond: one second each, and a second try (one lost is noise).
  let r = await ping(netns, dst, { count: 1, timeoutS: 1 });
  if (!/packets transmitted/.test(r.out)) {
    return [skip("underlay.ping", node.name, `cannot run ping: ${r.out.split("\n")[0]}`)];
  }
  if (r.received === 0) r = await ping(netns, dst, { count: 2, timeoutS: 1 });
  const route = node.kernel.fib({ dst });
  const via = route.ok ? `${route.route.gateway ?? dst} on ${route.route.devName ?? "?"}` : "-";
  const errors = icmpErrors(r.out);
  const evidence: Record<string, unknown> = {
    command: `${nsExec(node)}ping -c 2 ${dst}`,
    sent: r.sent,
    received: r.received,
    nextHop: via,
  };
  if (errors.length) evidence.icmpErrors = errors.map((e) => `${e.from}: ${e.text}`);
  const c = r.received > 0
    ? pass("underlay.ping", node.name, `${node.name} reaches ${peer.name}'s node IP ${dst}`, {
      evidence,
    })
    : warn(
      "underlay.ping",
      node.name,
      `${node.name} gets no ping reply from ${peer.name}'s node IP ${dst} (next hop ${via})${
        errors.length ? `: ${errors[0]!.from} answered "${errors[0]!.text}"` : ""
      }: the network between the nodes does not deliver, or filters ICMP`,
      {
        evidence,
        fix: `check the path between the nodes (a router not forwarding, a firewall between ` +
          `them, a down link): ${nsExec(node)}ip route get ${dst}; ${nsExec(node)}ip neigh show`,
      },
    );
  d.memo.set(`underlay.ping|${node.name}|${peer.name}`, c);
  return [c];
}

/** The underlay.ping result of `node` toward `peer` in this diagnosis, if it ran. */
export function underlayPingOf(
  d: Diagnosis,
  node: NodeView,
  peer: NodeView,
): CheckResult | undefined {
  return d.memo.get(`underlay.ping|${node.name}|${peer.name}`) as CheckResult | undefined;
}

/** Whether `node` would not answer a ping from `peer`'s node IP (echo ignored, or its ruleset drops it). */
async function ignoresPing(d: Diagnosis, node: NodeView, peer: NodeView): Promise<boolean> {
  const k = node.kernel;
  if (!k) return false;
  k.readSysctls(["net/ipv4/icmp_echo_ignore_all"]);
  if (k.sysctl("net/ipv4/icmp_echo_ignore_all") === "1") return true;
  const rs = await rulesetOf(d, node);
  const p = nodePacket(node, peer, "input", { l4proto: "icmp", icmp: echoOf(false) });
  return rs.ok && p !== undefined && judge(rs.ruleset, p).verdict === "drop";
}

/** The underlay family. */
export const underlayFamily: Family = {
  name: "underlay",
  async pair(d, pair) {
    const [a, b] = pair.nodes;
    if (!a || !b) return [];
    return [
      ...addressCheck(a),
      ...addressCheck(b),
      ...uplinkState(a),
      ...uplinkState(b),
      ...sameMacCheck(a, b),
      ...uplinkArp(a),
      ...uplinkArp(b),
      ...reach(a, b),
      ...reach(b, a),
      ...(await Promise.all([pingCheck(d, a, b), pingCheck(d, b, a)])).flat(),
      ...await port(d, b, a),
      ...await port(d, a, b),
    ];
  },
  async node(d, node) {
    const out: CheckResult[] = [...addressCheck(node), ...uplinkState(node), ...uplinkArp(node)]
      .filter((c) => c.status !== "pass");
    for (const l of d.store.leases ?? []) {
      if (l.subnet === node.lease?.subnet) continue;
      const peer: NodeView = { name: l.node, nodeName: l.node, facts: node.facts, lease: l };
      out.push(...reach(node, peer).filter((c) => c.status !== "pass"));
      // The tunnel's packets from the peer through this node's input hook.
      out.push(
        ...(await port(d, node, peer)).filter((c) => c.status === "fail" || c.status === "warn"),
      );
    }
    if (!out.length) {
      out.push(
        pass(
          "underlay.fib",
          node.name,
          `${node.name} reaches every other node's IP by its uplink`,
          { evidence: { nodes: (d.store.leases ?? []).length - 1 } },
        ),
      );
    }
    return out;
  },
};
