/**
 * The IPAM contract shared with the CNI plugin: configuration, requests and results.
 *
 * @module
 */
import type { CniError } from "../errors.ts";
import type { NodeLease } from "../../node/lease_file.ts";

/** One range of a range set, as written in the netconf (`ipam.ranges[i][j]` or legacy `ipam.subnet`). */
export interface IpamRange {
  /** The subnet, canonical after parsing ("10.244.1.0/24"). */
  subnet: string;
  /** First allocatable address, inclusive (default: network + 1). */
  rangeStart?: string;
  /** Last allocatable address, inclusive (default: broadcast - 1 for IPv4, last address for IPv6). */
  rangeEnd?: string;
  /** Gateway handed out with addresses of this range (default: network + 1); never allocated. */
  gateway?: string;
}

/** A route handed to the pod (`ipam.routes`). */
export interface IpamRoute {
  /** Destination prefix, canonical ("10.244.0.0/16", "0.0.0.0/0"). */
  dst: string;
  /** Optional next hop; without it the main plugin uses the interface's gateway. */
  gw?: string;
  /** Path MTU of the route (RTAX_MTU; CNI 1.1). */
  mtu?: number;
  /** MSS advertised to peers over the route (RTAX_ADVMSS; CNI 1.1). */
  advmss?: number;
  /** Route metric (RTA_PRIORITY; CNI 1.1). */
  priority?: number;
  /** Routing table in the pod's namespace (default main, 254; CNI 1.1). */
  table?: number;
  /** Route scope number (0 universe, 200 site, 253 link, 254 host; CNI 1.1). */
  scope?: number;
}

/** DNS settings for the result (from `ipam.resolvConf`). */
export interface IpamDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** What the daemon's node lease file says (node/lease_file.ts: JSON `subnet.json` or flannel's `subnet.env`). */
export type NodeLeaseInfo = NodeLease;

/** The parsed, validated and canonical `ipam` section plus the netconf's network name. */
export interface IpamConfig {
  /** The IPAM type ("skein"). */
  type: string;
  /** Range sets, one address is allocated from each (usually one set per family). */
  ranges: IpamRange[][];
  /** Routes handed out in the result. */
  routes: IpamRoute[];
  /** Directory holding one folder per network (default "/var/lib/cni/networks"). */
  dataDir: string;
  /** The netconf "name": reservations live in `<dataDir>/<networkName>/`. */
  networkName: string;
  /** The daemon's node lease file read for `"subnet": "auto"` (default "/run/skein/subnet.json"). */
  leaseFile?: string;
  /** A resolv.conf-style file whose settings go into the result's `dns`. */
  resolvConf?: string;
  /** The node lease the ranges came from, when `"subnet": "auto"` was used (MTU, masquerade). */
  nodeLease?: NodeLeaseInfo;
  /**
   * Why the node lease file could not be used for `"subnet": "auto"` (CniError 11 when it does
   * not exist yet, 6 when corrupt, 5 when unreadable). ADD throws it; DEL, CHECK and GC do not
   * need ranges and work anyway.
   */
  leaseError?: CniError;
}

/** Who an allocation belongs to: the CNI attachment key (network is the config's name). */
export interface IpamAttachment {
  /** CNI_CONTAINERID. */
  containerId: string;
  /** CNI_IFNAME. */
  ifName: string;
}

/** An ADD request. */
export interface IpamRequest extends IpamAttachment {
  config: IpamConfig;
  /** Specific IPs requested via CNI_ARGS `IP=`, `runtimeConfig.ips` or `args.cni.ips`. */
  requestedIps?: string[];
}

/** A CHECK request. */
export interface IpamCheckRequest extends IpamAttachment {
  config: IpamConfig;
  /** Addresses the attachment must still hold (from prevResult), "10.244.1.5" or "10.244.1.5/24". */
  expectedIps?: string[];
}

/** One allocated address. */
export interface IpamIp {
  /** Address with the subnet's prefix length: "10.244.1.5/24". */
  address: string;
  /** The range's gateway. */
  gateway?: string;
}

/** The result of an ADD: one address per range set, in range-set order. */
export interface IpamResult {
  ips: IpamIp[];
  routes: IpamRoute[];
  dns?: IpamDns;
}

/** A GC request (CNI 1.1): everything not in `validAttachments` is released. */
export interface IpamGcRequest {
  config: IpamConfig;
  /** `cni.dev/valid-attachments` from the GC netconf. */
  validAttachments: { containerID: string; ifname: string }[];
}
