/**
 * `pod.host`: the node's side of a pod's veth. Bridge mode: the host veth is a forwarding port
 * of the node's bridge, which is up, holds the gateway the pod routes the flow through, and is
 * where the node routes the pod's address. Routed mode: a /32 route to the pod via its host veth,
 * and proxy ARP there. Also `pod.bridge_mac` (a bridge whose MAC is borrowed from a port) and
 * the pod's attachment mode, read from inside the pod.
 *
 * @module
 */
import type { Link } from "../../net/types.ts";
import { canonicalCidr, contains, parseIp, tryParseCidr } from "../../net/cidr.ts";
import { type CheckResult, fail, pass, warn } from "../check.ts";
import type { Diagnosis, Endpoint, NodeView, PodMode } from "../context.ts";
import { nsExec, nsPrefix } from "../path.ts";
import { addrOf, confKey, noArp } from "../kernel.ts";
import { inCidr, ipv4Number } from "../context.ts";
import { flatOf, routeText } from "../route_diff.ts";
import { answeringRule, ruleCause, ruleFix, ruleText, ruleWords } from "../rule_walk.ts";
import { podIf, podKernel, podLink, podPrefixLen, podRoute } from "./_pod_kernel.ts";
import { localOwner } from "./_local_owner.ts";
import { findNetnsOf } from "../endpoint.ts";

/** BR_STATE_* (linux/if_bridge.h) as `bridge link show` prints them. */
const PORT_STATES = ["disabled", "listening", "learning", "forwarding", "blocking"];
const BR_STATE_FORWARDING = 3;

/** The gateway the pod sends the flow to (on its eth0 address's prefix), if it uses one. */
export interface PodGateway {
  ip: string;
  prefix: number;
}

/**
 * The gateway pod `e` routes packets for `dst` through (its FIB answer's next hop), with its eth0
 * address's prefix length; undefined when the peer is on-link or the pod has no route.
 */
export function podGatewayTo(d: Diagnosis, e: Endpoint, dst: string): PodGateway | undefined {
  const r = podRoute(d, e, dst);
  const gw = r?.ok ? r.route.gateway : undefined;
  const prefix = podPrefixLen(d, e);
  return gw && prefix !== undefined ? { ip: gw, prefix } : undefined;
}

/** A bridge port that does not forward: its STP state, and how to get it forwarding. */
function portStateCheck(
  node: NodeView,
  host: Link,
  bridge: Link,
  e: Endpoint,
  ev: Record<string, unknown>,
): CheckResult | undefined {
  const state = host.portState;
  if (state === undefined || state === BR_STATE_FORWARDING) return undefined;
  // No carrier (the pod's interface down) disables the port too: pod.eth0 names that cause.
  if (state === 0 && host.operState !== "up") return undefined;
  const word = PORT_STATES[state] ?? `state ${state}`;
  const stp = (bridge.bridge?.stpState ?? 0) !== 0;
  const ns = nsExec(node);
  return fail(
    "pod.host",
    node.name,
    `host veth ${host.name} of pod ${e.podName ?? e.ip} is a ${word} port of ${bridge.name}: ` +
      `the bridge forwards nothing to or from it${
        stp
          ? " (STP is on: a new port listens and learns before it forwards, or STP blocks it)"
          : ""
      }`,
    {
      evidence: { ...ev, portState: word, stp: stp ? "on" : "off" },
      // Turning STP off leaves a listening port listening: it is set forwarding afterwards.
      fix: (stp ? `${ns}ip link set ${bridge.name} type bridge stp_state 0; ` : "") +
        `${ns}bridge link set dev ${host.name} state 3  # forwarding` +
        (stp ? "; pod bridges need no STP" : ""),
    },
  );
}

/** A bridge that answers no ARP (NOARP, arp_ignore 8): its pods cannot resolve their gateway. */
function bridgeArpCheck(
  node: NodeView,
  bridge: Link,
  e: Endpoint,
  ev: Record<string, unknown>,
): CheckResult | undefined {
  const ignore = node.kernel!.arpIgnore(bridge.name);
  const off = noArp(bridge.flags);
  if (ignore < 8 && !off) return undefined;
  const ns = nsExec(node);
  return fail(
    "pod.host",
    node.name,
    `bridge ${bridge.name} on ${node.name} answers no ARP (${
      off ? "NOARP" : "arp_ignore=8"
    }): pod ${e.podName ?? e.ip} cannot resolve its gateway`,
    {
      evidence: { ...ev, bridge: bridge.name, noarp: off, arp_ignore: ignore },
      fix: off
        ? `${ns}ip link set ${bridge.name} arp on`
        : `${ns}sysctl -w net.ipv4.conf.all.arp_ignore=0 ${confKey(bridge.name, "arp_ignore")}=0`,
    },
  );
}

/**
 * The node's bridge is gone (deleted by hand, or by another CNI's cleanup): every pod on it is
 * cut off. The fix makes it again as skein's CNI plugin does (its MAC 0a:58 + the gateway, the
 * gateway address on the node's subnet), up, with the pod's veth on it.
 */
function missingBridge(node: NodeView, host: Link, ev: Record<string, unknown>): CheckResult {
  const br = node.facts.bridge, ns = nsExec(node);
  const subnet = node.lease?.subnet;
  const gw = subnet ? firstHost(subnet) : undefined;
  const mac = gw
    ? ` address 0a:58:${
      gw.split(".").map((x) => Number(x).toString(16).padStart(2, "0")).join(":")
    }`
    : "";
  const steps = [
    `${ns}ip link add ${br}${mac} type bridge`,
    ...(gw && subnet ? [`${ns}ip addr add ${gw}/${subnet.split("/")[1]} dev ${br}`] : []),
    `${ns}ip link set ${br} up`,
    `${ns}ip link set ${host.name} master ${br}`,
  ];
  return fail(
    "pod.host",
    node.name,
    `bridge ${br} is missing on ${node.name}: host veth ${host.name} is on no bridge and the pods are cut off`,
    {
      evidence: ev,
      fix: `${steps.join(" && ")}  # then the same 'master ${br}' for the node's other pods' veths`,
    },
  );
}

/**
 * Bridge mode: the host veth is a forwarding port of the node's bridge, which is up and holds
 * the pods' gateway (the next hop of the pod's route for the flow).
 */
function bridgedHost(
  d: Diagnosis,
  node: NodeView,
  host: Link,
  e: Endpoint,
  ev: Record<string, unknown>,
  gateway: PodGateway | undefined,
): CheckResult {
  const k = node.kernel!;
  const bridge = k.link(node.facts.bridge);
  if (!bridge) return missingBridge(node, host, ev);
  if (host.masterIndex !== bridge.index) {
    return fail(
      "pod.host",
      node.name,
      `host veth ${host.name} is ${
        ev.master === "none" ? "on no bridge" : `on ${ev.master}`
      }, not on ${node.facts.bridge}: the bridge forwards nothing to it`,
      {
        evidence: ev,
        fix: `${nsExec(node)}ip link set ${host.name} master ${node.facts.bridge}`,
      },
    );
  }
  if (!bridge.up) {
    return fail("pod.host", node.name, `bridge ${bridge.name} on ${node.name} is down`, {
      evidence: ev,
      fix: `${nsExec(node)}ip link set ${bridge.name} up`,
    });
  }
  const port = portStateCheck(node, host, bridge, e, ev);
  if (port) return port;
  const arp = bridgeArpCheck(node, bridge, e, ev);
  if (arp) return arp;
  if (gateway && node.facts.gatewayOnBridge !== false) {
    const missing = gatewayCheck(d, node, bridge, e, ev, gateway);
    if (missing) return missing;
  }
  const route = nodeRouteToPod(node, bridge, e);
  if (route) return route;
  return pass("pod.host", node.name, `host veth ${host.name} is up on ${bridge.name}`, {
    evidence: ev,
  });
}

/**
 * The gateway pod `e` routes the flow through is not an address of the bridge. When the bridge
 * holds the node subnet's gateway (its first address, what IPAM hands out) and the pod's next hop
 * is another address of that subnet (another pod's, or no one's), the pod's route is wrong: it
 * goes back to the bridge. Otherwise the bridge lost the gateway address the pods use.
 */
function gatewayCheck(
  d: Diagnosis,
  node: NodeView,
  bridge: Link,
  e: Endpoint,
  ev: Record<string, unknown>,
  gateway: PodGateway,
): CheckResult | undefined {
  const k = node.kernel!;
  const held = k.addrs().filter((x) => x.index === bridge.index && x.family === 4);
  if (held.some((x) => addrOf(x.cidr) === gateway.ip)) return undefined;
  const evidence = { ...ev, bridgeAddresses: held.map((x) => x.cidr), podGateway: gateway.ip };
  const first = node.lease ? firstHost(node.lease.subnet) : undefined;
  const own = held.find((x) =>
    addrOf(x.cidr) === first && inCidr(ipv4Number(gateway.ip) ?? 0, x.cidr)
  );
  const route = own ? podRouteVia(d, e, gateway.ip) : undefined;
  const via = own && route ? forwardingPod(d, node, e, gateway.ip) : undefined;
  if (own && route && via) {
    return warn(
      "pod.host",
      node.name,
      `pod ${
        e.podName ?? e.ip
      } routes ${route} via ${gateway.ip}, another pod (${via}) that forwards for it, not via its gateway ${first}: it works only while that pod does`,
      {
        evidence: { ...evidence, podRoute: `${route} via ${gateway.ip}`, forwardedBy: via },
        fix: `${nsPrefix(e.netns)}ip route replace ${route} via ${first} dev ${podIf(e)}`,
      },
    );
  }
  if (own && route) {
    const pod = `pod ${e.podName ?? e.ip}`;
    return fail(
      "pod.host",
      node.name,
      `${pod} routes ${route} via ${gateway.ip}, not via its gateway ${first} (${bridge.name} on ${node.name}): ${gateway.ip} is another address of the pod subnet (another pod's, or no one's), which does not route for it`,
      {
        evidence: { ...evidence, podRoute: `${route} via ${gateway.ip}` },
        fix: `${nsPrefix(e.netns)}ip route replace ${route} via ${first} dev ${podIf(e)}`,
      },
    );
  }
  return fail(
    "pod.host",
    node.name,
    `bridge ${bridge.name} on ${node.name} does not hold the pods' gateway ${gateway.ip}`,
    {
      evidence,
      fix: `${nsExec(node)}ip addr add ${gateway.ip}/${gateway.prefix} dev ${bridge.name}`,
    },
  );
}

/**
 * The namespace of the pod on `node` that holds `ip` when it forwards (ip_forward=1 there): a
 * pod routed through it still gets through.
 */
function forwardingPod(
  d: Diagnosis,
  node: NodeView,
  e: Endpoint,
  ip: string,
): string | undefined {
  const netns = findNetnsOf(ip, new Set(e.netns ? [e.netns] : []), {
    node: node.kernel?.netns ? { netns: node.kernel.netns } : {},
  });
  if (!netns) return undefined;
  const k = podKernel(d, { query: ip, ip, netns });
  return k?.sysctl("net/ipv4/ip_forward") === "1" ? netns : undefined;
}

/** The first host address of an IPv4 subnet ("10.244.2.0/24" -> "10.244.2.1"). */
function firstHost(subnet: string): string | undefined {
  const n = ipv4Number(addrOf(subnet));
  if (n === undefined) return undefined;
  const v = n + 1;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
}

/** The destination of pod `e`'s most specific route via `gw` (main table), e.g. "default". */
function podRouteVia(d: Diagnosis, e: Endpoint, gw: string): string | undefined {
  const r = podKernel(d, e)?.routes().filter((x) =>
    x.family === 4 && x.table === 254 && x.gateway === gw
  ).sort((a, b) => Number(b.dst.split("/")[1]) - Number(a.dst.split("/")[1]))[0];
  return r ? (r.dst === "0.0.0.0/0" ? "default" : r.dst) : undefined;
}

/**
 * The pod's own node takes the pod's address for its own (the bridge or another link given it,
 * a local route): the packets for the pod are delivered to the node, and the pod's replies come
 * from an address the node thinks is its own (dropped as martians).
 */
function localPod(node: NodeView, bridge: Link, e: Endpoint): CheckResult {
  const how = localOwner(node.kernel!, nsExec(node), e.ip);
  return fail(
    "pod.host",
    node.name,
    `${node.name} takes its pod ${
      e.podName ?? e.ip
    }'s address ${e.ip} for its own (${how.text}): ` +
      `nothing for the pod reaches ${bridge.name}`,
    {
      evidence: { lookup: `${nsExec(node)}ip route get ${e.ip}`, kernel: `local ${e.ip}` },
      fix: how.fix,
    },
  );
}

/**
 * Bridge mode: the node routes the pod's address onto the bridge (the connected route of the
 * bridge's address). Without it the node and the traffic it forwards cannot reach any of its
 * pods while the bridge, the veth and the pod look right.
 */
function nodeRouteToPod(node: NodeView, bridge: Link, e: Endpoint): CheckResult | undefined {
  const k = node.kernel!;
  const a = k.fib({ dst: e.ip });
  if (a.ok && a.route.oif === bridge.index) return undefined;
  if (a.ok && a.route.type === "local") return localPod(node, bridge, e);
  const ip = parseIp(e.ip);
  const within = (cidr: string) => {
    const c = tryParseCidr(cidr);
    return c !== undefined && c.family === 4 && contains(c, ip);
  };
  const own = k.addrs().find((x) => x.index === bridge.index && within(x.cidr));
  const subnet = own ? canonicalCidr(own.cidr) : undefined;
  const routes = k.routes().filter((r) => r.family === 4 && r.table === 254);
  const connected = routes.some((r) => r.dst === subnet && r.oif === bridge.index);
  // With the bridge's route in place, a more specific route elsewhere takes the pod's address.
  const names = new Map(k.links().map((l) => [l.index, l.name]));
  const override = connected
    ? routes.filter((r) => r.oif !== bridge.index && within(r.dst))
      .sort((x, y) => Number(y.dst.split("/")[1]) - Number(x.dst.split("/")[1]))[0]
    : undefined;
  const got = a.ok
    ? `${e.ip}${a.route.gateway ? ` via ${a.route.gateway}` : ""} dev ${
      a.route.devName ?? a.route.oif
    } (${a.route.type})`
    : a.message;
  const ns = nsExec(node);
  const rule = connected && !a.ok ? ruleCause(k.rules(), routes, { dst: e.ip }) : undefined;
  // Answered from another table: the lookup rule that sends it there.
  const other = connected && a.ok && a.route.table !== 254 && a.route.table !== 255
    ? answeringRule(k.rules(), k.routes(), { dst: e.ip }, a.route.table)
    : undefined;
  const fix = other
    ? `${ns}ip rule del pref ${other.priority}  # ${
      ruleText(other)
    } sends ${e.ip} to table ${other.table}`
    : override
    ? `${ns}ip route del ${routeText(flatOf(override, names))}  # after checking who added it`
    : rule
    ? ruleFix(ns, rule)
    : connected
    ? `${ns}ip rule show  # a policy rule sends ${e.ip} to another table`
    : own
    ? `${ns}ip route replace ${subnet} dev ${bridge.name} proto kernel scope link src ${
      own.cidr.split("/")[0]
    }`
    : `${ns}ip route  # find what sends ${e.ip} elsewhere`;
  return fail(
    "pod.host",
    node.name,
    `${node.name} routes its pod ${e.podName ?? e.ip} ${
      a.ok ? `by ${a.route.devName ?? a.route.oif}` : "nowhere"
    }, not onto ${bridge.name}: ${
      override
        ? `${override.dst} overrides the bridge's route`
        : rule
        ? ruleWords(rule)
        : connected
        ? "something overrides the bridge's route"
        : "the route of the bridge's subnet is gone"
    }`,
    {
      evidence: {
        lookup: `${ns}ip route get ${e.ip}`,
        kernel: got,
        bridgeAddress: own?.cidr ?? "none",
        ...(override ? { overriddenBy: routeText(flatOf(override, names)) } : {}),
      },
      fix,
    },
  );
}

/** Routed mode: a /32 to the pod via its host veth, and proxy ARP there. */
function routedHost(
  node: NodeView,
  host: Link,
  ip: string,
  ev: Record<string, unknown>,
): CheckResult {
  const k = node.kernel!;
  const r = k.routes().find((x) => x.family === 4 && x.dst === `${ip}/32` && x.oif === host.index);
  const proxy = k.sysctl(`net/ipv4/conf/${host.name}/proxy_arp`);
  Object.assign(ev, { route: r ? `${ip}/32 dev ${host.name}` : "none", proxy_arp: proxy });
  if (!r) {
    return fail("pod.host", node.name, `routed pod ${ip}: no /32 route via ${host.name}`, {
      evidence: ev,
      fix: `${nsExec(node)}ip route replace ${ip}/32 dev ${host.name} scope link proto 101`,
    });
  }
  if (proxy !== "1") {
    return fail("pod.host", node.name, `routed pod ${ip}: proxy_arp off on ${host.name}`, {
      evidence: ev,
      fix: `${nsExec(node)}sysctl -w ${confKey(host.name, "proxy_arp")}=1`,
    });
  }
  return pass("pod.host", node.name, `routed pod ${ip}: /32 route and proxy_arp on ${host.name}`, {
    evidence: ev,
  });
}

/** The host side of pod `e`'s veth on its node (undefined: the pod's interface is no veth). */
export function hostVethOf(d: Diagnosis, e: Endpoint): Link | undefined {
  const eth0 = podLink(d, e);
  if (!eth0 || eth0.parentIndex === undefined) return undefined;
  return e.node?.kernel?.link(eth0.parentIndex);
}

/** pod.host for endpoint `e` of a flow with `peer`. */
export function podHost(d: Diagnosis, e: Endpoint, peer: Endpoint): CheckResult[] {
  const node = e.node!;
  const k = node.kernel!;
  const eth0 = podLink(d, e);
  if (!eth0 || eth0.parentIndex === undefined) return [];
  const host = k.link(eth0.parentIndex);
  if (!host) {
    return [
      fail(
        "pod.host",
        node.name,
        `the host side of pod ${e.podName ?? e.ip}'s veth is missing on ${node.name}`,
        {
          evidence: { peerIndex: eth0.parentIndex },
          fix: "delete and recreate the pod",
        },
      ),
    ];
  }
  const ev: Record<string, unknown> = {
    hostVeth: host.name,
    up: host.up,
    operState: host.operState,
    master: host.masterIndex !== undefined ? k.link(host.masterIndex)?.name : "none",
  };
  if (!host.up) {
    return [
      fail("pod.host", node.name, `host veth ${host.name} of pod ${e.podName ?? e.ip} is down`, {
        evidence: ev,
        fix: `${nsExec(node)}ip link set ${host.name} up`,
      }),
    ];
  }
  return [
    podModeOf(d, e) === "bridge"
      ? bridgedHost(d, node, host, e, ev, podGatewayTo(d, e, peer.ip))
      : routedHost(node, host, e.ip, ev),
  ];
}

/**
 * `pod.bridge_mac`: the bridge keeps a local forwarding entry for its own MAC (every bridge has
 * one). Without it (`bridge fdb del MAC dev cni0 self`, a flush of permanent entries) the frames
 * pods send to their gateway are flooded to the other ports instead of handed to the node.
 */
export function bridgeOwnEntry(node: NodeView): CheckResult | undefined {
  const k = node.kernel!;
  const bridge = k.link(node.facts.bridge);
  const mac = bridge?.mac?.toLowerCase();
  if (!bridge || !mac) return undefined;
  // A MAC borrowed from a port (pod.bridge_mac's warning) is that port's local entry.
  const has = k.fdbs().some((f) =>
    f.mac.toLowerCase() === mac && f.state === "permanent" &&
    (f.index === bridge.index || k.link(f.index)?.masterIndex === bridge.index)
  );
  if (has) return undefined;
  return fail(
    "pod.bridge_mac",
    node.name,
    `${bridge.name} on ${node.name} has no local forwarding entry for its own MAC ${mac}: the ` +
      "frames its pods send to their gateway are flooded to the other ports, not delivered to " +
      node.name,
    {
      evidence: { bridge: bridge.name, mac, entries: "none for its own MAC" },
      fix: `${nsExec(node)}bridge fdb add ${mac} dev ${bridge.name} self local`,
    },
  );
}

/**
 * A bridge whose MAC is one of its ports' was given none (the reference bridge plugin, skein
 * before 0a:58 MACs): the kernel lent it the lowest port's, and changes it when that pod goes,
 * leaving every other pod's neighbour entry for the gateway pointing nowhere for seconds. A
 * warning: nothing is broken yet.
 */
export function borrowedBridgeMac(node: NodeView): CheckResult | undefined {
  const k = node.kernel!;
  const bridge = k.link(node.facts.bridge);
  const mac = bridge?.mac?.toLowerCase();
  if (!bridge || !mac) return undefined;
  const lender = k.links().find((l) =>
    l.masterIndex === bridge.index && l.mac?.toLowerCase() === mac
  );
  if (!lender) return undefined;
  const gw = k.addrs().find((a) => a.index === bridge.index && a.family === 4)?.cidr.split("/")[0];
  const own = gw
    ? `0a:58:${gw.split(".").map((x) => Number(x).toString(16).padStart(2, "0")).join(":")}`
    : "02:00:00:00:00:01";
  return warn(
    "pod.bridge_mac",
    node.name,
    `${bridge.name} on ${node.name} has no MAC of its own: it borrows ${lender.name}'s and changes ` +
      "when that pod goes (every pod's gateway entry then points nowhere for seconds)",
    {
      evidence: { bridge: bridge.name, mac, lentBy: lender.name },
      fix: `${
        nsExec(node)
      }ip link set ${bridge.name} address ${own}  # set once, it stays (pods re-resolve the gateway once)`,
    },
  );
}

/**
 * How pod `e` is attached, from inside it: a /32 address is the routed mode's (cni/modes.ts:
 * a link-local gateway answered by the host veth), anything wider a bridge's. Read from the pod,
 * not from the host veth, so a veth that fell off its bridge is not taken for a routed pod.
 */
export function podModeOf(d: Diagnosis, e: Endpoint): PodMode {
  if (podPrefixLen(d, e) !== 32) return "bridge";
  // A /32 on a port of the node's bridge is a bridged pod whose address lost its prefix.
  const host = hostVethOf(d, e), bridge = e.node?.kernel?.link(e.node.facts.bridge);
  return host && bridge && host.masterIndex === bridge.index ? "bridge" : "routed";
}
