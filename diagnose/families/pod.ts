/**
 * `pod`: inside each pod with a known namespace, eth0 is up with the address IPAM recorded and a
 * default route; on the node, the host-side veth is up and on the bridge (bridge mode), or the
 * /32 route to the pod and proxy_arp are in place (routed mode).
 *
 * @module
 */
import type { Link, Route } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, Endpoint, NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { Kernel } from "../kernel.ts";
import { containerOf, readReservations } from "../ipam_read.ts";
import { nsExec, nsPrefix } from "../path.ts";

/** IFF_NOARP (linux/if.h): the device neither sends nor answers ARP. */
const IFF_NOARP = 0x80;

/** The pod's own kernel view (opened once per diagnosis, closed by the runner). */
export function podKernel(d: Diagnosis, e: Endpoint): Kernel | undefined {
  if (!e.netns) return undefined;
  const key = `podkernel|${e.netns}`;
  let k = d.memo.get(key) as Kernel | undefined;
  if (!k) {
    k = new Kernel(e.netns);
    d.memo.set(key, k);
  }
  return k;
}

/** The pod's effective arp_ignore on eth0 (the larger of "all" and the device's). */
function arpIgnore(k: Kernel): number {
  k.readSysctls(["net/ipv4/conf/all/arp_ignore", "net/ipv4/conf/eth0/arp_ignore"]);
  return Math.max(
    Number(k.sysctl("net/ipv4/conf/all/arp_ignore") ?? 0),
    Number(k.sysctl("net/ipv4/conf/eth0/arp_ignore") ?? 0),
  );
}

/** The pod's IPv4 default route (main table), if any. */
function defaultRouteOf(k: Kernel): Route | undefined {
  return k.routes().find((r) => r.family === 4 && r.dst === "0.0.0.0/0" && r.table === 254);
}

/** pod.eth0: up, holding the pod's address, and answering ARP (not NOARP, arp_ignore below 8). */
function eth0Check(
  k: Kernel,
  e: Endpoint,
  label: string,
  eth0: Link,
  hasIp: boolean,
  ev: Record<string, unknown>,
): CheckResult {
  const ns = nsPrefix(e.netns);
  if (!eth0.up || eth0.operState === "lowerlayerdown" || eth0.operState === "down") {
    return fail(
      "pod.eth0",
      label,
      `eth0 in pod ${e.podName ?? e.ip} is ${eth0.up ? eth0.operState : "down"}`,
      {
        evidence: ev,
        fix: eth0.up
          ? `check the host side of the pod's veth (see pod.host)`
          : `${ns}ip link set eth0 up`,
      },
    );
  }
  if (!hasIp) {
    return fail("pod.eth0", label, `eth0 in pod ${e.podName ?? e.netns} does not hold ${e.ip}`, {
      evidence: ev,
      fix: "delete and recreate the pod",
    });
  }
  const ignore = arpIgnore(k);
  if (ignore >= 8) {
    return fail(
      "pod.eth0",
      label,
      `pod ${
        e.podName ?? e.ip
      } answers no ARP request (arp_ignore=8): its node cannot resolve ${e.ip}`,
      {
        evidence: { ...ev, arp_ignore: ignore },
        fix: `${ns}sysctl -w net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.eth0.arp_ignore=0`,
      },
    );
  }
  if (eth0.flags & IFF_NOARP) {
    return fail(
      "pod.eth0",
      label,
      `eth0 in pod ${e.podName ?? e.ip} has ARP off (NOARP): its node cannot resolve ${e.ip}`,
      { evidence: { ...ev, flags: "NOARP" }, fix: `${ns}ip link set eth0 arp on` },
    );
  }
  return pass("pod.eth0", label, `pod ${e.podName ?? e.ip}: eth0 up with ${e.ip}`, {
    evidence: ev,
  });
}

function podInside(d: Diagnosis, e: Endpoint, label: string): CheckResult[] {
  const k = podKernel(d, e)!;
  const eth0 = k.link("eth0");
  if (!eth0) {
    return [fail("pod.eth0", label, `pod ${e.podName ?? e.ip} has no eth0`, {
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
    eth0: { up: eth0.up, operState: eth0.operState, mtu: eth0.mtu, addresses: addrs },
    defaultRoute: def ? `via ${def.gateway ?? "-"}` : "none",
  };
  return [
    eth0Check(k, e, label, eth0, hasIp, ev),
    def
      ? pass(
        "pod.default_route",
        label,
        `pod ${e.podName ?? e.ip} has a default route via ${def.gateway}`,
        { evidence: ev },
      )
      : fail("pod.default_route", label, `pod ${e.podName ?? e.ip} has no default route`, {
        evidence: ev,
        fix: "delete and recreate the pod (isDefaultGateway in the CNI config gives it one)",
      }),
  ];
}

/**
 * Bridge mode: the host veth is a port of the node's bridge, which is up and holds the pods'
 * gateway (their default route's next hop, with the pod address's prefix length).
 */
function bridgedHost(
  node: NodeView,
  host: Link,
  ev: Record<string, unknown>,
  gateway: { ip: string; prefix: number } | undefined,
): CheckResult {
  const k = node.kernel!;
  const bridge = k.link(node.facts.bridge);
  if (!bridge || host.masterIndex !== bridge.index) {
    return fail(
      "pod.host",
      node.name,
      `host veth ${host.name} is on ${ev.master}, not ${node.facts.bridge}`,
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
  if (gateway && node.facts.gatewayOnBridge !== false) {
    const held = k.addrs().filter((x) => x.index === bridge.index && x.family === 4);
    if (!held.some((x) => x.cidr.split("/")[0] === gateway.ip)) {
      return fail(
        "pod.host",
        node.name,
        `bridge ${bridge.name} on ${node.name} does not hold the pods' gateway ${gateway.ip}`,
        {
          evidence: { ...ev, bridgeAddresses: held.map((x) => x.cidr), podGateway: gateway.ip },
          fix: `${nsExec(node)}ip addr add ${gateway.ip}/${gateway.prefix} dev ${bridge.name}`,
        },
      );
    }
  }
  return pass("pod.host", node.name, `host veth ${host.name} is up on ${bridge.name}`, {
    evidence: ev,
  });
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
      fix: `${nsExec(node)}sysctl -w net.ipv4.conf.${host.name}.proxy_arp=1`,
    });
  }
  return pass("pod.host", node.name, `routed pod ${ip}: /32 route and proxy_arp on ${host.name}`, {
    evidence: ev,
  });
}

/**
 * The node's neighbour entries for the pod's address must name the pod's eth0 MAC: a stale or
 * wrong one (a static entry, a MAC from a pod this address belonged to before) sends the node's
 * packets for the pod to nobody, while every route and link looks right.
 */
function podNeigh(d: Diagnosis, e: Endpoint): CheckResult | undefined {
  const node = e.node!, k = node.kernel!;
  const mac = podKernel(d, e)!.link("eth0")?.mac?.toLowerCase();
  if (!mac) return undefined;
  const all = k.neighs().filter((n) => n.family === 4 && n.ip === e.ip);
  const entries = all.filter((n) =>
    n.mac !== undefined && n.state !== "failed" && n.state !== "incomplete"
  );
  const text = (n: (typeof all)[number]) =>
    `${n.ip} dev ${k.link(n.index)?.name ?? n.index}${n.mac ? ` lladdr ${n.mac}` : ""} ${n.state}`;
  const unresolved = all.find((n) => n.state === "failed");
  if (unresolved && !entries.length) {
    const dev = k.link(unresolved.index)?.name ?? String(unresolved.index);
    // A warning: the entry stays FAILED after its cause is gone, until traffic tries again.
    return warn(
      "pod.neigh",
      node.name,
      `${node.name}'s last attempt to resolve ${e.ip} on ${dev} failed (neighbour FAILED): pod ${
        e.podName ?? e.ip
      } did not answer ARP`,
      {
        evidence: { podMac: mac, neighbours: all.map(text) },
        fix: `check the pod's eth0 (${
          nsPrefix(e.netns)
        }ip -d link show eth0: NOARP?; sysctl net.ipv4.conf.eth0.arp_ignore) and firewall`,
      },
    );
  }
  const wrong = entries.find((n) => n.mac!.toLowerCase() !== mac);
  if (wrong) {
    const dev = k.link(wrong.index)?.name ?? String(wrong.index);
    // A stale entry is checked again (DELAY, PROBE) before it is trusted for long: a pod just
    // recreated at the same address leaves one for seconds. One the kernel trusts as it is
    // (permanent, noarp, reachable) blackholes the pod.
    const settling = wrong.state === "stale" || wrong.state === "delay" || wrong.state === "probe";
    return (settling ? warn : fail)(
      "pod.neigh",
      node.name,
      `${node.name} resolves ${e.ip} to ${wrong.mac} on ${dev}, not pod ${
        e.podName ?? e.ip
      }'s eth0 ${mac}`,
      {
        evidence: { podMac: mac, neighbours: entries.map(text) },
        fix: `${
          nsExec(node)
        }ip neigh del ${e.ip} dev ${dev}  # after checking who added it (${wrong.state})`,
      },
    );
  }
  return pass(
    "pod.neigh",
    node.name,
    entries.length
      ? `${node.name} resolves ${e.ip} to pod ${e.podName ?? e.ip}'s eth0 ${mac}`
      : `${node.name} has no neighbour entry for ${e.ip} yet (ARP resolves it on the next packet)`,
    { evidence: { podMac: mac, neighbours: entries.map(text) } },
  );
}

/** The pod's default gateway and its eth0 address's prefix length, if it has both. */
function podGateway(d: Diagnosis, e: Endpoint): { ip: string; prefix: number } | undefined {
  const k = podKernel(d, e)!, eth0 = k.link("eth0");
  const gw = defaultRouteOf(k)?.gateway;
  const own = k.addrs().find((a) =>
    a.index === eth0?.index && a.family === 4 && a.cidr.split("/")[0] === e.ip
  );
  return gw && own ? { ip: gw, prefix: Number(own.cidr.split("/")[1]) } : undefined;
}

function podHost(d: Diagnosis, e: Endpoint): CheckResult[] {
  const node = e.node!;
  const k = node.kernel!;
  const eth0 = podKernel(d, e)!.link("eth0");
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
    host.masterIndex !== undefined
      ? bridgedHost(node, host, ev, podGateway(d, e))
      : routedHost(node, host, e.ip, ev),
  ];
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
export function unheldAddress(label: string, ip: string, ipamDir?: string): CheckResult {
  const none = `no network namespace on ${label} holds ${ip}`;
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
  return warn(
    "pod.eth0",
    label,
    `IPAM reserves ${ip} for ${containerId ?? "an unknown container"} but ${none}: the pod is ` +
      "gone (a leaked reservation) or its namespace is not under /run/netns",
    {
      evidence: { ip, ipamDir, containerId: containerId ?? "" },
      fix: `if the pod is gone: rm ${ipamDir}/${ip} (or let the runtime's CNI GC release it)`,
    },
  );
}

function endpointChecks(d: Diagnosis, e: Endpoint): CheckResult[] {
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
  if (!e.netns) return [unheldAddress(label, e.ip, e.node.facts.ipamDir)];
  const out = [...podInside(d, e, label), ...podHost(d, e)];
  const n = podNeigh(d, e);
  if (n) out.push(n);
  const i = podIpam(e, label);
  if (i) out.push(i);
  return out;
}

/** The pod family. */
export const podFamily: Family = {
  name: "pod",
  pair: (d, pair) => [...endpointChecks(d, pair.from), ...endpointChecks(d, pair.to)],
};
