/**
 * CHECK: compares what the kernel holds for an attachment with the prevResult the runtime
 * cached, and fails with a message naming the first drift (missing link, wrong MAC, missing
 * address, missing route, host veth gone or detached, host route gone).
 *
 * @module
 */
import type { Link, NetHandle } from "../net/mod.ts";
import { parseCidr, sameIp } from "../net/cidr.ts";
import { CniCode, CniError } from "./errors.ts";
import type { NetConf } from "./netconf.ts";
import type { CniResult } from "./result.ts";
import { hostVethName } from "../node/veth_name.ts";
import { routeFamily, samePrefix } from "./_pod_routes.ts";

/** The kernel's main routing table (RT_TABLE_MAIN): where a route without "table" goes. */
const MAIN_TABLE = 254;

function drift(msg: string, details?: string): CniError {
  return new CniError(CniCode.Internal, `CHECK failed: ${msg}`, details);
}

function sameAddr(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.family === y.family && x.prefix === y.prefix && x.ip.value === y.ip.value;
}

/**
 * The pod interface is this attachment's only when it and the host veth named after
 * (containerId, ifName) are each other's peers. Otherwise CNI_NETNS names another pod's
 * namespace (or the interface was replaced): code 3, before anything else of it is compared.
 */
function assertOwned(o: CheckOptions, podLink: Link, hostLink: Link): void {
  if (podLink.parentIndex === hostLink.index && hostLink.parentIndex === podLink.index) return;
  throw new CniError(
    CniCode.UnknownContainer,
    `CHECK failed: interface ${o.ifName} in ${o.netns} does not belong to container ${o.containerId}`,
    `its veth peer is not host veth ${hostLink.name}`,
  );
}

/** Options for checkAttachment(). */
export interface CheckOptions {
  /** The parsed network configuration. */
  conf: NetConf;
  /** The prevResult to compare against. */
  prev: CniResult;
  /** CNI_CONTAINERID. */
  containerId: string;
  /** CNI_IFNAME: the interface name inside the pod. */
  ifName: string;
  /** CNI_NETNS: path of the pod's network namespace. */
  netns: string;
  /** Handle in the namespace the plugin runs in. */
  host: NetHandle;
  /** Handle in the pod's namespace. */
  pod: NetHandle;
}

/**
 * Verifies the attachment against prevResult; returns the pod addresses it holds (for the
 * IPAM check). Throws CniError with the drift it found.
 */
export function checkAttachment(o: CheckOptions): string[] {
  const ifaces = o.prev.interfaces ?? [];
  const idx = ifaces.findIndex((i) => i.name === o.ifName && i.sandbox);
  if (idx < 0) {
    throw drift(`prevResult has no interface ${o.ifName} with a sandbox`);
  }
  const want = ifaces[idx]!;
  const link = o.pod.linkFind(o.ifName);
  if (!link) throw drift(`interface ${o.ifName} is missing in ${o.netns}`);
  if (want.mac && link.mac && want.mac.toLowerCase() !== link.mac.toLowerCase()) {
    throw drift(`interface ${o.ifName} has MAC ${link.mac}, prevResult says ${want.mac}`);
  }
  if (o.conf.mode === "loopback") {
    if (!link.up) throw drift(`interface ${o.ifName} is down in ${o.netns}`);
    return [];
  }
  if (link.kind !== undefined && link.kind !== "veth") {
    throw drift(`interface ${o.ifName} in ${o.netns} is a ${link.kind}, not a veth`);
  }
  const hostName = hostVethName(o.containerId, o.ifName);
  const hostLink = o.host.linkFind(hostName);
  if (!hostLink) throw drift(`host veth ${hostName} is missing`);
  assertOwned(o, link, hostLink);
  if (!link.up) throw drift(`interface ${o.ifName} is down in ${o.netns}`);
  const ips = (o.prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === idx);
  const have = o.pod.addrList({ dev: o.ifName });
  for (const ip of ips) {
    if (!have.some((a) => sameAddr(a.cidr, ip.address))) {
      throw drift(
        `address ${ip.address} is missing on ${o.ifName} in ${o.netns}`,
        `the link has ${have.map((a) => a.cidr).join(", ") || "no addresses"}`,
      );
    }
  }
  // Every table: a CNI 1.1 route may name its own ("table": 100).
  const routes = [
    ...o.pod.routeList({ family: 4, dev: o.ifName, table: "all" }),
    ...o.pod.routeList({ family: 6, dev: o.ifName, table: "all" }),
  ];
  for (const r of o.prev.routes ?? []) {
    const fam = routeFamily(r.dst);
    if (!ips.some((ip) => parseCidr(ip.address).family === fam)) continue;
    // A multipath route (two networks' IPv6 default routes merged by the kernel) matches
    // through its next hop on this interface.
    // A prevResult of a version before 1.1 carries no "table": the route may be in any.
    const table = r.table === undefined ? undefined : r.table || MAIN_TABLE;
    const found = routes.some((k) =>
      (table === undefined || k.table === table) && samePrefix(k.dst, r.dst) &&
      (r.gw === undefined || sameIp(k.gateway, r.gw) ||
        (k.nexthops ?? []).some((h) => h.oif === link.index && sameIp(h.gateway, r.gw)))
    );
    if (!found) {
      throw drift(
        `route ${r.dst}${r.gw ? ` via ${r.gw}` : ""}${
          table === undefined || table === MAIN_TABLE ? "" : ` table ${table}`
        } is missing in ${o.netns}`,
      );
    }
  }
  if (o.conf.mode === "bridge") {
    const br = o.host.linkFind(o.conf.bridge);
    if (!br) throw drift(`bridge ${o.conf.bridge} is missing`);
    if (hostLink.masterIndex !== br.index) {
      throw drift(`host veth ${hostName} is not attached to bridge ${o.conf.bridge}`);
    }
  } else {
    const hostRoutes = [
      ...o.host.routeList({ family: 4, dev: hostName }),
      ...o.host.routeList({ family: 6, dev: hostName }),
    ];
    for (const ip of ips) {
      const c = parseCidr(ip.address);
      const host = `${ip.address.split("/")[0]}/${c.family === 4 ? 32 : 128}`;
      if (!hostRoutes.some((k) => samePrefix(k.dst, host))) {
        throw drift(`host route ${host} dev ${hostName} is missing`);
      }
    }
  }
  return ips.map((ip) => ip.address);
}
