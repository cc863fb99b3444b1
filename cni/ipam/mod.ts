/**
 * skein IPAM: host-local-compatible address allocation that loses nothing under failure.
 * See README.md in this folder for the on-disk layout and the crash rule.
 *
 * @example
 * ```ts ignore
 * import { ipamAdd, parseIpamConfig } from "./cni/ipam/mod.ts";
 * const config = await parseIpamConfig({ name: "pods", ipam: { type: "skein", subnet: "10.244.1.0/24" } });
 * const result = await ipamAdd({ config, containerId: "abc", ifName: "eth0" });
 * // result.ips[0].address === "10.244.1.2/24"
 * ```
 *
 * @module
 */
export type {
  IpamAttachment,
  IpamCheckRequest,
  IpamConfig,
  IpamDns,
  IpamGcRequest,
  IpamIp,
  IpamRange,
  IpamRequest,
  IpamResult,
  IpamRoute,
  NodeLeaseInfo,
} from "./types.ts";
export { parseIpamConfig, parseIpamConfigSync, type ParseIpamOptions } from "./config.ts";
export {
  ipamAdd,
  ipamCheck,
  ipamDel,
  ipamGc,
  ipamReclaim,
  ipamStatus,
  ipamStatusOfNetconf,
  STATUS_UNAVAILABLE,
} from "./allocator.ts";
export { DEFAULT_LEASE_FILE, readLeaseFile } from "./lease_file.ts";
export { DEFAULT_DATA_DIR } from "./store.ts";
