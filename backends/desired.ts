/**
 * desiredFor(): the desired state of a node's backend for a set of leases, computed read-only
 * for callers that are not the backend itself (`skein diagnose`, the daemon's `/debug/state`).
 * It uses each backend's own pure builder (its `desired` in the backend table, registry.ts) and
 * reads only what those need from the kernel (the tunnel device's index, the uplink's prefixes). Feed
 * the result with snapshot() to plan() to get the difference, without applying anything.
 *
 * @module
 */
import type { NetHandle } from "../net/types.ts";
import type { Lease } from "../store/types.ts";
import { backendDefinition } from "./registry.ts";
import type { DesiredState, Uplink } from "./types.ts";

/** What desiredFor() needs about the node. */
export interface DesiredInputs {
  /** Backend name ("host-gw", "vxlan", "ipip"). */
  type: string;
  /** A handle in the node's namespace; only read (link lookup, address list). */
  handle: Pick<NetHandle, "linkFind" | "addrList" | "routeList">;
  uplink: Uplink;
  /** This node's public IP (its lease's). */
  publicIP: string;
  /** The tunnel device name, when not the backend's default. */
  device?: string;
  /** The backend's own fields as configured (vxlan: `{ vni, port, directRouting }`). */
  settings?: Readonly<Record<string, unknown>>;
  /** The cluster IPv4 network, when known (the udp backend routes all of it into its device). */
  network?: string;
}

/** The desired state, or why it cannot be computed (unknown backend, device missing). */
export type DesiredAnswer =
  | { ok: true; desired: DesiredState; device?: { name: string; index: number } }
  | { ok: false; reason: string };

/**
 * The desired state for `leases` (this node's own lease `self` is left out, as the backend's
 * reconcile() does). Read-only.
 */
export function desiredFor(
  inp: DesiredInputs,
  leases: readonly Lease[],
  self: Lease,
): DesiredAnswer {
  const def = backendDefinition(inp.type);
  if (!def) return { ok: false, reason: `unknown backend "${inp.type}"` };
  const others = leases.filter((l) => l.subnet !== self.subnet);
  const build = {
    handle: inp.handle,
    uplink: inp.uplink,
    publicIP: inp.publicIP,
    underlayFamily: (inp.publicIP.includes(":") ? 6 : 4) as 4 | 6,
    ...(inp.settings ? { settings: inp.settings } : {}),
    ...(inp.network ? { network: inp.network } : {}),
  };
  if (!def.capabilities.device) return { ok: true, desired: def.desired(build, others, self) };
  const devName = inp.device ?? def.capabilities.device.name;
  const link = inp.handle.linkFind(devName);
  if (!link) return { ok: false, reason: `the ${inp.type} device ${devName} is missing` };
  return {
    ok: true,
    desired: def.desired({ ...build, device: link.index }, others, self),
    device: { name: link.name, index: link.index },
  };
}
