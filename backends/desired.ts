/**
 * desiredFor(): the desired state of a node's backend for a set of leases, computed read-only
 * for callers that are not the backend itself (`skein diagnose`, the daemon's `/debug/state`).
 * It uses each backend's own pure builder (hostGwDesired, vxlanDesired, ipipDesired) and reads
 * only what those need from the kernel (the tunnel device's index, the uplink's prefixes). Feed
 * the result with snapshot() to plan() to get the difference, without applying anything.
 *
 * @module
 */
import type { NetHandle } from "../net/types.ts";
import type { Lease } from "../store/types.ts";
import { OnLink } from "./_lease.ts";
import { hostGwDesired } from "./hostgw.ts";
import { ipipDesired } from "./ipip.ts";
import { backendDefinition } from "./registry.ts";
import type { DesiredState, Uplink } from "./types.ts";
import { vxlanDesired } from "./vxlan.ts";

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
  const devName = inp.device ?? def.capabilities.device?.name;
  if (inp.type === "host-gw") {
    const onlink = new OnLink(inp.handle as NetHandle, inp.uplink.index);
    return {
      ok: true,
      desired: hostGwDesired({ uplink: inp.uplink, publicIP: inp.publicIP }, others, self, onlink),
    };
  }
  const link = devName ? inp.handle.linkFind(devName) : undefined;
  if (!devName || !link) {
    return { ok: false, reason: `the ${inp.type} device ${devName ?? "?"} is missing` };
  }
  const device = { name: link.name, index: link.index };
  const family = inp.publicIP.includes(":") ? 6 : 4;
  switch (inp.type) {
    case "vxlan":
      return {
        ok: true,
        desired: vxlanDesired(
          { publicIP: inp.publicIP, underlayFamily: family },
          link.index,
          others,
          self,
        ),
        device,
      };
    case "ipip":
      return {
        ok: true,
        desired: ipipDesired({ publicIP: inp.publicIP }, link.index, others, self),
        device,
      };
  }
  return { ok: false, reason: `no desired-state builder for backend "${inp.type}"` };
}
