/**
 * Picks the node's uplink (the interface other nodes reach it through) and its public address,
 * the way flanneld's `--iface`, `--iface-regex`, `--iface-can-reach` and `--public-ip` do.
 * Pure over a NetHandle: no I/O of its own.
 *
 * @module
 */
import { formatIp, parseCidr } from "../net/cidr.ts";
import type { Addr, Link, NetHandle } from "../net/types.ts";

/** The chosen uplink. */
export interface UplinkChoice {
  name: string;
  index: number;
  mtu: number;
  publicIP: string;
  publicIP6?: string;
  /** How it was chosen, for the log. */
  reason: string;
}

/** The interface/address could not be determined. */
export class UplinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UplinkError";
  }
}

/** The config fields that steer the choice. */
export interface UplinkSelector {
  iface?: string;
  ifaceRegex?: string;
  ifaceCanReach?: string;
  publicIP?: string;
  publicIP6?: string;
}

type Handle = Pick<NetHandle, "linkList" | "linkFind" | "addrList" | "routeList" | "routeGet">;

function globalAddrs(h: Handle, link: Link, family: 4 | 6): Addr[] {
  return h.addrList({ dev: link.index, family }).filter((a) => a.scope === "universe");
}

function ipOf(a: Addr): string {
  return formatIp(parseCidr(a.cidr).ip);
}

/**
 * Chooses the uplink: by name (`iface`), by regex over names and IPv4 addresses (`ifaceRegex`),
 * as the kernel's route to an address (`ifaceCanReach`, like `ip route get`), the link holding
 * `publicIP`, or else the link of the IPv4 default route. Throws UplinkError saying what to set.
 */
export function chooseUplink(h: Handle, sel: UplinkSelector): UplinkChoice {
  let link: Link | undefined;
  let reason = "";
  let src: string | undefined;
  if (sel.iface) {
    link = h.linkFind(sel.iface);
    if (!link) throw new UplinkError(`Interface ${sel.iface} (config iface) does not exist`);
    reason = `iface ${sel.iface}`;
  } else if (sel.ifaceRegex) {
    const re = new RegExp(sel.ifaceRegex);
    for (const l of h.linkList().sort((a, b) => a.index - b.index)) {
      if (l.name === "lo") continue;
      const addrs = globalAddrs(h, l, 4);
      if (addrs.length === 0) continue;
      if (re.test(l.name) || addrs.some((a) => re.test(ipOf(a)))) {
        link = l;
        break;
      }
    }
    if (!link) {
      throw new UplinkError(
        `No interface with an IPv4 address matches ifaceRegex ${sel.ifaceRegex}`,
      );
    }
    reason = `ifaceRegex ${sel.ifaceRegex}`;
  } else if (sel.ifaceCanReach) {
    let r;
    try {
      r = h.routeGet(sel.ifaceCanReach);
    } catch (e) {
      throw new UplinkError(
        `No route to ifaceCanReach ${sel.ifaceCanReach}: ${(e as Error).message}`,
      );
    }
    if (r.oif === undefined) {
      throw new UplinkError(`The route to ${sel.ifaceCanReach} has no output interface`);
    }
    link = h.linkFind(r.oif);
    if (!link) {
      throw new UplinkError(`The route to ${sel.ifaceCanReach} uses an interface that vanished`);
    }
    src = r.src;
    reason = `ifaceCanReach ${sel.ifaceCanReach}`;
  } else if (sel.publicIP) {
    for (const l of h.linkList()) {
      if (globalAddrs(h, l, 4).some((a) => ipOf(a) === sel.publicIP)) {
        link = l;
        reason = `holds publicIP ${sel.publicIP}`;
        break;
      }
    }
  }
  if (!link) {
    const def = h.routeList({ family: 4 }).find((r) =>
      r.dst === "0.0.0.0/0" && r.oif !== undefined
    );
    if (!def) {
      throw new UplinkError(
        "Cannot pick the node's interface: no IPv4 default route; set iface, ifaceRegex, ifaceCanReach or publicIP",
      );
    }
    link = h.linkFind(def.oif!);
    if (!link) throw new UplinkError("The default route's interface vanished");
    reason = "default route";
  }
  let publicIP = sel.publicIP ?? src;
  if (!publicIP) {
    const a = globalAddrs(h, link, 4)[0];
    if (!a) {
      throw new UplinkError(
        `Interface ${link.name} (${reason}) has no global IPv4 address; set publicIP`,
      );
    }
    publicIP = ipOf(a);
  }
  const out: UplinkChoice = { name: link.name, index: link.index, mtu: link.mtu, publicIP, reason };
  const v6 = sel.publicIP6 ?? globalAddrs(h, link, 6).map(ipOf).find((x) => !x.startsWith("fe80:"));
  if (v6) out.publicIP6 = v6;
  return out;
}
