/**
 * Wiring a pod: the bridge mode (cni0, like the reference `bridge` plugin), the routed mode
 * (Calico's model: /32 addresses, 169.254.1.1 gateway answered by the host veth, a host route
 * per pod) and the loopback mode. Each step registers its undo so a failed ADD leaves nothing.
 * Kernel access only through net/mod.ts; host-side veth created in the host namespace, its
 * peer directly in the pod namespace.
 *
 * @module
 */
import {
  type Handle,
  isNetlinkError,
  type Link,
  type NetHandle,
  SKEIN_CNI_ROUTE_PROTOCOL,
} from "../net/mod.ts";
import { formatIp, formatMac, ipToBytes, parseCidr, parseIp } from "../net/cidr.ts";
import { CniCode, CniError } from "./errors.ts";
import type { NetConf } from "./netconf.ts";
import type { CniResult, ResultIp, ResultRoute } from "./result.ts";
import { hostVethName } from "../node/veth_name.ts";
import { enableForwarding, ensureAddr, linkDelIfExists, step } from "./_kernel.ts";
import { ensureSysctl, netnsSysctl } from "../node/sysctl.ts";
import {
  defaultGateways,
  ROUTED_GATEWAY,
  routedPlan,
  routeFamily,
  samePrefix,
  withDefaultRoutes,
} from "./_pod_routes.ts";
import { mark } from "./_trace.ts";

/** What a mode needs to wire one attachment. */
export interface WireOptions {
  /** The parsed network configuration. */
  conf: NetConf;
  /** CNI_CONTAINERID. */
  containerId: string;
  /** CNI_IFNAME: the interface name inside the pod. */
  ifName: string;
  /** CNI_NETNS path, as the runtime gave it (results and messages name this one). */
  netns: string;
  /** The path through which this process opens that namespace (the same, in-process). */
  podNetns: string;
  /** Handle in the namespace the plugin runs in (the host). */
  host: NetHandle;
  /** That namespace's path, when it is not this process's (the daemon serving the call). */
  hostNetns?: string;
  /** Handle in the pod's namespace (a Handle: pod routes use routeAppend). */
  pod: Handle;
  /** The IPAM result (ips, routes, dns). */
  ipam: CniResult;
  /** Effective MTU (config, else the node lease's, else kernel default). */
  mtu?: number;
  /** Requested pod MAC (runtimeConfig.mac or CNI_ARGS MAC). */
  mac?: string;
  /** Undo steps, run in reverse order when ADD fails later. */
  undo: (() => void | Promise<void>)[];
}

function familiesOf(ips: readonly ResultIp[]): Set<4 | 6> {
  return new Set(ips.map((ip) => parseCidr(ip.address).family));
}

/** IPv6's minimum link MTU (RFC 8200 §5). */
const IPV6_MIN_MTU = 1280;

/**
 * Throws CniError code 7 when the MTU is below IPv6's minimum and IPAM gave IPv6 addresses: the
 * kernel turns IPv6 off on such a link, so the address (or the routed mode's sysctls) would fail
 * halfway, after the bridge or the veth exist.
 */
function assertMtuFits(o: WireOptions, ips: readonly ResultIp[]): void {
  if (o.mtu === undefined || o.mtu >= IPV6_MIN_MTU || !familiesOf(ips).has(6)) return;
  throw new CniError(
    CniCode.InvalidConfig,
    `invalid network config: mtu ${o.mtu} cannot carry IPv6`,
    `IPAM gave IPv6 addresses, which need an MTU of at least ${IPV6_MIN_MTU}; ` +
      "the kernel disables IPv6 on links with less",
  );
}

/**
 * Creates the veth pair: host end `hostName` here, peer `ifName` directly in the pod namespace.
 * (runCni's ADD has already refused a pod that has `ifName`, and a host veth of that name,
 * before IPAM; one created meanwhile fails the call with EEXIST.)
 */
function createVeth(
  o: WireOptions,
  opts: { master?: Link; up: boolean },
): { hostLink: Link; podLink: Link } {
  const hostName = hostVethName(o.containerId, o.ifName);
  const hostLink = step(
    `cannot create veth ${hostName} <-> ${o.ifName} in ${o.netns}`,
    () =>
      o.host.linkAdd({
        kind: "veth",
        name: hostName,
        mtu: o.mtu,
        up: opts.up,
        ...(opts.master ? { master: opts.master.index } : {}),
        peer: { name: o.ifName, netns: o.podNetns, mtu: o.mtu, ...(o.mac ? { mac: o.mac } : {}) },
      }),
  );
  o.undo.push(() => void linkDelIfExists(o.host, hostName));
  const podLink = step(
    `cannot find ${o.ifName} in ${o.netns} after creating it`,
    () => o.pod.linkGet(o.ifName),
  );
  return { hostLink, podLink };
}

/** Brings the pod interface up and gives it its addresses (IPv6 without DAD). */
function configurePodAddrs(o: WireOptions, podIndex: number, ips: readonly ResultIp[]): void {
  if (ips.some((ip) => parseCidr(ip.address).family === 6)) {
    // Like the reference plugins: a pod namespace may come with IPv6 disabled on new links.
    step(
      `cannot enable IPv6 on ${o.ifName} in ${o.netns}`,
      () => ensureSysctl(`net/ipv6/conf/${o.ifName}/disable_ipv6`, "0", netnsSysctl(o.podNetns)),
    );
  }
  // By index: the pod link is known, no lookup by name per call.
  step(`cannot set ${o.ifName} up in ${o.netns}`, () => o.pod.linkSet(podIndex, { up: true }));
  for (const ip of ips) {
    step(
      `cannot add address ${ip.address} to ${o.ifName} in ${o.netns}`,
      () =>
        o.pod.addrAdd({
          dev: podIndex,
          cidr: ip.address,
          nodad: parseCidr(ip.address).family === 6,
        }),
    );
  }
}

function addPodRoute(
  o: WireOptions,
  podIndex: number,
  r: ResultRoute,
  gw: string | undefined,
): void {
  const fam = routeFamily(r.dst);
  const dst = samePrefix(r.dst, fam === 4 ? "0.0.0.0/0" : "::/0") ? "default" : r.dst;
  step(
    `cannot add route ${r.dst}${gw ? ` via ${gw}` : ""} dev ${o.ifName} in ${o.netns}`,
    // Appended, like the reference plugins (RouteAddEcmp): a pod on two networks that both set
    // a default route gets both instead of failing with EEXIST on the second.
    () =>
      o.pod.routeAppend({
        dst,
        family: fam,
        dev: podIndex,
        ...(gw ? { gateway: gw } : {}),
        ...(r.priority !== undefined ? { metric: r.priority } : {}),
        ...(r.mtu ? { mtu: r.mtu } : {}),
        ...(r.advmss ? { advmss: r.advmss } : {}),
        // Table 0 is "unset" (the main table), as in the reference plugins.
        ...(r.table ? { table: r.table } : {}),
        ...(r.scope !== undefined ? { scope: r.scope } : {}),
      }),
  );
}

/**
 * The MAC a new bridge is created with: 0a:58 and the last four bytes of the pods' gateway (the
 * Kubernetes convention for addresses derived from IPs), undefined without a gateway. A bridge
 * given no MAC takes its lowest port's and changes it as pods come and go: when the pod whose
 * veth lent it goes away, every other pod's neighbour entry for the gateway points nowhere until
 * ARP notices (seconds of loss). One set at creation stays (addr_assign_type 3).
 */
export function bridgeMac(ips: readonly ResultIp[]): string | undefined {
  const gws = ips.map((i) => i.gateway).filter((g): g is string => g !== undefined)
    .map(parseIp).sort((a, b) => a.family - b.family); // IPv4 first
  const gw = gws[0];
  if (!gw) return undefined;
  const b = ipToBytes(gw).slice(-4);
  return formatMac(new Uint8Array([0x0a, 0x58, ...b]));
}

/** Throws CniError code 7 when `link` (named like the config's "bridge") is not a bridge. */
function assertBridge(link: Link): void {
  if (link.kind === "bridge") return;
  throw new CniError(
    CniCode.InvalidConfig,
    `cannot use ${link.name} as the bridge`,
    `a link named ${link.name} exists but is a ${link.kind ?? "plain"} device, not a bridge`,
  );
}

/**
 * Bridge mode, before IPAM: a link named like the config's "bridge" that is not a bridge fails
 * the call (code 7) before an address is reserved (the reference bridge checks it first too).
 */
export function assertBridgeUsable(host: NetHandle, name: string): void {
  const link = host.linkFind(name);
  if (link) assertBridge(link);
}

/**
 * The undo of a bridge this ADD created: it goes (with the gateway address it got) unless a
 * concurrent ADD has put a port on it meanwhile.
 */
function dropNewBridge(host: NetHandle, index: number): () => void {
  return () => {
    const links = host.linkList();
    if (links.some((l) => l.masterIndex === index)) return;
    const br = links.find((l) => l.index === index);
    if (br) linkDelIfExists(host, br.name);
  };
}

/** Finds or creates the bridge, up, with MTU and promiscuity as configured. */
function ensureBridge(o: WireOptions, ips: readonly ResultIp[]): Link {
  const name = o.conf.bridge;
  let br = o.host.linkFind(name);
  if (!br) {
    try {
      const mac = bridgeMac(ips);
      br = o.host.linkAdd({ kind: "bridge", name, mtu: o.mtu, up: true, ...(mac ? { mac } : {}) });
      o.undo.push(dropNewBridge(o.host, br.index));
    } catch (e) {
      if (!isNetlinkError(e, "EEXIST")) {
        throw new CniError(CniCode.Internal, `cannot create bridge ${name}`, (e as Error).message);
      }
      br = o.host.linkGet(name); // a concurrent ADD created it
    }
  }
  assertBridge(br);
  const index = br.index;
  let changed = false;
  if (!br.up) {
    step(`cannot set bridge ${name} up`, () => o.host.linkSet(index, { up: true }));
    changed = true;
  }
  if (o.conf.promiscMode) {
    step(`cannot set bridge ${name} promiscuous`, () => o.host.linkSet(index, { promisc: true }));
    changed = true;
  }
  return changed ? o.host.linkGet(index) : br;
}

/**
 * Bridge mode (`ip link add cni0 type bridge; ip addr add GW/P dev cni0; ip link add skX type
 * veth peer name eth0 netns POD; ip link set skX master cni0 up; ...`). Returns the result.
 */
export function wireBridge(o: WireOptions): CniResult {
  const ips = o.ipam.ips ?? [];
  assertMtuFits(o, ips);
  const br = ensureBridge(o, ips);
  mark("bridge ready");
  if (o.conf.isGateway) {
    for (const ip of ips) {
      if (!ip.gateway) continue;
      const gwCidr = `${ip.gateway}/${parseCidr(ip.address).prefix}`;
      step(
        `cannot add gateway address ${gwCidr} to bridge ${br.name}`,
        () => ensureAddr(o.host, br.index, gwCidr),
      );
    }
    enableForwarding(familiesOf(ips), o.hostNetns);
    mark("gateway address and forwarding");
  }
  const { hostLink, podLink } = createVeth(o, { master: br, up: true });
  mark("veth created");
  if (o.conf.hairpinMode) {
    step(
      `cannot set hairpin mode on ${hostLink.name}`,
      () => o.host.linkSet(hostLink.index, { hairpin: true }),
    );
  }
  configurePodAddrs(o, podLink.index, ips);
  mark("pod addresses");
  const gws = defaultGateways(ips);
  const routes = o.conf.isDefaultGateway
    ? withDefaultRoutes(o.ipam.routes ?? [], gws)
    : [...(o.ipam.routes ?? [])];
  for (const r of routes) addPodRoute(o, podLink.index, r, r.gw ?? gws[routeFamily(r.dst)]);
  mark("pod routes");
  return {
    cniVersion: o.conf.cniVersion,
    interfaces: [
      { name: br.name, mac: br.mac },
      // linkAdd() read the link back after creating it up and enslaved: its MAC is final.
      { name: hostLink.name, mac: hostLink.mac },
      { name: o.ifName, mac: podLink.mac, sandbox: o.netns },
    ],
    ips: ips.map((ip) => ({ ...ip, interface: 2 })),
    routes,
    ...(o.ipam.dns ? { dns: o.ipam.dns } : {}),
  };
}

/**
 * Routed mode (Calico's model): pod address as /32 (/128), `169.254.1.1 dev eth0 scope link`
 * and `default via 169.254.1.1` in the pod (v6: `default via fe80::1`), permanent neighbour
 * entries for the gateway in the pod and for the pod on the host, proxy_arp on the host veth,
 * and a host route `POD/32 dev skX scope link proto 101` (SKEIN_CNI_ROUTE_PROTOCOL: the daemon's
 * routes are 100; CNI versions before 101 existed used 100 too, see daemon/migrate.ts).
 */
export function wireRouted(o: WireOptions): CniResult {
  const plan = routedPlan(o.ipam.ips ?? [], o.ipam.routes ?? []);
  assertMtuFits(o, plan.ips);
  const fams = familiesOf(plan.ips);
  const { hostLink, podLink } = createVeth(o, { up: false });
  const hostName = hostLink.name;
  if (fams.has(4)) {
    step(`cannot enable proxy_arp on ${hostName}`, () => {
      ensureSysctl(`net/ipv4/conf/${hostName}/proxy_arp`, "1", netnsSysctl(o.hostNetns));
      ensureSysctl(`net/ipv4/neigh/${hostName}/proxy_delay`, "0", netnsSysctl(o.hostNetns));
    });
  }
  if (fams.has(6)) {
    step(
      `cannot disable DAD on ${hostName}`,
      () => ensureSysctl(`net/ipv6/conf/${hostName}/accept_dad`, "0", netnsSysctl(o.hostNetns)),
    );
  }
  const hostIndex = hostLink.index;
  const podIndex = podLink.index;
  step(`cannot set ${hostName} up`, () => o.host.linkSet(hostIndex, { up: true }));
  enableForwarding(fams, o.hostNetns);
  configurePodAddrs(o, podIndex, plan.ips);
  const hostMac = hostLink.mac; // read back by linkAdd(); setting the link up keeps it
  const podMac = podLink.mac;
  for (const fam of fams) {
    const gw = ROUTED_GATEWAY[fam];
    if (hostMac) {
      step(
        `cannot add neighbour ${gw} lladdr ${hostMac} in ${o.netns}`,
        () => o.pod.neighSet({ dev: podIndex, ip: gw, mac: hostMac, state: "permanent" }),
      );
    }
    if (fam === 4) {
      step(
        `cannot add route ${gw} dev ${o.ifName} scope link in ${o.netns}`,
        () => o.pod.routeAppend({ dst: `${gw}/32`, dev: podIndex, scope: "link" }),
      );
    }
  }
  for (const r of plan.routes) addPodRoute(o, podIndex, r, r.gw);
  for (const ip of plan.ips) {
    const c = parseCidr(ip.address);
    const addr = formatIp(c.ip);
    step(`cannot add host route ${ip.address} dev ${hostName}`, () =>
      o.host.routeReplace({
        dst: ip.address,
        dev: hostIndex,
        scope: "link",
        protocol: SKEIN_CNI_ROUTE_PROTOCOL,
      }));
    if (podMac) {
      step(
        `cannot add neighbour ${addr} lladdr ${podMac} dev ${hostName}`,
        () => o.host.neighSet({ dev: hostIndex, ip: addr, mac: podMac, state: "permanent" }),
      );
    }
  }
  return {
    cniVersion: o.conf.cniVersion,
    interfaces: [
      { name: hostName, mac: hostMac },
      { name: o.ifName, mac: podMac, sandbox: o.netns },
    ],
    ips: plan.ips.map((ip) => ({ ...ip, interface: 1 })),
    routes: plan.routes,
    ...(o.ipam.dns ? { dns: o.ipam.dns } : {}),
  };
}

/** Loopback mode: `ip link set lo up` in the pod (the reference `loopback` plugin). */
export function wireLoopback(
  pod: NetHandle,
  netns: string,
  ifName: string,
  cniVersion: string,
): CniResult {
  step(`cannot set ${ifName} up in ${netns}`, () => pod.linkSet(ifName, { up: true }));
  const lo = pod.linkGet(ifName);
  const addrs = pod.addrList({ dev: ifName }).filter((a) => a.scope === "host");
  return {
    cniVersion,
    interfaces: [{ name: ifName, mac: lo.mac ?? "00:00:00:00:00:00", sandbox: netns }],
    ips: addrs.map((a) => ({ address: a.cidr, interface: 0 })),
  };
}
