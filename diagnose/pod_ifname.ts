/**
 * The name of a pod's interface on the pod network: the CNI_IFNAME the runtime attached it with
 * (`eth0` mostly, `net1` under multus, whatever a user passes to ADD). Found the way the plugin
 * recorded it: the IPAM reservation of the pod's address (`<containerID>\r\n<ifname>`), else
 * the veth in the pod's namespace whose peer is on the pod's node, and only then `eth0`.
 *
 * @module
 */
import type { Link } from "../net/types.ts";
import { parseReservation } from "../node/reservation_file.ts";
import type { Kernel } from "./kernel.ts";

/** The name a pod's interface has when nothing says otherwise (the runtimes' usual CNI_IFNAME). */
export const DEFAULT_POD_IFNAME = "eth0";

/** What the pod's interface name is chosen from. */
export interface PodIfnameFacts {
  /** The interface name the IPAM reservation of the pod's address records, if any. */
  recorded?: string;
  /** The names of the links in the pod's namespace (empty: the namespace is not known). */
  present: readonly string[];
  /** The pod's veths whose peer is on its node, the one holding the pod's address first. */
  wired: readonly string[];
}

/**
 * The pod's interface name: the recorded one when the pod has it, else the first veth wired to
 * its node, else the recorded one (a pod that lost it: "pod has no net1"), else `eth0`. Pure.
 */
export function choosePodIfname(f: PodIfnameFacts): string {
  if (f.recorded !== undefined && f.present.includes(f.recorded)) return f.recorded;
  return f.wired[0] ?? f.recorded ?? DEFAULT_POD_IFNAME;
}

/**
 * The interface name the reservation of `ip` in IPAM directory `ipamDir` records (for container
 * `containerId` when given), if the file names one (`cat <dataDir>/<network>/<ip>`).
 */
export function recordedIfname(
  ipamDir: string,
  ip: string,
  containerId?: string,
): string | undefined {
  let data: Uint8Array;
  try {
    data = Deno.readFileSync(`${ipamDir}/${ip}`);
  } catch {
    return undefined;
  }
  const r = parseReservation(data);
  if (r.kind !== "current") return undefined;
  return containerId === undefined || r.id === containerId ? r.ifName : undefined;
}

/**
 * True when `link` (in the pod namespace `podNetns`) is a veth whose other end is in the node's
 * namespace, seen through `node`: that end names `link`'s index and the pod's namespace back
 * (`ip -n NODE -d link show` peer's `link-netnsid` and `@if<index>`).
 */
export function vethPeeredWith(
  link: Pick<Link, "index" | "parentIndex">,
  podNetns: string,
  node: Kernel,
): boolean {
  if (link.parentIndex === undefined) return false;
  const host = node.link(link.parentIndex);
  if (host?.kind !== "veth" || host.parentIndex !== link.index) return false;
  // Indexes repeat across namespaces (every new one starts at 1): the peer's namespace id,
  // as the node names it, settles which namespace it is.
  return host.linkNetnsId !== undefined && host.linkNetnsId === node.nsidOf(podNetns);
}

/**
 * Pod `e`'s interface name (see the module doc): `pod` is the pod's namespace kernel when known,
 * `node` its node's (and that node's IPAM directory).
 */
export function podIfnameOf(
  e: { ip: string; netns?: string; containerId?: string },
  o: { pod?: Kernel; node?: Kernel; ipamDir?: string },
): string {
  const recorded = o.ipamDir ? recordedIfname(o.ipamDir, e.ip, e.containerId) : undefined;
  const links = o.pod?.links() ?? [];
  const holding = o.pod?.linkWithAddr(e.ip)?.index;
  const wired = o.node && e.netns
    ? links.filter((l) => l.kind === "veth" && vethPeeredWith(l, e.netns!, o.node!))
      .sort((a, b) => Number(b.index === holding) - Number(a.index === holding))
    : [];
  return choosePodIfname({
    recorded,
    present: links.map((l) => l.name),
    wired: wired.map((l) => l.name),
  });
}
