/**
 * Address messages (RTM_NEWADDR/DELADDR/GETADDR): builders mirroring `ip addr add|replace|del`
 * and the decoder to skein's `Addr`.
 *
 * @module
 */
import { formatIp, lastOf, parseCidr } from "../cidr.ts";
import type { Addr } from "../types.ts";
import { type Attr, attr, getNum, getStr } from "./attr.ts";
import * as C from "./consts.ts";
import type { NlMessage } from "./message.ts";

/** An address change with the link resolved to its index. */
export interface AddrSpec {
  index: number;
  /** "10.0.0.1/24", "fd00::1/64" (a bare address means a host prefix). */
  cidr: string;
  /** RT_SCOPE_* number; default universe (host for loopback addresses). */
  scope?: number;
  /** Broadcast address, or "+" to derive it from the prefix (v4 only). */
  broadcast?: string;
  label?: string;
  nodad?: boolean;
  noprefixroute?: boolean;
}

/** Scope words accepted wherever a scope is given. */
export function parseScope(s: string | number, what = "scope"): number {
  if (typeof s === "number") {
    if (Number.isInteger(s) && s >= 0 && s <= 255) return s;
  } else {
    for (const [n, name] of Object.entries(C.SCOPE_NAMES)) if (name === s) return Number(n);
    if (s === "global") return C.RT_SCOPE_UNIVERSE;
    if (/^[0-9]+$/.test(s) && Number(s) <= 255) return Number(s);
  }
  throw new TypeError(
    `Cannot use ${what} "${s}": expected universe, site, link, host, nowhere or 0-255`,
  );
}

/** The scope as iproute2 names it ("universe" is printed as "global" by ip, skein keeps "universe"). */
export function scopeName(n: number): string {
  return C.SCOPE_NAMES[n] ?? String(n);
}

const CMD = {
  add: [C.RTM_NEWADDR, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL],
  replace: [C.RTM_NEWADDR, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_REPLACE],
  del: [C.RTM_DELADDR, C.NLM_F_REQUEST | C.NLM_F_ACK],
} as const;

/** `ip addr add|replace|del CIDR [brd B|+] [label L] [scope S] [nodad] [noprefixroute] dev INDEX` */
export function addrRequest(cmd: "add" | "replace" | "del", s: AddrSpec): NlMessage {
  const c = parseCidr(
    s.cidr.includes("/") ? s.cidr : `${s.cidr}/${s.cidr.includes(":") ? 128 : 32}`,
  );
  const ip = formatIp(c.ip);
  const family = c.family === 4 ? C.AF_INET : C.AF_INET6;
  let flags = 0;
  if (s.nodad) flags |= C.IFA_F_NODAD;
  if (s.noprefixroute) flags |= C.IFA_F_NOPREFIXROUTE;
  const scope = s.scope ??
    (cmd !== "del" && (c.family === 4 ? ip.startsWith("127.") : ip === "::1")
      ? C.RT_SCOPE_HOST
      : 0);
  const attrs: Attr[] = [attr(C.IFA_LOCAL, ip), attr(C.IFA_ADDRESS, ip)];
  if (s.broadcast !== undefined) {
    if (c.family !== 4) {
      throw new TypeError(`Cannot add ${s.cidr}: broadcast addresses are IPv4 only`);
    }
    attrs.push(attr(C.IFA_BROADCAST, s.broadcast === "+" ? formatIp(lastOf(c)) : s.broadcast));
  }
  if (s.label !== undefined) attrs.push(attr(C.IFA_LABEL, s.label));
  if (flags > 0xff) attrs.push(attr(C.IFA_FLAGS, flags));
  const [type, nlflags] = CMD[cmd];
  return {
    type,
    flags: nlflags,
    seq: 0,
    pid: 0,
    header: { family, prefixlen: c.prefix, flags: flags & 0xff, scope, index: s.index },
    attrs,
  };
}

/** `ip addr show`: dump addresses of one family (0 for both). */
export function addrDumpRequest(family: number): NlMessage {
  return {
    type: C.RTM_GETADDR,
    flags: C.NLM_F_REQUEST | C.NLM_F_DUMP,
    seq: 0,
    pid: 0,
    header: { family, prefixlen: 0, flags: 0, scope: 0, index: 0 },
    attrs: [],
  };
}

/** Reads a RTM_NEWADDR message as skein's Addr. */
export function addrFromMessage(m: NlMessage): Addr {
  const h = m.header;
  const ip = getStr(m.attrs, C.IFA_LOCAL) ?? getStr(m.attrs, C.IFA_ADDRESS) ?? "";
  const out: Addr = {
    index: h["index"] ?? 0,
    cidr: `${ip}/${h["prefixlen"] ?? 0}`,
    family: h["family"] === C.AF_INET6 ? 6 : 4,
    scope: scopeName(h["scope"] ?? 0),
    flags: getNum(m.attrs, C.IFA_FLAGS) ?? h["flags"] ?? 0,
  };
  const label = getStr(m.attrs, C.IFA_LABEL);
  if (label !== undefined) out.label = label;
  const brd = getStr(m.attrs, C.IFA_BROADCAST);
  if (brd !== undefined) out.broadcast = brd;
  return out;
}
