/**
 * `pod.neigh`: the neighbour entries on both sides of a pod's veth. The node's entry for the
 * pod's address must name the MAC of the pod's interface (eth0, net1, ...), and the pod's entry
 * for its next hop (its gateway, or an on-link peer) must name the device that holds it: a stale
 * or static wrong entry sends the packets to nobody while every route and link looks right.
 *
 * @module
 */
import type { Fdb, Link, Neigh } from "../../net/types.ts";
import { type CheckResult, fail, pass, warn } from "../check.ts";
import { type Diagnosis, type Endpoint, inCidr, ipv4Number, type NodeView } from "../context.ts";
import type { Kernel } from "../kernel.ts";
import { nsExec, nsPrefix } from "../path.ts";
import { podIf, podKernel, podLink, podRoute } from "./_pod_kernel.ts";
import { hostVethOf, podModeOf } from "./_pod_host.ts";
import { bridgeHolderOf, macHolderOf, type PortHolder } from "./_port_netns.ts";
import { otherMac } from "./_mac.ts";

/** Whose entries are judged, for what address, and what they must say. */
interface NeighQuestion {
  /** The check's node label. */
  node: string;
  /** The kernel holding the entries. */
  k: Kernel;
  /** Who resolves ("n2", "pod n1-p1"), for the summary. */
  resolver: string;
  ip: string;
  /** Only entries on this device (undefined: any). */
  index?: number;
  /** The MAC the entries must hold, and whose it is ("pod n2-p1's eth0"). */
  want: { mac: string; owner: string };
  /** Command prefix of the resolver's namespace, for the fix. */
  exec: string;
  /** Who did not answer when resolution FAILED, and what to look at. */
  failed: { who: string; fix: string };
  /** Who else holds a wrong MAC, when that can be told (an address conflict: a fail). */
  claimant?: (mac: string) => { summary: string; fix: string } | undefined;
}

function entryText(k: Kernel, n: Neigh): string {
  return `${n.ip} dev ${k.link(n.index)?.name ?? n.index}${
    n.mac ? ` lladdr ${n.mac}` : ""
  } ${n.state}`;
}

/** Judges the entries a question asks about: pass, a wrong MAC, or a FAILED resolution. */
function judgeNeigh(q: NeighQuestion): CheckResult {
  const all = q.k.neighs().filter((n) =>
    n.family === 4 && n.ip === q.ip && (q.index === undefined || n.index === q.index)
  );
  const entries = all.filter((n) =>
    n.mac !== undefined && n.state !== "failed" && n.state !== "incomplete"
  );
  const want = q.want.mac.toLowerCase();
  const evidence = {
    expectedMac: `${want} (${q.want.owner})`,
    neighbours: all.map((n) => entryText(q.k, n)),
  };
  const unresolved = all.find((n) => n.state === "failed");
  if (unresolved && !entries.length) {
    const dev = q.k.link(unresolved.index)?.name ?? String(unresolved.index);
    // A warning: the entry stays FAILED after its cause is gone, until traffic tries again.
    return warn(
      "pod.neigh",
      q.node,
      `${q.resolver}'s last attempt to resolve ${q.ip} on ${dev} failed (neighbour FAILED): ${q.failed.who} did not answer ARP`,
      { evidence, fix: q.failed.fix },
    );
  }
  const wrong = entries.find((n) => n.mac!.toLowerCase() !== want);
  const other = wrong ? q.claimant?.(wrong.mac!.toLowerCase()) : undefined;
  if (other) return fail("pod.neigh", q.node, other.summary, { evidence, fix: other.fix });
  if (wrong) {
    const dev = q.k.link(wrong.index)?.name ?? String(wrong.index);
    // A stale entry is checked again (DELAY, PROBE) before it is trusted for long: a pod just
    // recreated at the same address leaves one for seconds. One the kernel trusts as it is
    // (permanent, noarp, reachable) blackholes the traffic.
    const settling = wrong.state === "stale" || wrong.state === "delay" || wrong.state === "probe";
    return (settling ? warn : fail)(
      "pod.neigh",
      q.node,
      `${q.resolver} resolves ${q.ip} to ${wrong.mac} on ${dev}, not ${q.want.owner} ${want}`,
      {
        evidence,
        fix:
          `${q.exec}ip neigh del ${q.ip} dev ${dev}  # after checking who added it (${wrong.state})`,
      },
    );
  }
  return pass(
    "pod.neigh",
    q.node,
    entries.length
      ? `${q.resolver} resolves ${q.ip} to ${q.want.owner} ${want}`
      : `${q.resolver} has no neighbour entry for ${q.ip} yet (ARP resolves it on the next packet)`,
    { evidence },
  );
}

/** Another namespace on the pod's bridge holds the pod's address too: both answer ARP. */
function conflictCheck(node: NodeView, pod: string, ip: string, h: PortHolder): CheckResult {
  const k = node.kernel!, bridge = k.link(h.port.masterIndex!)?.name ?? "the bridge";
  return fail(
    "pod.neigh",
    node.name,
    `namespace ${h.netns} behind ${bridge} port ${h.port.name} also holds ${h.cidr} on ${h.dev}: ` +
      `an address conflict with ${pod} (both answer ARP for ${ip}; the first answer wins)`,
    {
      evidence: {
        port: h.port.name,
        netns: h.netns,
        [h.dev]: h.cidr,
        neighbours: k.neighs().filter((n) => n.family === 4 && n.ip === ip).map((n) =>
          entryText(k, n)
        ),
      },
      // The node holds no entry for its own gateway address: only the pod's needs flushing.
      fix: `ip netns exec ${h.netns} ip addr del ${h.cidr} dev ${h.dev}` +
        (k.linkWithAddr(ip) ? "" : `; ${nsExec(node)}ip neigh flush to ${ip} dev ${bridge}`),
    },
  );
}

/**
 * The node's entries for pod `e`'s address name its interface's MAC; no other namespace on the
 * pod's bridge holds that address (`bridgeHolderOf`).
 */
export function nodeNeighOfPod(d: Diagnosis, e: Endpoint): CheckResult | undefined {
  const node = e.node!;
  const mac = podLink(d, e)?.mac, dev = podIf(e);
  if (!mac) return undefined;
  const pod = `pod ${e.podName ?? e.ip}`;
  const k = node.kernel!, host = hostVethOf(d, e);
  // The pod's address, or its gateway (the bridge's address in its subnet), held behind another
  // port too: both answer ARP for it.
  const gw = host?.masterIndex !== undefined
    ? k.addrs().find((a) =>
      a.index === host.masterIndex && a.family === 4 && inCidr(ipv4Number(e.ip) ?? 0, a.cidr)
    )?.cidr.split("/")[0]
    : undefined;
  const twin = host?.masterIndex !== undefined
    ? bridgeHolderOf(k, host.masterIndex, host.index, gw ? [e.ip, gw] : [e.ip])
    : undefined;
  if (twin) {
    const ip = twin.cidr.split("/")[0]!;
    return conflictCheck(
      node,
      ip === e.ip ? pod : `the gateway of ${pod} (${k.link(host!.masterIndex!)?.name})`,
      ip,
      twin,
    );
  }
  return judgeNeigh({
    node: node.name,
    k,
    resolver: node.name,
    ip: e.ip,
    // The wrong MAC learned behind another port of the pod's bridge: that device answers ARP
    // for the pod's address too (an address conflict), whatever state the entry is in.
    claimant: (wrongMac) => {
      const port = k.fdbs().map((f) => ({ f, l: k.link(f.index) })).find(({ f, l }) =>
        f.master && f.mac.toLowerCase() === wrongMac && l !== undefined &&
        host?.masterIndex !== undefined && l.masterIndex === host.masterIndex &&
        l.index !== host.index
      )?.l;
      if (!port) return undefined;
      return {
        summary: `another device behind ${
          k.link(port.masterIndex!)?.name
        } port ${port.name} answers ARP for ${e.ip} (MAC ${wrongMac}): an address conflict with ${pod}`,
        fix: `${nsExec(node)}ip -d link show ${port.name}  # whose is it (link-netns)? ` +
          `remove ${e.ip} there, then: ${nsExec(node)}ip neigh del ${e.ip} dev ${
            k.link(port.masterIndex!)?.name
          }`,
      };
    },
    want: { mac, owner: `${pod}'s ${dev}` },
    exec: nsExec(node),
    failed: {
      who: pod,
      fix: `check the pod's ${dev} (${
        nsPrefix(e.netns)
      }ip -d link show ${dev}: NOARP?; sysctl net.ipv4.conf.${dev}.arp_ignore) and firewall`,
    },
  });
}

/** What answers ARP for a next hop: its MAC, whose it is, and how to look at why it did not. */
interface HopOwner {
  mac: string;
  owner: string;
  fix: string;
}

/** The commands that show whether device `dev` answers ARP (NOARP, arp_ignore). */
function arpFix(exec: string, dev: string): string {
  return `${exec}ip -d link show ${dev}; ${exec}sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.${dev}.arp_ignore  # NOARP? arp_ignore 8?`;
}

/**
 * What answers for pod `e`'s next hop `hop`: the node device holding the gateway (bridge mode:
 * the bridge), the host veth (routed mode: proxy ARP), or a peer pod on the same node (on-link).
 */
function nextHopOwner(
  d: Diagnosis,
  e: Endpoint,
  peer: Endpoint,
  hop: string,
  viaGateway: boolean,
): HopOwner | undefined {
  const node = e.node!, k = node.kernel!;
  if (!viaGateway) {
    if (hop !== peer.ip || peer.node !== node) return undefined;
    const mac = podLink(d, peer)?.mac, dev = podIf(peer);
    const owner = `pod ${peer.podName ?? peer.ip}'s ${dev}`;
    return mac ? { mac, owner, fix: arpFix(nsPrefix(peer.netns), dev) } : undefined;
  }
  const host = hostVethOf(d, e);
  const dev = host && podModeOf(d, e) === "routed" ? host : k.linkWithAddr(hop);
  if (!dev?.mac) return undefined;
  const proxy = dev === host ? " (proxy ARP)" : "";
  return {
    mac: dev.mac,
    owner: `${node.name}'s ${dev.name}${proxy}`,
    fix: arpFix(nsExec(node), dev.name),
  };
}

/** Pod `e`'s entry for its next hop toward `peer` names the device that holds that hop. */
export function podNeighOfHop(
  d: Diagnosis,
  e: Endpoint,
  peer: Endpoint,
): CheckResult | undefined {
  const node: NodeView = e.node!;
  const pk = podKernel(d, e)!, eth0 = podLink(d, e);
  const r = podRoute(d, e, peer.ip);
  if (!eth0 || !r?.ok || r.route.oif !== eth0.index) return undefined;
  const hop = r.route.gateway ?? peer.ip;
  const owner = nextHopOwner(d, e, peer, hop, r.route.gateway !== undefined);
  if (!owner) return undefined;
  return judgeNeigh({
    node: node.name,
    k: pk,
    resolver: `pod ${e.podName ?? e.ip}`,
    ip: hop,
    index: eth0.index,
    want: owner,
    exec: nsPrefix(e.netns),
    failed: { who: owner.owner, fix: owner.fix },
  });
}

/**
 * A permanent entry for the pod's MAC on its own port is a local one (`bridge fdb add MAC dev PORT
 * master` without `static`, or the host veth given the pod's MAC): the bridge takes the frames
 * other ports send to the pod for its own and hands them to the node, which drops them. The node's
 * own frames still go out by the port: only pods on the same bridge lose the pod (a warning when
 * the flow comes from another node).
 */
function localFdb(
  q: { node: NodeView; e: Endpoint; host: Link; mac: string; bridge: string; sameBridge: boolean },
  ev: Record<string, unknown>,
): CheckResult {
  const { node, e, host, mac } = q;
  const own = host.mac?.toLowerCase() === mac;
  const summary = `${q.bridge} on ${node.name} takes pod ${e.podName ?? e.ip}'s MAC ${mac} ` +
    `for its own (${
      own ? `its host veth ${host.name} has the same MAC` : `a permanent entry on ${host.name}`
    }): frames from the other pods of the bridge never reach it`;
  const fix = own
    ? `${nsExec(node)}ip link set dev ${host.name} address ${otherMac(mac)}`
    : `${nsExec(node)}bridge fdb del ${mac} dev ${host.name} master`;
  return (q.sameBridge ? fail : warn)("pod.fdb", node.name, summary, { evidence: ev, fix });
}

/**
 * The bridge holds the pod's MAC as its own: the bridge device has that MAC (the pod given the
 * gateway's MAC, or the bridge the pod's), or a local entry on the bridge itself (`bridge fdb add
 * MAC dev cni0 self`). Every frame for the pod, the node's own included, ends in the bridge.
 */
function bridgeOwnMac(
  q: { node: NodeView; e: Endpoint; bridge: Link; mac: string; netns?: string },
): CheckResult | undefined {
  const { node, e, bridge, mac } = q, k = node.kernel!, ns = nsExec(node);
  const entry = k.fdbs().find((f) =>
    f.index === bridge.index && f.mac.toLowerCase() === mac && f.state === "permanent"
  );
  const same = bridge.mac?.toLowerCase() === mac;
  if (!same && !entry) return undefined;
  const pod = `pod ${e.podName ?? e.ip}`;
  return fail(
    "pod.fdb",
    node.name,
    `${bridge.name} on ${node.name} takes ${pod}'s MAC ${mac} for its own (${
      same ? `it is ${bridge.name}'s own MAC` : `a local entry on ${bridge.name}`
    }): no frame for the pod leaves the bridge, not even the node's`,
    {
      evidence: { podMac: mac, bridge: bridge.name, bridgeMac: bridge.mac ?? "-" },
      fix: same
        ? `${nsPrefix(q.netns)}ip link set dev ${podIf(e)} address ${otherMac(mac)}; ` +
          `${ns}ip neigh flush to ${e.ip} dev ${bridge.name}`
        : `${ns}bridge fdb del ${mac} dev ${bridge.name} self`,
    },
  );
}

/**
 * The pod's MAC on another port that owns it: the port itself has that MAC (its local entry), or
 * a device in the port's namespace sends with it. The fix gives that device another MAC.
 */
function macOwnedElsewhere(
  q: { node: NodeView; e: Endpoint; host: Link; mac: string; other: Link; entry: Fdb },
  ev: Record<string, unknown>,
): CheckResult | undefined {
  const { node, e, host, mac, other } = q, k = node.kernel!;
  const bridge = k.link(host.masterIndex!)?.name ?? "the bridge";
  const same = other.mac?.toLowerCase() === mac;
  const added = q.entry.state === "static" || q.entry.state === "permanent";
  const sender = !same && !added ? macHolderOf(k, other, mac) : undefined;
  if (!same && !sender) return undefined;
  return fail(
    "pod.fdb",
    node.name,
    `${bridge} on ${node.name} sends pod ${e.podName ?? e.ip}'s MAC ${mac} to port ` +
      `${other.name}, not its veth ${host.name}: ${
        same ? `${other.name} itself has that MAC` : `${sender!.dev} in ${sender!.netns} uses it`
      }`,
    {
      evidence: { ...ev, ...(sender ? { sender: `${sender.netns} ${sender.dev}` } : {}) },
      fix: same
        ? `${nsExec(node)}ip link set dev ${other.name} address ${otherMac(mac)}`
        : `ip netns exec ${sender!.netns} ip link set dev ${sender!.dev} address ${otherMac(mac)}`,
    },
  );
}

/**
 * `pod.fdb`: the node's bridge forwards frames for the pod's MAC to the pod's own host veth. An
 * entry for it learned behind another port (a namespace or VM sending with the same MAC, a pod
 * recreated with a fixed MAC while the old one lives) sends the pod's frames there instead; one
 * added there (`bridge fdb add MAC dev PORT master static [sticky]`) gets its `bridge fdb del`.
 * A permanent (local) entry on the pod's own port is `localFdb`'s: it fails when `peer` is on the
 * same bridge.
 */
export function bridgeFdbOfPod(
  d: Diagnosis,
  e: Endpoint,
  peer?: Endpoint,
): CheckResult | undefined {
  const node = e.node!, k = node.kernel!;
  const mac = podLink(d, e)?.mac?.toLowerCase();
  const host = hostVethOf(d, e);
  if (!mac || host?.masterIndex === undefined) return undefined;
  const bridge = k.link(host.masterIndex);
  const own = bridge && bridgeOwnMac({ node, e, bridge, mac, netns: e.netns });
  if (own) return own;
  const learned = k.fdbs().filter((f) =>
    f.master && f.mac.toLowerCase() === mac && k.link(f.index)?.masterIndex === host.masterIndex
  );
  const elsewhere = learned.find((f) => f.index !== host.index);
  const ev = {
    podMac: mac,
    hostVeth: host.name,
    entries: learned.map((f) =>
      `${f.mac} dev ${k.link(f.index)?.name ?? f.index} ${f.state}${f.sticky ? " sticky" : ""}`
    ),
  };
  const local = learned.find((f) => f.index === host.index && f.state === "permanent");
  if (!elsewhere && local) {
    const sameBridge = peer?.node === node && hostVethOf(d, peer)?.masterIndex === host.masterIndex;
    const q = { node, e, host, mac, bridge: bridge?.name ?? "the bridge", sameBridge };
    return localFdb(q, ev);
  }
  if (elsewhere) {
    const other = k.link(elsewhere.index);
    const port = other?.name ?? String(elsewhere.index);
    const owned = other
      ? macOwnedElsewhere({ node, e, host, mac, other, entry: elsewhere }, ev)
      : undefined;
    if (owned) return owned;
    // An entry someone added (static, sticky, permanent) is deleted; a learned one has a sender.
    const added = elsewhere.state === "static" || elsewhere.state === "permanent";
    return fail(
      "pod.fdb",
      node.name,
      `${bridge?.name ?? "the bridge"} on ${node.name} sends pod ${
        e.podName ?? e.ip
      }'s MAC ${mac} to port ${port}, not its veth ${host.name}: ${
        added
          ? `a ${elsewhere.state}${elsewhere.sticky ? " sticky" : ""} entry added there`
          : "another device uses that MAC"
      }`,
      {
        evidence: ev,
        fix: added
          ? `${nsExec(node)}bridge fdb del ${mac} dev ${port} master`
          : `${
            nsExec(node)
          }ip -d link show ${port}  # whose is it (link-netns)? give it another MAC`,
      },
    );
  }
  return pass(
    "pod.fdb",
    node.name,
    `${bridge?.name ?? "the bridge"} sends pod ${e.podName ?? e.ip}'s MAC to ${host.name}${
      learned.length ? "" : " (not learned yet)"
    }`,
    { evidence: ev },
  );
}
