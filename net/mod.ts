/**
 * skein's kernel layer: rtnetlink over Deno FFI, network namespaces, sysctl, CIDR math.
 *
 * ```ts ignore
 * import { openHandle, netnsAdd } from "./net/mod.ts";
 * netnsAdd("node1");
 * using h = openHandle({ netns: "node1" });
 * h.linkAdd({ kind: "bridge", name: "cni0", up: true });
 * ```
 *
 * @module
 */
export { Handle, openHandle, type OpenHandleOptions } from "./handle.ts";
export { xfrmPolicies, xfrmStateCount } from "./xfrm.ts";
export {
  closeFd,
  isOwnNetns,
  NETNS_RUN_DIR,
  netnsAdd,
  netnsDel,
  netnsExists,
  netnsList,
  netnsPath,
  openNetnsFd,
  withNetns,
} from "./netns.ts";
export { checkIfname, IFNAME_RULE, ifnameProblem, IFNAMSIZ, isIfname } from "./nl/ifname.ts";
export { sysctlGet, sysctlPath, sysctlSet } from "./sysctl.ts";
export { NetlinkSocket } from "./socket.ts";
export {
  ALL_MONITOR_GROUPS,
  type KernelEvent,
  KernelMonitor,
  type KernelOp,
  type MonitorGroup,
  type MonitorOptions,
} from "./monitor.ts";
export type { Netconf } from "./nl/netconf.ts";
export { pingOnce, type PingOptions } from "./probe.ts";
export {
  type DirEvent,
  type DirEventKind,
  type DirWatcher,
  watchDirs,
  type WatchDirsFn,
  type WatchDirsOptions,
} from "./inotify.ts";
export { ERRNO_NAMES, isNetlinkError, NetlinkError } from "./errors.ts";
export * from "./types.ts";
export * from "./cidr.ts";
export { txChecksumOffload } from "./ethtool.ts";
