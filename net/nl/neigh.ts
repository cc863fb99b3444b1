/**
 * Neighbour and bridge FDB messages (RTM_NEWNEIGH/DELNEIGH/GETNEIGH): builders mirroring
 * `ip neigh replace|add|del` and `bridge fdb append|replace|del`, and decoders to skein's
 * `Neigh` and `Fdb`.
 *
 * @module
 */
import { parseIp, parseMac } from "../cidr.ts";
import type { Fdb, Neigh } from "../types.ts";
import { type Attr, attr, getNum, getStr } from "./attr.ts";
import * as C from "./consts.ts";
import type { NlMessage } from "./message.ts";

/** A neighbour entry with its device resolved. */
export interface NeighSpec {
  index: number;
  ip: string;
  mac?: string;
  /** Default "permanent". */
  state?: string;
  proxy?: boolean;
}

/** A bridge/VXLAN FDB entry with its device resolved. */
export interface FdbSpec {
  index: number;
  mac: string;
  dst?: string;
  /** Default: true unless `master` is set (like `bridge fdb`). */
  self?: boolean;
  master?: boolean;
  /** "permanent" (default), "static" or "dynamic", as `bridge fdb` spells them. */
  state?: string;
  vni?: number;
  port?: number;
}

/** `ip neigh ... nud STATE` words → NUD_* bits. */
export function parseNudState(s: string): number {
  if (s === "none") return C.NUD_NONE;
  for (const [bit, name] of C.NUD_NAMES) if (name === s) return bit;
  throw new TypeError(
    `Cannot use neighbour state "${s}": expected none, ${C.NUD_NAMES.map(([, n]) => n).join(", ")}`,
  );
}

/** NUD_* bits → words ("permanent", "reachable,noarp" ...; "none" for 0). */
export function nudStateName(state: number): string {
  const names = C.NUD_NAMES.filter(([bit]) => state & bit).map(([, n]) => n);
  return names.length ? names.join(",") : "none";
}

const NEIGH_CMD = {
  add: [C.RTM_NEWNEIGH, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL],
  replace: [C.RTM_NEWNEIGH, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_REPLACE],
  del: [C.RTM_DELNEIGH, C.NLM_F_REQUEST | C.NLM_F_ACK],
} as const;

/** `ip neigh add|replace|del [proxy] IP [lladdr MAC] dev INDEX [nud STATE]` */
export function neighRequest(cmd: "add" | "replace" | "del", s: NeighSpec): NlMessage {
  const ip = parseIp(s.ip);
  // iproute2 sends nud permanent by default, also on delete.
  const state = parseNudState(s.state ?? "permanent");
  if (s.mac !== undefined) parseMac(s.mac);
  const attrs: Attr[] = [attr(C.NDA_DST, s.ip)];
  if (s.mac !== undefined) attrs.push(attr(C.NDA_LLADDR, s.mac));
  const [type, flags] = NEIGH_CMD[cmd];
  return {
    type,
    flags,
    seq: 0,
    pid: 0,
    header: {
      family: ip.family === 4 ? C.AF_INET : C.AF_INET6,
      ifindex: s.index,
      state,
      flags: s.proxy ? C.NTF_PROXY : 0,
      type: 0,
    },
    attrs,
  };
}

/** `ip neigh show [proxy]`: dump one family (AF_UNSPEC for both). */
export function neighDumpRequest(family: number, proxy = false): NlMessage {
  return {
    type: C.RTM_GETNEIGH,
    flags: C.NLM_F_REQUEST | C.NLM_F_DUMP,
    seq: 0,
    pid: 0,
    header: { family, ifindex: 0, state: 0, flags: proxy ? C.NTF_PROXY : 0, type: 0 },
    attrs: [],
  };
}

/** Reads a RTM_NEWNEIGH message (family inet/inet6) as skein's Neigh. */
export function neighFromMessage(m: NlMessage): Neigh {
  const h = m.header;
  const fam = h["family"];
  const out: Neigh = {
    index: h["ifindex"] ?? 0,
    family: fam === C.AF_INET6 ? 6 : fam === C.AF_BRIDGE ? 7 : 4,
    ip: getStr(m.attrs, C.NDA_DST) ?? "",
    state: nudStateName(h["state"] ?? 0),
    flags: h["flags"] ?? 0,
  };
  const mac = getStr(m.attrs, C.NDA_LLADDR);
  if (mac !== undefined) out.mac = mac;
  return out;
}

const FDB_CMD = {
  append: [C.RTM_NEWNEIGH, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_APPEND],
  replace: [C.RTM_NEWNEIGH, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_REPLACE],
  add: [C.RTM_NEWNEIGH, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL],
  del: [C.RTM_DELNEIGH, C.NLM_F_REQUEST | C.NLM_F_ACK],
} as const;

/** `bridge fdb` state words → ndm_state, exactly as bridge(8) sets them. */
export function parseFdbState(s: string): number {
  switch (s) {
    case "permanent":
      return C.NUD_NOARP | C.NUD_PERMANENT;
    case "static":
      return C.NUD_NOARP | C.NUD_REACHABLE;
    case "dynamic":
      return C.NUD_REACHABLE;
  }
  throw new TypeError(`Cannot use FDB state "${s}": expected permanent, static or dynamic`);
}

/** ndm_state → the word `bridge fdb show` prints ("permanent", "static", "" for dynamic...). */
export function fdbStateName(state: number): string {
  if (state & C.NUD_PERMANENT) return "permanent";
  if (state & C.NUD_NOARP) return "static";
  if (state & C.NUD_STALE) return "stale";
  return "";
}

/** `bridge fdb append|replace|add|del MAC dev INDEX [dst IP] [port P] [vni V] [self] [master] [STATE]` */
export function fdbRequest(cmd: "append" | "replace" | "add" | "del", s: FdbSpec): NlMessage {
  let flags = 0;
  if (s.self ?? !s.master) flags |= C.NTF_SELF;
  if (s.master) flags |= C.NTF_MASTER;
  if (s.vni !== undefined && (!Number.isInteger(s.vni) || s.vni < 0 || s.vni >= 1 << 24)) {
    throw new RangeError(`Cannot use VNI ${s.vni}: expected 0..16777215`);
  }
  if (s.port !== undefined && (!Number.isInteger(s.port) || s.port < 0 || s.port > 0xffff)) {
    throw new RangeError(`Cannot use port ${s.port}: expected 0..65535`);
  }
  parseMac(s.mac);
  if (s.dst !== undefined) parseIp(s.dst);
  const attrs: Attr[] = [attr(C.NDA_LLADDR, s.mac)];
  if (s.dst !== undefined) attrs.push(attr(C.NDA_DST, s.dst));
  if (s.port !== undefined) attrs.push(attr(C.NDA_PORT, s.port));
  if (s.vni !== undefined) attrs.push(attr(C.NDA_VNI, s.vni));
  const [type, nlflags] = FDB_CMD[cmd];
  return {
    type,
    flags: nlflags,
    seq: 0,
    pid: 0,
    header: {
      family: C.AF_BRIDGE,
      ifindex: s.index,
      state: parseFdbState(s.state ?? "permanent"),
      flags,
      type: 0,
    },
    attrs,
  };
}

/** `bridge fdb show`: dump the bridge family's neighbour table. */
export function fdbDumpRequest(): NlMessage {
  return neighDumpRequest(C.AF_BRIDGE);
}

/** Reads a RTM_NEWNEIGH message (family AF_BRIDGE) as skein's Fdb. */
export function fdbFromMessage(m: NlMessage): Fdb {
  const h = m.header;
  const flags = h["flags"] ?? 0;
  const out: Fdb = {
    index: h["ifindex"] ?? 0,
    mac: getStr(m.attrs, C.NDA_LLADDR) ?? "",
    self: (flags & C.NTF_SELF) !== 0,
    // Entries of a bridge's own table carry NDA_MASTER (the kernel does not set NTF_MASTER on dumps).
    master: (flags & C.NTF_MASTER) !== 0 || getNum(m.attrs, C.NDA_MASTER) !== undefined,
    state: fdbStateName(h["state"] ?? 0),
  };
  if (flags & C.NTF_STICKY) out.sticky = true;
  const dst = getStr(m.attrs, C.NDA_DST);
  if (dst !== undefined) out.dst = dst;
  const vni = getNum(m.attrs, C.NDA_VNI);
  if (vni !== undefined) out.vni = vni;
  const port = getNum(m.attrs, C.NDA_PORT);
  if (port !== undefined) out.port = port;
  const vlan = getNum(m.attrs, C.NDA_VLAN);
  if (vlan !== undefined) out.vlan = vlan;
  return out;
}
