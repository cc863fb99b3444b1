/**
 * Helpers for skein's own tunnel devices: create or repair the device, and keep exactly the
 * wanted global addresses on it.
 *
 * @module
 */
import { formatIp, parseCidr } from "../net/cidr.ts";
import type { Link, LinkAddOptions, LinkSetOptions, NetHandle } from "../net/types.ts";
import { isNetlinkError } from "../net/errors.ts";
import { BackendSetupError, skeinTunnelDevices } from "./_context.ts";

/** One of skein's tunnel devices as ensureTunnelDevice() should leave it. */
export interface TunnelDeviceSpec {
  handle: NetHandle;
  /** What `ip link add` would get for a fresh device (name, kind, MTU, MAC, up...). */
  create: LinkAddOptions & { mtu: number };
  /**
   * Why an existing link cannot be kept, for attributes the kernel cannot change in place
   * (VNI, local address, lower device...); undefined when it can be kept.
   */
  mismatch(link: Link): string | undefined;
  /** The message for a failed creation ("Cannot create VXLAN device ... : <why>"). */
  createError(e: unknown): string;
  /** Called when the device had to be created, recreated or corrected (drift accounting). */
  onRepair?: () => void;
}

/**
 * Creates the device if missing, recreates it when `mismatch()` says it cannot be kept, then
 * fixes MTU, MAC and up state in place (`ip link add ...; ip link set DEV mtu M address MAC up`).
 * Cheap when all is right: one link lookup. Throws BackendSetupError.
 */
export function ensureTunnelDevice(spec: TunnelDeviceSpec): Link {
  const { handle: h, create } = spec;
  let link = h.linkFind(create.name);
  const why = link && spec.mismatch(link);
  if (link && why !== undefined) {
    try {
      h.linkDel(link.index);
    } catch (e) {
      throw new BackendSetupError(
        `Cannot replace device ${create.name} (${why}): ${(e as Error).message}`,
        { cause: e },
      );
    }
    link = undefined;
  }
  if (!link) {
    spec.onRepair?.();
    try {
      link = h.linkAdd(create);
    } catch (e) {
      throw new BackendSetupError(spec.createError(e), { cause: e });
    }
    if (!link.up || link.mtu !== create.mtu) link = h.linkGet(create.name);
  }
  const set: LinkSetOptions = {};
  if (link.mtu !== create.mtu) set.mtu = create.mtu;
  if (create.mac !== undefined && link.mac !== create.mac) set.mac = create.mac;
  if (!link.up) set.up = true;
  if (Object.keys(set).length) {
    spec.onRepair?.();
    h.linkSet(link.index, set);
    link = { ...link, ...set, up: true } as Link;
  }
  return link;
}

/**
 * Deletes skein's tunnel devices other than `keep` (the device of the backend now in use;
 * undefined for host-gw): what a node switched from vxlan or ipip to another backend left behind,
 * with its addresses, neighbours and routes (`ip link del skein.1`). Only a link with one of
 * skein's device names *and* that name's kind (`skein.1` vxlan, `skein-ipip` ipip) is deleted;
 * anything else under those names is foreign and left alone. Returns the names deleted. Throws
 * BackendSetupError when a deletion fails (a device already gone is fine).
 */
export function removeOtherTunnelDevices(handle: NetHandle, keep: string | undefined): string[] {
  const removed: string[] = [];
  for (const t of skeinTunnelDevices()) {
    if (t.name === keep) continue;
    const link = handle.linkFind(t.name);
    if (!link || link.kind !== t.kind) continue;
    try {
      handle.linkDel(link.index);
    } catch (e) {
      if (isNetlinkError(e, "ENODEV")) continue;
      throw new BackendSetupError(
        `Cannot remove skein's old ${t.kind} device ${t.name} (another backend is in use now): ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
    removed.push(t.name);
  }
  return removed;
}

/** Counts of an address reconcile, folded into the ReconcileReport. */
export interface AddrCounts {
  added: number;
  removed: number;
  unchanged: number;
  errors: string[];
}

/** "10.244.1.0/32" → the same text, normalised ("FD00:0::/128" → "fd00::/128"). */
function addrKey(cidr: string): string {
  const c = parseCidr(cidr);
  return `${formatIp(c.ip)}/${c.prefix}`;
}

/**
 * Makes the universe-scope addresses on skein's device `dev` exactly `wanted`
 * (`ip addr add A dev D` for the missing, `ip addr del` for the others; link-local addresses the
 * kernel assigns are left alone). Never throws: failures are returned in `errors`.
 */
export function ensureDeviceAddrs(handle: NetHandle, dev: number, wanted: string[]): AddrCounts {
  const out: AddrCounts = { added: 0, removed: 0, unchanged: 0, errors: [] };
  const want = new Map(wanted.map((c) => [addrKey(c), c]));
  const have = new Set<string>();
  let list;
  try {
    list = handle.addrList({ dev });
  } catch (e) {
    out.errors.push(`Cannot list addresses of device ${dev}: ${(e as Error).message}`);
    return out;
  }
  for (const a of list) {
    if (a.scope !== "universe") continue;
    const key = addrKey(a.cidr);
    if (want.has(key)) {
      have.add(key);
      out.unchanged++;
      continue;
    }
    try {
      handle.addrDel({ dev, cidr: a.cidr });
      out.removed++;
    } catch (e) {
      out.errors.push((e as Error).message);
    }
  }
  for (const [key, cidr] of want) {
    if (have.has(key)) continue;
    try {
      handle.addrReplace({ dev, cidr, nodad: cidr.includes(":") ? true : undefined });
      out.added++;
    } catch (e) {
      out.errors.push((e as Error).message);
    }
  }
  return out;
}
