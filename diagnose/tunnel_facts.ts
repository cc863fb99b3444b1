/**
 * What a node's backend settings say about its tunnel, for diagnose's NodeFacts: the
 * encapsulation between nodes, its device and UDP port, and whether on-link peers bypass it.
 * The vxlan, ipip and udp backends always tunnel; the bgp backend only with `encapsulation`
 * (vxlan over skein.1 and UDP 8472, ipip over skein-ipip, as backends/bgp/mod.ts sets them up),
 * and its `crossSubnet` is directRouting under another name (the tunnel only to nodes off this
 * node's subnet).
 *
 * @module
 */
import { backendDefinition, defaultPortOf } from "../backends/registry.ts";
import type { NodeFacts } from "./context.ts";

/** The backend settings tunnelFacts() reads (a daemon config's `backend` section, a lab plan). */
export interface TunnelSettings {
  type: string;
  port?: number;
  directRouting?: unknown;
  /** bgp: "none", "ipip" or "vxlan". */
  encapsulation?: unknown;
  /** bgp: tunnel only to nodes off this node's subnet. */
  crossSubnet?: unknown;
}

/** The tunnel facts of a node (see the module doc). */
export function tunnelFacts(
  s: TunnelSettings,
): Pick<NodeFacts, "port" | "device" | "tunnel" | "directRouting"> {
  const tunnel = s.type === "bgp"
    ? (s.encapsulation === "vxlan" || s.encapsulation === "ipip" ? s.encapsulation : undefined)
    : s.type === "vxlan" || s.type === "ipip" || s.type === "udp"
    ? s.type
    : undefined;
  const device = tunnel ? backendDefinition(tunnel)?.capabilities.device?.name : undefined;
  const port = s.type === "bgp" ? 8472 : s.port ?? defaultPortOf(s.type) ?? 8472;
  const direct = s.type === "bgp" ? s.crossSubnet === true : s.directRouting === true;
  return {
    port,
    ...(tunnel ? { tunnel } : {}),
    ...(device ? { device } : {}),
    ...(direct && tunnel ? { directRouting: true } : {}),
  };
}
