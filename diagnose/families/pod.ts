/**
 * `pod`: inside each pod with a known namespace, its interface (eth0, or the CNI_IFNAME IPAM
 * recorded: pod_ifname.ts) is up with the address IPAM recorded, a
 * route to the other end and a default route, and (the destination) it answers ICMP echo; on the
 * node, the host-side veth is a forwarding port of the bridge holding the pod's gateway (bridge
 * mode), or the /32 route to the pod and proxy_arp are in place (routed mode) (_pod_host.ts);
 * the neighbour entries on both sides of the veth name the right MACs (_pod_neigh.ts); the bridge
 * port flags let the flow's frames through (_pod_port.ts); each pod's TTL outlives the path's
 * routers (pod.ttl).
 *
 * @module
 */
import { nodePortChecks, portChecks } from "./_pod_port.ts";
import type { Link, Route, RouteGetResult } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import { type Diagnosis, type Endpoint, inCidr, ipv4Number, type Pair } from "../context.ts";
import { firstHolding } from "../kernel_index.ts";
import type { Family } from "../family.ts";
import { confKey, type Kernel, noArp } from "../kernel.ts";
import { containerOf, readReservations } from "../ipam_read.ts";
import { nsPrefix, pathHops } from "../path.ts";
import { answeringRule, ruleCause, ruleFix, ruleText, ruleWords } from "../rule_walk.ts";
import {
  defaultRouteOf,
  peerOf,
  podIf,
  podKernel,
  podLink,
  podPrefixLen,
  podRoute,
} from "./_pod_kernel.ts";
import {
  borrowedBridgeMac,
  bridgeOwnEntry,
  hostVethOf,
  podGatewayTo,
  podHost,
  podModeOf,
} from "./_pod_host.ts";
import { bridgeFdbOfPod, nodeNeighOfPod, podNeighOfHop } from "./_pod_neigh.ts";

export { podKernel } from "./_pod_kernel.ts";

/**
 * pod.eth0: the pod's interface (eth0, net1, ...) is up, holds the pod's address, and answers ARP
 * (not NOARP, arp_ignore below 8).
 */
function eth0Check(
  k: Kernel,
  e: Endpoint,
  label: string,
  eth0: Link,
  hasIp: boolean,
  ev: Record<string, unknown>,
): CheckResult {
  const ns = nsPrefix(e.netns), dev = eth0.name;
  if (!eth0.up || eth0.operState === "lowerlayerdown" || eth0.operState === "down") {
    return fail(
      "pod.eth0",
      label,
      `${dev} in pod ${e.podName ?? e.ip} is ${eth0.up ? eth0.operState : "down"}`,
      {
        evidence: ev,
        fix: eth0.up
          ? `check the host side of the pod's veth (see pod.host)`
          : `${ns}ip link set dev ${dev} up`,
      },
    );
  }
  if (!hasIp) {
    return fail("pod.eth0", label, `${dev} in pod ${e.podName ?? e.netns} does not hold ${e.ip}`, {
      evidence: ev,
      fix: "delete and recreate the pod",
    });
  }
  const ignore = k.arpIgnore(dev);
  if (ignore >= 8) {
    return fail(
      "pod.eth0",
      label,
      `pod ${
        e.podName ?? e.ip
      } answers no ARP request (arp_ignore=8): its node cannot resolve ${e.ip}`,
      {
        evidence: { ...ev, arp_ignore: ignore },
        fix: `${ns}sysctl -w net.ipv4.conf.all.arp_ignore=0 ${confKey(dev, "arp_ignore")}=0`,
      },
    );
  }
  if (noArp(eth0.flags)) {
    return fail(
      "pod.eth0",
      label,
      `${dev} in pod ${e.podName ?? e.ip} has ARP off (NOARP): its node cannot resolve ${e.ip}`,
      { evidence: { ...ev, flags: "NOARP" }, fix: `${ns}ip link set ${dev} arp on` },
    );
  }
  return pass("pod.eth0", label, `pod ${e.podName ?? e.ip}: ${dev} up with ${e.ip}`, {
    evidence: ev,
  });
}

/**
 * What inside the pod refuses its lookup for `dst` when a route would exist: a policy rule
 * (a discarding one, or main looked up by none) or a blackhole/unreachable/prohibit route.
 */
function refusedBy(
  d: Diagnosis,
  e: Endpoint,
  dst: string,
): { why: string; fix: string } | undefined {
  const pk = podKernel(d, e);
  if (!pk) return undefined;
  const ns = nsPrefix(e.netns);
  const rule = ruleCause(pk.rules(), pk.routes(), { dst });
  if (rule) return { why: `: ${ruleWords(rule)}`, fix: ruleFix(ns, rule) };
  // The table where the rule walk ends (main, or the one a `lookup` rule sends the flow to).
  const via = answeringRule(pk.rules(), pk.routes(), { dst });
  const t = via?.table ?? 254;
  const r = firstHolding(pk.routes(), t, ipv4Number(dst));
  if (r && (r.type === "blackhole" || r.type === "unreachable" || r.type === "prohibit")) {
    const table = t === 254 ? "" : ` table ${t}`;
    return {
      why: `: its route ${r.type} ${r.dst}${table}${
        via && t !== 254 ? ` (policy rule "${ruleText(via)}" sends it there)` : ""
      } refuses it`,
      fix: `${ns}ip route del ${r.type} ${r.dst}${table}${
        via && t !== 254 ? `  # or ${ns}ip rule del pref ${via.priority}` : ""
      }`,
    };
  }
  return undefined;
}

/**
 * How a bridged pod gets its route back: a default route via the bridge's address (the gateway
 * IPAM gives it), after its interface's address gets the bridge's prefix back when it lost it (a /32
 * has no on-link route to the gateway). Other pods: recreate them.
 */
function routeBack(d: Diagnosis, e: Endpoint): { why: string; fix: string } {
  const recreate = {
    why: "",
    fix: "delete and recreate the pod (isDefaultGateway in the CNI config gives it one)",
  };
  const node = e.node, k = node?.kernel, bridge = k?.link(node!.facts.bridge);
  if (!k || !bridge || node!.facts.gatewayOnBridge === false || podModeOf(d, e) !== "bridge") {
    return recreate;
  }
  const gw = k.addrs().find((a) =>
    a.index === bridge.index && a.family === 4 && inCidr(ipv4Number(e.ip) ?? 0, a.cidr)
  );
  if (!gw) return recreate;
  const [gwIp, len] = gw.cidr.split("/") as [string, string];
  const ns = nsPrefix(e.netns), have = podPrefixLen(d, e), dev = podIf(e);
  const route = `${ns}ip route add default via ${gwIp} dev ${dev}`;
  if (have !== undefined && String(have) !== len) {
    return {
      why:
        `: its ${dev} holds ${e.ip}/${have}, not /${len} like ${bridge.name}'s ${gw.cidr}, so its gateway ${gwIp} is not on-link`,
      fix:
        `${ns}ip addr del ${e.ip}/${have} dev ${dev} && ${ns}ip addr add ${e.ip}/${len} dev ${dev} && ${route}`,
    };
  }
  return { why: "", fix: route };
}

/**
 * The address behind a connected route (proto kernel, the one `ip addr add` makes): its `src` is
 * an address of the pod on the route's device, whose prefix is the route's.
 */
function strayAddress(pk: Kernel, r: Route): { cidr: string; index: number } | undefined {
  if (r.protocol !== 2 || !r.src || r.oif === undefined) return undefined;
  const len = r.dst.split("/")[1];
  return pk.addrs().find((a) =>
    a.family === 4 && a.index === r.oif && a.cidr === `${r.src}/${len}`
  );
}

/**
 * The pod's route to the peer gives another source address than its own (a route's `src`): the
 * peer answers an address nothing routes back to the pod.
 */
function sourceCheck(
  e: Endpoint,
  peer: Endpoint,
  label: string,
  ev: Record<string, unknown>,
  r: Route,
  pk: Kernel,
): CheckResult | undefined {
  if (!r.src || r.src === e.ip || peer.ip === e.ip) return undefined;
  // The answer names the looked-up address; the route to fix is the table's, with that src.
  const own =
    pk.routes().filter((x) =>
      x.family === 4 && x.src === r.src && inCidr(ipv4Number(peer.ip) ?? 0, x.dst)
    ).sort((a, b) => Number(b.dst.split("/")[1]) - Number(a.dst.split("/")[1]))[0] ?? r;
  const dst = own.dst === "0.0.0.0/0" ? "default" : own.dst;
  const ns = nsPrefix(e.netns);
  const stray = strayAddress(pk, own);
  if (stray) {
    const dev = pk.link(stray.index)?.name ?? podIf(e);
    return fail(
      "pod.default_route",
      label,
      `pod ${
        e.podName ?? e.ip
      } holds a second address ${stray.cidr} on ${dev}, in ${peer.ip}'s subnet: ` +
        `it sends to ${peer.ip} on-link from ${r.src}, and the replies go to an address nothing routes back to it`,
      {
        evidence: {
          ...ev,
          lookup: `ip route get ${peer.ip}: src ${r.src}`,
          strayAddress: stray.cidr,
        },
        fix: `${ns}ip addr del ${stray.cidr} dev ${dev}`,
      },
    );
  }
  return fail(
    "pod.default_route",
    label,
    `pod ${
      e.podName ?? e.ip
    } sends to ${peer.ip} from ${r.src} (its route's src), not its own ${e.ip}: the replies go to an address nothing routes back to it`,
    {
      evidence: { ...ev, lookup: `ip route get ${peer.ip}: src ${r.src}` },
      fix: `${ns}ip route replace ${dst}${r.gateway ? ` via ${r.gateway}` : ""} dev ${
        pk.link(own.oif ?? r.oif ?? -1)?.name ?? podIf(e)
      }  # without src ${r.src}`,
    },
  );
}

/**
 * A bridged pod that takes a peer on another node for on-link (its interface's address has a wider
 * prefix than its bridge's subnet, `10.244.1.2/16`, or a route sends the cluster network to it
 * without a gateway): it ARPs for the peer itself and nobody on the bridge answers (unless the
 * bridge answers for everyone: proxy_arp).
 */
function onLinkCheck(
  d: Diagnosis,
  e: Endpoint,
  peer: Endpoint,
  label: string,
  ev: Record<string, unknown>,
  r: RouteGetResult,
): CheckResult | undefined {
  const node = e.node, k = node?.kernel, bridge = k?.link(node!.facts.bridge);
  const pk = podKernel(d, e)!, eth0 = podLink(d, e), dev = podIf(e);
  if (!k || !bridge || !eth0 || r.gateway || r.type !== "unicast" || r.oif !== eth0.index) {
    return undefined;
  }
  if (podModeOf(d, e) !== "bridge" || node!.facts.gatewayOnBridge === false) return undefined;
  const mine = hostVethOf(d, e)?.masterIndex;
  if (peer.node === node && peer.netns && hostVethOf(d, peer)?.masterIndex === mine) {
    return undefined;
  }
  if (k.sysctl(`net/ipv4/conf/${bridge.name}/proxy_arp`) === "1") return undefined;
  // The bridge answers ARP for its own addresses (the pod's gateway among them).
  const peerIp = peer.ip;
  if (k.addrs().some((a) => a.index === bridge.index && a.cidr.split("/")[0] === peerIp)) {
    return undefined;
  }
  const gw = k.addrs().find((a) =>
    a.index === bridge.index && a.family === 4 && inCidr(ipv4Number(e.ip) ?? 0, a.cidr)
  );
  const have = podPrefixLen(d, e), len = gw ? Number(gw.cidr.split("/")[1]) : undefined;
  // The pod's own route to the peer on eth0 without a gateway (not the default route).
  const own = firstHolding(
    pk.routes(),
    254,
    ipv4Number(peer.ip),
    (x) => x.oif === eth0.index && !x.gateway,
    0,
  );
  const wide = have !== undefined && len !== undefined && have < len;
  const ns = nsPrefix(e.netns);
  const why = wide
    ? `its ${dev} holds ${e.ip}/${have}, wider than ${bridge.name}'s ${gw!.cidr}`
    : own
    ? `route ${own.dst} dev ${dev} has no gateway`
    : "no gateway";
  return fail(
    "pod.default_route",
    label,
    `pod ${e.podName ?? e.ip} takes ${peer.ip} for on-link (${why}): it asks ARP for ` +
      `${peer.ip} on ${dev}, and no one on ${bridge.name} answers`,
    {
      evidence: { ...ev, lookup: `ip route get ${peer.ip}: dev ${dev} (no gateway)` },
      fix: wide
        ? `${ns}ip addr del ${e.ip}/${have} dev ${dev} && ${ns}ip addr add ${e.ip}/${len} dev ${dev}` +
          ` && ${ns}ip route add default via ${gw!.cidr.split("/")[0]} dev ${dev}`
        : own
        ? `${ns}ip route del ${own.dst} dev ${dev}`
        : `${ns}ip route  # what sends ${peer.ip} on-link`,
    },
  );
}

/**
 * The pod's route to the peer does not lead onto the pod network: the pod holds the peer's
 * address itself, or another interface (a second network, a VPN sidecar's tunnel, lo) takes it.
 */
function wrongWayCheck(
  e: Endpoint,
  peer: Endpoint,
  label: string,
  ev: Record<string, unknown>,
  r: RouteGetResult,
  pk: Kernel,
): CheckResult | undefined {
  const pod = `pod ${e.podName ?? e.ip}`;
  const eth0 = pk.link(podIf(e));
  const held = r.type === "local" && peer.ip !== e.ip
    ? pk.addrs().find((a) => a.family === 4 && a.cidr.split("/")[0] === peer.ip)
    : undefined;
  if (held) {
    const dev = pk.link(held.index)?.name ?? "?";
    return fail(
      "pod.default_route",
      label,
      `${pod} holds ${peer.ip} itself (${held.cidr} on ${dev}): it answers its own pings and the flow never leaves it`,
      {
        evidence: { ...ev, lookup: `ip route get ${peer.ip}: local` },
        fix: `${nsPrefix(e.netns)}ip addr del ${held.cidr} dev ${dev}`,
      },
    );
  }
  if (eth0 && r.oif !== eth0.index && peer.ip !== e.ip) {
    // Another interface (a second network, a VPN sidecar's tunnel, lo) takes the flow: the
    // packets never reach skein's network.
    const dev = r.devName ?? pk.link(r.oif ?? -1)?.name ?? "?";
    const own = pk.routes().filter((x) =>
      x.family === 4 && x.oif === r.oif && x.dst !== "0.0.0.0/0" &&
      inCidr(ipv4Number(peer.ip) ?? 0, x.dst)
    )
      .sort((a, b) =>
        Number(b.dst.split("/")[1]) - Number(a.dst.split("/")[1])
      )[0];
    return fail(
      "pod.default_route",
      label,
      `${pod} sends ${peer.ip} out of ${dev}, not ${
        podIf(e)
      }: the flow never reaches the pod network`,
      {
        evidence: {
          ...ev,
          lookup: `ip route get ${peer.ip}: dev ${dev}${r.gateway ? ` via ${r.gateway}` : ""}`,
          ...(own ? { route: `${own.dst} dev ${dev}` } : {}),
        },
        fix: own
          ? `${nsPrefix(e.netns)}ip route del ${own.dst} dev ${dev}  # after checking what added it`
          : `${nsPrefix(e.netns)}ip route; ip rule  # what sends ${peer.ip} to ${dev}`,
      },
    );
  }
  return undefined;
}

/**
 * pod.default_route: the pod routes the flow's peer (a FIB lookup inside the pod), and has a
 * default route; in bridge mode a default gateway nothing on the bridge holds is a warning when
 * the flow itself goes another way (pod.host fails when the flow's own gateway is missing).
 */
function defaultRouteCheck(
  d: Diagnosis,
  e: Endpoint,
  peer: Endpoint,
  label: string,
  ev: Record<string, unknown>,
): CheckResult {
  const pod = `pod ${e.podName ?? e.ip}`;
  const toPeer = podRoute(d, e, peer.ip);
  if (toPeer && !toPeer.ok) {
    const back = refusedBy(d, e, peer.ip) ?? routeBack(d, e);
    return fail(
      "pod.default_route",
      label,
      `${pod} has no route to ${peer.ip} (${toPeer.code})${back.why}`,
      {
        evidence: { ...ev, lookup: `ip route get ${peer.ip}: ${toPeer.message}` },
        fix: back.fix,
      },
    );
  }
  const pk = podKernel(d, e)!;
  const away = toPeer?.ok ? wrongWayCheck(e, peer, label, ev, toPeer.route, pk) : undefined;
  if (away) return away;
  const src = toPeer?.ok ? sourceCheck(e, peer, label, ev, toPeer.route, pk) : undefined;
  if (src) return src;
  const link = toPeer?.ok ? onLinkCheck(d, e, peer, label, ev, toPeer.route) : undefined;
  if (link) return link;
  const def = defaultRouteOf(pk);
  if (!def) {
    const back = routeBack(d, e);
    // The flow itself is routed (a route to the cluster network, its own subnet): only traffic
    // leaving the cluster network is lost.
    const report = toPeer?.ok ? warn : fail;
    return report(
      "pod.default_route",
      label,
      `${pod} has no default route${back.why}${
        toPeer?.ok
          ? ` (the flow to ${peer.ip} goes by another route: only traffic leaving the cluster network is lost)`
          : ""
      }`,
      { evidence: ev, fix: back.fix },
    );
  }
  const node = e.node!, k = node.kernel!, bridge = k.link(node.facts.bridge);
  const flowGw = podGatewayTo(d, e, peer.ip)?.ip;
  const onBridge = bridge !== undefined && node.facts.gatewayOnBridge !== false &&
    podModeOf(d, e) === "bridge";
  if (onBridge && def.gateway && def.gateway !== flowGw) {
    const held = k.addrs().filter((x) => x.index === bridge.index && x.family === 4);
    if (!held.some((x) => x.cidr.split("/")[0] === def.gateway)) {
      return warn(
        "pod.default_route",
        label,
        `${pod}'s default route goes via ${def.gateway}, which ${bridge.name} on ${node.name} does not hold: ` +
          "traffic leaving the cluster network is lost (the flow itself goes another way)",
        {
          evidence: { ...ev, bridgeAddresses: held.map((x) => x.cidr) },
          fix:
            "delete and recreate the pod (its gateway comes from the CNI config: the bridge's address)",
        },
      );
    }
  }
  return pass("pod.default_route", label, `${pod} has a default route via ${def.gateway}`, {
    evidence: ev,
  });
}

/**
 * pod.icmp (destination only): a pod that ignores ICMP echo (icmp_echo_ignore_all) makes every
 * ping to it fail while the network delivers: a warning, so a failed ping is not read as a path.
 */
function echoCheck(d: Diagnosis, e: Endpoint, label: string): CheckResult {
  const pod = `pod ${e.podName ?? e.ip}`;
  if (ignoresEcho(d, e)) {
    return warn(
      "pod.icmp",
      label,
      `${pod} ignores ICMP echo requests: ping to it fails even where the path is fine (test with TCP)`,
      {
        evidence: { netns: e.netns, "net.ipv4.icmp_echo_ignore_all": 1 },
        fix: `${
          nsPrefix(e.netns)
        }sysctl -w net.ipv4.icmp_echo_ignore_all=0  # if it should answer ping`,
      },
    );
  }
  return pass("pod.icmp", label, `${pod} answers ICMP echo`, {
    evidence: { "net.ipv4.icmp_echo_ignore_all": 0 },
  });
}

/** Whether pod `e` ignores ICMP echo (net.ipv4.icmp_echo_ignore_all=1 in its namespace). */
export function ignoresEcho(d: Diagnosis, e: Endpoint): boolean {
  const k = podKernel(d, e);
  if (!k) return false;
  k.readSysctls(["net/ipv4/icmp_echo_ignore_all"]);
  return k.sysctl("net/ipv4/icmp_echo_ignore_all") === "1";
}

function podInside(d: Diagnosis, e: Endpoint, pair: Pair, label: string): CheckResult[] {
  const k = podKernel(d, e)!;
  const eth0 = podLink(d, e);
  if (!eth0) {
    return [fail("pod.eth0", label, `pod ${e.podName ?? e.ip} has no ${podIf(e)}`, {
      evidence: { netns: e.netns, links: k.links().map((l) => l.name) },
      fix: "delete and recreate the pod (its CNI ADD did not finish)",
    })];
  }
  const addrs = k.addrs().filter((a) => a.index === eth0.index && a.family === 4).map((a) =>
    a.cidr
  );
  const hasIp = addrs.some((a) => a.split("/")[0] === e.ip);
  const def = defaultRouteOf(k);
  const ev = {
    netns: e.netns,
    ...(eth0.name === "eth0" ? {} : { ifName: eth0.name }),
    eth0: { up: eth0.up, operState: eth0.operState, mtu: eth0.mtu, addresses: addrs },
    defaultRoute: def ? `via ${def.gateway ?? "-"}` : "none",
  };
  const out = [
    eth0Check(k, e, label, eth0, hasIp, ev),
    defaultRouteCheck(d, e, peerOf(e, pair), label, ev),
  ];
  if (e === pair.to && pair.to !== pair.from) out.push(echoCheck(d, e, label));
  const ttl = ttlCheck(d, e, pair, label);
  if (ttl) out.push(ttl);
  return out;
}

/**
 * pod.ttl: the TTL the pod sends with (net.ipv4.ip_default_ttl) outlives the routers of the path
 * (each node that forwards the flow takes one): a TTL of 1 never leaves a node, and the router
 * answers "Time to live exceeded". Both pods send (request and reply).
 */
function ttlCheck(d: Diagnosis, e: Endpoint, pair: Pair, label: string): CheckResult | undefined {
  const k = podKernel(d, e)!;
  const raw = k.sysctl("net/ipv4/ip_default_ttl");
  if (raw === undefined) return undefined;
  const ttl = Number(raw);
  const dir = e === pair.from ? "forward" : "reverse";
  // Two pods on one node's bridge talk on-link: no router between them.
  const bridged = pair.from.node === pair.to.node &&
    podModeOf(d, pair.from) === "bridge" && podModeOf(d, pair.to) === "bridge";
  const routers = bridged ? 0 : pathHops(d, pair).filter((h) => h.direction === dir).length;
  const ev = { ip_default_ttl: ttl, routers };
  if (ttl > routers) {
    return pass("pod.ttl", label, `pod ${e.podName ?? e.ip} sends with TTL ${ttl}`, {
      evidence: ev,
    });
  }
  return fail(
    "pod.ttl",
    label,
    `pod ${e.podName ?? e.ip} sends with TTL ${ttl} and the path has ${routers} router${
      routers === 1 ? "" : "s"
    }: its packets die on the way ("Time to live exceeded")`,
    {
      evidence: ev,
      fix: `${e.netns ? nsPrefix(e.netns) : ""}sysctl -w net.ipv4.ip_default_ttl=64`,
    },
  );
}

function podIpam(e: Endpoint, label: string): CheckResult | undefined {
  const dir = e.node?.facts.ipamDir;
  if (!dir || !e.containerId) return undefined;
  const r = readReservations(dir);
  if (!r.ok) return skip("pod.ipam", label, `cannot read IPAM directory: ${r.error}`);
  const mine = r.list.filter((x) => containerOf(x.record) === e.containerId).map((x) => x.ip);
  const ev = { dir, containerId: e.containerId, reserved: mine };
  if (mine.includes(e.ip)) {
    return pass("pod.ipam", label, `IPAM records ${e.ip} for ${e.containerId}`, { evidence: ev });
  }
  return fail(
    "pod.ipam",
    label,
    `IPAM has no reservation of ${e.ip} for ${e.containerId}: the address can be handed to another pod`,
    {
      evidence: ev,
      fix: "delete and recreate the pod so IPAM records its address",
    },
  );
}

/**
 * An address of an inspected node's subnet that no network namespace there holds: a fail when
 * IPAM never handed it out either (no pod has it: nothing can reach it), a warn when IPAM
 * reserves it (the pod is gone and its reservation leaked, or its namespace is not under
 * /run/netns), a skip when the node's IPAM directory is not known.
 */
export function unheldAddress(
  label: string,
  ip: string,
  ipamDir?: string,
  goneNetns?: string,
): CheckResult {
  const none = `no network namespace on ${label} holds ${ip}${
    goneNetns ? ` (${goneNetns} is gone)` : ""
  }`;
  if (!ipamDir) return skip("pod.eth0", label, `${none} (the IPAM directory is not known)`);
  const r = readReservations(ipamDir);
  if (!r.ok) return skip("pod.eth0", label, `${none}; cannot read IPAM directory: ${r.error}`);
  const held = r.list.find((x) => x.ip === ip);
  if (!held) {
    return fail(
      "pod.eth0",
      label,
      `no pod on ${label} has ${ip}: no network namespace holds it and IPAM has not handed it out`,
      {
        evidence: { ip, ipamDir, reservations: r.list.length },
        fix: "check the pod's address (kubectl get pod -o wide): the pod may be gone or elsewhere",
      },
    );
  }
  const containerId = containerOf(held.record);
  return fail(
    "pod.eth0",
    label,
    `IPAM reserves ${ip} for ${containerId ?? "an unknown container"} but ${none}: the pod is ` +
      "gone (a leaked reservation) or its namespace is not under /run/netns",
    {
      evidence: {
        ip,
        ipamDir,
        containerId: containerId ?? "",
        ...(goneNetns ? { netns: `${goneNetns} (gone)` } : {}),
      },
      fix: `if the pod is gone: rm ${ipamDir}/${ip} (or let the runtime's CNI GC release it)`,
    },
  );
}

/**
 * An address the node itself holds (cni0's, the pods' gateway, or its uplink's) is not a pod: a
 * flow to it is a pod talking to a node, which is fine.
 */
function nodeAddress(e: Endpoint): CheckResult | undefined {
  const k = e.node?.kernel;
  const held = k?.addrs().find((a) => a.family === 4 && a.cidr.split("/")[0] === e.ip);
  if (!k || !held) return undefined;
  const dev = k.link(held.index)?.name ?? `ifindex ${held.index}`;
  return pass(
    "pod.eth0",
    e.node!.name,
    `${e.ip} is not a pod: ${e.node!.name} holds it on ${dev} (${held.cidr})`,
    { evidence: { ip: e.ip, device: dev, address: held.cidr } },
  );
}

function endpointChecks(d: Diagnosis, e: Endpoint, pair: Pair): CheckResult[] {
  const label = e.node?.name ?? "-";
  if (!e.node?.kernel) {
    return [
      skip(
        "pod.eth0",
        label,
        `pod ${e.ip} is on ${e.node?.name ?? "an unknown node"}: no kernel access there`,
      ),
    ];
  }
  if (!e.netns) {
    return [nodeAddress(e) ?? unheldAddress(label, e.ip, e.node.facts.ipamDir, e.goneNetns)];
  }
  const peer = peerOf(e, pair);
  const out = [...podInside(d, e, pair, label), ...podHost(d, e, peer)];
  for (const n of [nodeNeighOfPod(d, e), podNeighOfHop(d, e, peer), bridgeFdbOfPod(d, e, peer)]) {
    if (n) out.push(n);
  }
  const i = podIpam(e, label);
  if (i) out.push(i);
  return out;
}

/** The pod family. */
export const podFamily: Family = {
  name: "pod",
  pair: (d, pair) => {
    if (pair.from.ip === pair.to.ip) {
      const same = warn(
        "pod.same",
        pair.from.node?.name ?? "-",
        `FROM and TO are the same address ${pair.from.ip}: its packets never leave the pod, so ` +
          "no hop between two pods is judged",
        { evidence: { from: pair.from.query, to: pair.to.query } },
      );
      return [same, ...endpointChecks(d, pair.from, pair)];
    }
    const out = [
      ...endpointChecks(d, pair.from, pair),
      ...endpointChecks(d, pair.to, pair),
      ...portChecks(d, pair),
    ];
    // Once per node with a bridged pod of the flow.
    const nodes = new Set(
      [pair.from, pair.to].filter((e) => e.node?.kernel && e.netns && podModeOf(d, e) === "bridge")
        .map((e) => e.node!),
    );
    for (const n of nodes) {
      for (const c of [bridgeOwnEntry(n), borrowedBridgeMac(n)]) if (c) out.push(c);
    }
    return out;
  },
  // --node: the bridge's pod ports and its MAC.
  node: (_d, node) => {
    const out = nodePortChecks(node);
    if (!node.kernel) return out;
    for (const c of [bridgeOwnEntry(node), borrowedBridgeMac(node)]) if (c) out.push(c);
    return out;
  },
};
