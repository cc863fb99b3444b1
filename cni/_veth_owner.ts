/**
 * Whose host veth is it? Its name comes from (container id, ifname) alone, so another network's
 * attachment of the same container and interface name has the same one, and so has a second ADD
 * of the same attachment into another namespace (which fails). DEL leaves alone a link under
 * that name that the network's own mode and bridge say is not its own, or whose peer lives in
 * another namespace than the CNI_NETNS of the DEL.
 *
 * @module
 */
import {
  type Handle,
  type Link,
  type NetHandle,
  SKEIN_CNI_ROUTE_PROTOCOL,
  SKEIN_ROUTE_PROTOCOL,
} from "../net/mod.ts";
import type { NetConf } from "./netconf.ts";

/**
 * True when `link` (named like the attachment's host veth) cannot be this network's: not a
 * veth; enslaved to another bridge than the config's (or to any, in routed mode); or, in bridge
 * mode, detached but carrying a routed pod's host routes (protocol 101, or 100 before it).
 */
export function isOtherNetworksVeth(
  host: NetHandle,
  link: Link,
  conf: Pick<NetConf, "mode" | "bridge">,
): boolean {
  if (link.kind !== "veth") return true;
  if (link.masterIndex !== undefined) {
    if (conf.mode !== "bridge") return true;
    return host.linkFind(conf.bridge)?.index !== link.masterIndex;
  }
  if (conf.mode !== "bridge") return false;
  return ([4, 6] as const).some((family) =>
    host.routeList({ family, dev: link.index }).some((r) =>
      r.protocol === SKEIN_CNI_ROUTE_PROTOCOL || r.protocol === SKEIN_ROUTE_PROTOCOL
    )
  );
}

/**
 * True when the veth's peer lives in another namespace than `podNetns` (an existing namespace,
 * as this process reaches CNI_NETNS): the namespace id `host` gives `podNetns` is not the veth's
 * link-netnsid (`ip -d link` shows it). False when the veth has no peer namespace or the id
 * cannot be read.
 */
export function peerInOtherNetns(host: Handle, link: Link, podNetns: string): boolean {
  if (link.linkNetnsId === undefined) return false;
  try {
    return host.nsidOf(podNetns) !== link.linkNetnsId;
  } catch {
    return false;
  }
}
