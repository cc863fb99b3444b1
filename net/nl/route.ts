/**
 * Route messages (RTM_NEWROUTE/DELROUTE/GETROUTE): builders mirroring `ip route add|replace|del|get`
 * and the decoder to skein's `Route`.
 *
 * @module
 */
import { formatIp, ipFromBytes, parseIp, tryParseCidr } from "../cidr.ts";
import type { Nexthop, Route } from "../types.ts";
import {
  type Attr,
  attr,
  getAttr,
  getNested,
  getNum,
  getStr,
  nest,
  NetlinkDecodeError,
} from "./attr.ts";
import { parseScope, scopeName } from "./addr.ts";
import * as C from "./consts.ts";
import { formatV4, parseV4 } from "./ip.ts";
import type { NlMessage } from "./message.ts";

/** A route with its device resolved to an index. */
export interface RouteSpec {
  /** "10.244.1.0/24", "10.0.0.5", "default". */
  dst: string;
  family?: 4 | 6;
  gateway?: string;
  oif?: number;
  src?: string;
  table?: number;
  protocol?: number;
  scope?: string | number;
  type?: string;
  onlink?: boolean;
  metric?: number;
  mtu?: number;
  /** RTAX_ADVMSS: the MSS advertised to peers reached by this route (`ip route ... advmss N`). */
  advmss?: number;
}

/** Route type words → RTN_* number. */
export function parseRouteType(t: string): number {
  const n = (C.ROUTE_TYPES as readonly string[]).indexOf(t);
  if (n < 0) {
    throw new TypeError(
      `Cannot use route type "${t}": expected one of ${C.ROUTE_TYPES.join(", ")}`,
    );
  }
  return n;
}

function checkU32(v: number | undefined, what: string, max = 0xffffffff): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`Cannot use ${what} ${v}: expected an integer in 0..${max}`);
  }
}

/** Resolves "default" / bare addresses / prefixes into family, text and prefix length. */
export function routeDst(dst: string, family?: 4 | 6): { family: 4 | 6; ip: string; len: number } {
  if (dst === "default") {
    const f = family ?? 4;
    return { family: f, ip: f === 4 ? "0.0.0.0" : "::", len: 0 };
  }
  const slash = dst.indexOf("/");
  const v4 = parseV4(slash < 0 ? dst : dst.slice(0, slash));
  if (v4 >= 0 && family !== 6) {
    const lenText = slash < 0 ? "32" : dst.slice(slash + 1);
    const len = /^(?:[0-9]|[12][0-9]|3[0-2])$/.test(lenText) ? Number(lenText) : -1;
    if (len >= 0) return { family: 4, ip: slash < 0 ? dst : dst.slice(0, slash), len };
  }
  const c = tryParseCidr(dst.includes("/") ? dst : `${dst}/${dst.includes(":") ? 128 : 32}`);
  if (!c) {
    throw new TypeError(
      `Cannot use route destination "${dst}": expected a prefix like 10.244.1.0/24, an address, or "default"`,
    );
  }
  if (family !== undefined && family !== c.family) {
    throw new TypeError(
      `Cannot use route ${dst}: it is IPv${c.family} but family ${family} was asked`,
    );
  }
  return { family: c.family, ip: formatIp(c.ip), len: c.prefix };
}

/** Text used in error messages: "10.244.2.0/24 via 192.168.1.48 dev 3". */
export function describeRoute(s: RouteSpec): string {
  let t = s.dst;
  if (s.gateway) t += ` via ${s.gateway}`;
  if (s.table !== undefined && s.table !== C.RT_TABLE_MAIN) t += ` table ${s.table}`;
  return t;
}

const CMD = {
  add: [C.RTM_NEWROUTE, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL],
  // `ip route append`: another route to the same prefix (the reference CNI plugins add pod
  // routes this way, so a pod on two networks gets both default routes).
  append: [C.RTM_NEWROUTE, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_APPEND],
  replace: [C.RTM_NEWROUTE, C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_REPLACE],
  del: [C.RTM_DELROUTE, C.NLM_F_REQUEST | C.NLM_F_ACK],
} as const;

/**
 * `ip route add|append|replace|del DST [src S] [via G] [metric M] [table T] [proto P] [scope S]
 * [onlink] [dev INDEX] [mtu N]`, with iproute2's defaults (proto boot, scope link without a
 * gateway).
 */
export function routeRequest(
  cmd: "add" | "append" | "replace" | "del",
  s: RouteSpec,
): NlMessage {
  const d = routeDst(s.dst, s.family);
  const fam = d.family === 4 ? C.AF_INET : C.AF_INET6;
  for (const [what, ip] of [["gateway", s.gateway], ["src", s.src]] as const) {
    if (ip !== undefined && (parseV4(ip) >= 0 ? 4 : parseIp(ip).family) !== d.family) {
      throw new TypeError(`Cannot use route ${s.dst} with ${what} ${ip}: address families differ`);
    }
  }
  checkU32(s.table, "table");
  checkU32(s.protocol, "protocol", 255);
  checkU32(s.metric, "metric");
  checkU32(s.mtu, "mtu");
  checkU32(s.advmss, "advmss");
  const table = s.table ?? C.RT_TABLE_MAIN;
  const type = s.type !== undefined
    ? parseRouteType(s.type)
    : cmd === "del"
    ? C.RTN_UNSPEC
    : C.RTN_UNICAST;
  let scope: number;
  if (s.scope !== undefined) scope = parseScope(s.scope);
  else if (cmd === "del") scope = C.RT_SCOPE_NOWHERE;
  else if (type === C.RTN_LOCAL || type === C.RTN_NAT) scope = C.RT_SCOPE_HOST;
  else if (type === C.RTN_BROADCAST || type === C.RTN_MULTICAST || type === C.RTN_ANYCAST) {
    scope = C.RT_SCOPE_LINK;
  } else if ((type === C.RTN_UNICAST || type === C.RTN_UNSPEC) && s.gateway === undefined) {
    scope = C.RT_SCOPE_LINK;
  } else scope = C.RT_SCOPE_UNIVERSE;
  const protocol = s.protocol ?? (cmd === "del" ? C.RTPROT_UNSPEC : C.RTPROT_BOOT);

  const attrs: Attr[] = [];
  if (d.len > 0) attrs.push(attr(C.RTA_DST, d.ip));
  if (s.src !== undefined) attrs.push(attr(C.RTA_PREFSRC, s.src));
  if (s.gateway !== undefined) attrs.push(attr(C.RTA_GATEWAY, s.gateway));
  if (s.metric !== undefined) attrs.push(attr(C.RTA_PRIORITY, s.metric));
  if (table >= 256) attrs.push(attr(C.RTA_TABLE, table));
  if (s.oif !== undefined) attrs.push(attr(C.RTA_OIF, s.oif));
  // iproute2's order: mtu, then advmss.
  const metrics: Attr[] = [];
  if (s.mtu !== undefined) metrics.push(attr(C.RTAX_MTU, s.mtu));
  if (s.advmss !== undefined) metrics.push(attr(C.RTAX_ADVMSS, s.advmss));
  if (metrics.length) attrs.push(nest(C.RTA_METRICS, metrics));
  const [mtype, flags] = CMD[cmd];
  return {
    type: mtype,
    flags,
    seq: 0,
    pid: 0,
    header: {
      family: fam,
      dstLen: d.len,
      srcLen: 0,
      tos: 0,
      table: table < 256 ? table : C.RT_TABLE_UNSPEC,
      protocol,
      scope,
      type,
      flags: s.onlink ? C.RTNH_F_ONLINK : 0,
    },
    attrs,
  };
}

/**
 * `ip route get DST [from SRC] [iif INDEX] [oif INDEX] [mark MARK] [ipproto P]`. With `iif` the
 * kernel answers as for a packet received on that link (the forwarding path: ip_forward, rp_filter
 * and input routes apply), without it as for a packet this host sends; `mark` is the packet's
 * firewall mark (RTA_MARK: policy rules on fwmark see it), `ipProto` its IP protocol (RTA_IP_PROTO:
 * policy rules on ipproto see it). Like iproute2 it sets RTM_F_LOOKUP_TABLE, so the
 * answer names the table a policy rule sent the lookup to.
 */
export function routeGetRequest(
  dst: string,
  opts: { src?: string; iif?: number; oif?: number; mark?: number; ipProto?: number } = {},
): NlMessage {
  const ip = parseIp(dst);
  const full = ip.family === 4 ? 32 : 128;
  const attrs: Attr[] = [attr(C.RTA_DST, formatIp(ip))];
  if (opts.src !== undefined) {
    if (parseIp(opts.src).family !== ip.family) {
      throw new TypeError(
        `Cannot look up route to ${dst} from ${opts.src}: address families differ`,
      );
    }
    attrs.push(attr(C.RTA_SRC, opts.src));
  }
  if (opts.iif !== undefined) attrs.push(attr(C.RTA_IIF, opts.iif));
  if (opts.oif !== undefined) attrs.push(attr(C.RTA_OIF, opts.oif));
  if (opts.mark !== undefined) {
    if (!Number.isInteger(opts.mark) || opts.mark < 0 || opts.mark > 0xffffffff) {
      throw new RangeError(
        `Cannot look up route to ${dst} with mark ${opts.mark}: expected a 32-bit unsigned integer`,
      );
    }
    attrs.push(attr(C.RTA_MARK, opts.mark));
  }
  if (opts.ipProto !== undefined) attrs.push(attr(C.RTA_IP_PROTO, opts.ipProto));
  return {
    type: C.RTM_GETROUTE,
    flags: C.NLM_F_REQUEST,
    seq: 0,
    pid: 0,
    header: {
      family: ip.family === 4 ? C.AF_INET : C.AF_INET6,
      dstLen: full,
      srcLen: opts.src !== undefined ? full : 0,
      tos: 0,
      table: 0,
      protocol: 0,
      scope: 0,
      type: 0,
      flags: C.RTM_F_LOOKUP_TABLE,
    },
    attrs,
  };
}

/** `ip route show`: dump routes of one family. */
export function routeDumpRequest(family: number): NlMessage {
  return {
    type: C.RTM_GETROUTE,
    flags: C.NLM_F_REQUEST | C.NLM_F_DUMP,
    seq: 0,
    pid: 0,
    header: {
      family,
      dstLen: 0,
      srcLen: 0,
      tos: 0,
      table: 0,
      protocol: 0,
      scope: 0,
      type: 0,
      flags: 0,
    },
    attrs: [],
  };
}

/** Reads a RTM_NEWROUTE message as skein's Route. */
export function routeFromMessage(m: NlMessage): Route {
  const h = m.header;
  const family = h["family"] === C.AF_INET6 ? 6 : 4;
  const dstLen = h["dstLen"] ?? 0;
  const dstIp = getStr(m.attrs, C.RTA_DST) ?? (family === 4 ? "0.0.0.0" : "::");
  const type = h["type"] ?? 0;
  const r: Route = {
    family,
    // The kernel keeps route prefixes with their host bits clear, and formats are canonical.
    dst: `${dstIp}/${dstLen}`,
    table: getNum(m.attrs, C.RTA_TABLE) ?? h["table"] ?? 0,
    protocol: h["protocol"] ?? 0,
    scope: scopeName(h["scope"] ?? 0),
    type: C.ROUTE_TYPES[type] ?? String(type),
    onlink: ((h["flags"] ?? 0) & C.RTNH_F_ONLINK) !== 0,
  };
  const gw = getStr(m.attrs, C.RTA_GATEWAY);
  if (gw !== undefined) r.gateway = gw;
  const oif = getNum(m.attrs, C.RTA_OIF);
  if (oif !== undefined) r.oif = oif;
  const src = getStr(m.attrs, C.RTA_PREFSRC);
  if (src !== undefined) r.src = src;
  const metric = getNum(m.attrs, C.RTA_PRIORITY);
  if (metric !== undefined) r.metric = metric;
  const metrics = getNested(m.attrs, C.RTA_METRICS);
  const mtu = metrics && getNum(metrics, C.RTAX_MTU);
  if (mtu !== undefined) r.mtu = mtu;
  const mp = getAttr(m.attrs, C.RTA_MULTIPATH);
  if (mp instanceof Uint8Array) {
    const nexthops = nexthopsFromBytes(mp);
    if (nexthops.length) r.nexthops = nexthops;
  }
  return r;
}

/**
 * Reads an RTA_MULTIPATH payload: struct rtnexthop (len u16, flags u8, hops u8, ifindex) each
 * followed by its attributes (RTA_GATEWAY). A malformed entry ends the walk; never throws.
 */
export function nexthopsFromBytes(b: Uint8Array): Nexthop[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Nexthop[] = [];
  let r = 0;
  while (r + 8 <= b.length) {
    const len = dv.getUint16(r, true);
    if (len < 8 || r + len > b.length) break;
    const nh: Nexthop = { oif: dv.getUint32(r + 4, true) };
    let a = r + 8;
    while (a + 4 <= r + len) {
      const alen = dv.getUint16(a, true);
      if (alen < 4 || a + alen > r + len) break;
      const n = alen - 4;
      if (
        (dv.getUint16(a + 2, true) & C.NLA_TYPE_MASK) === C.RTA_GATEWAY && (n === 4 || n === 16)
      ) {
        nh.gateway = n === 4
          ? formatV4(b, a + 4)
          : formatIp(ipFromBytes(b.subarray(a + 4, a + 20)));
      }
      a += (alen + 3) & ~3;
    }
    out.push(nh);
    r += (len + 3) & ~3;
  }
  return out;
}

/** The address of `n` (4 or 16) bytes at `q`, as text. */
function ipAt(b: Uint8Array, q: number, n: number): string {
  return n === 4 ? v4At(b, q) : formatIp(ipFromBytes(b.subarray(q, q + n)));
}

// The last IPv4 address formatted, as a number and text: a dump's routes mostly share a few
// gateways (10,000 BGP routes via one next hop are one string, not 10,000 copies).
let lastV4 = -1;
let lastV4Text = "";

/** formatV4() of the 4 bytes at `q`, reusing the previous result when they are the same. */
function v4At(b: Uint8Array, q: number): string {
  const v = ((b[q]! << 24) | (b[q + 1]! << 16) | (b[q + 2]! << 8) | b[q + 3]!) >>> 0;
  if (v !== lastV4) {
    lastV4 = v;
    lastV4Text = formatV4(b, q);
  }
  return lastV4Text;
}

/** RTAX_MTU from an RTA_METRICS payload of `n` bytes at `q`; undefined when it has none. */
function mtuFromMetrics(dv: DataView, q: number, n: number): number | undefined {
  let mtu: number | undefined;
  let r = q;
  while (r + 4 <= q + n) {
    const ml = dv.getUint16(r, true);
    // A metric that claims more bytes than RTA_METRICS holds ends the walk (no overrun).
    if (ml < 4 || r + ml > q + n) break;
    if ((dv.getUint16(r + 2, true) & C.NLA_TYPE_MASK) === C.RTAX_MTU && ml === 8) {
      mtu = dv.getUint32(r + 4, true);
    }
    r += (ml + 3) & ~3;
  }
  return mtu;
}

/** "a.b.c.d/len" (or an IPv6 one) from RTA_DST's bytes at `at` (-1: no RTA_DST, the default). */
function dstText(b: Uint8Array, family: 4 | 6, at: number, bytes: number, len: number): string {
  if (at < 0) return `${family === 4 ? "0.0.0.0" : "::"}/${len}`;
  // One string for "a.b.c.d/len" (5,000-route dumps: no intermediate address string).
  // join() makes it one flat string: a template literal this long is a cons string, which V8
  // flattens into a second copy when the text is first hashed (the snapshot's keys).
  if (bytes === 4) {
    return [b[at], ".", b[at + 1], ".", b[at + 2], ".", b[at + 3], "/", len].join("");
  }
  return `${ipAt(b, at, bytes)}/${len}`;
}

/**
 * Reads a RTM_NEWROUTE message straight from a receive buffer (the same result as
 * `routeFromMessage(decodeMessage(...))`, without building attribute objects). `off` is the
 * nlmsghdr's offset, `len` its nlmsg_len. Used for large route dumps.
 */
export function routeFromBytes(b: Uint8Array, dv: DataView, off: number, len: number): Route {
  if (len < 28) throw new NetlinkDecodeError("rtmsg", `${len} bytes is too short`);
  if (off + len > b.length) {
    throw new NetlinkDecodeError("rtmsg", `${len} bytes at offset ${off} overrun the buffer`);
  }
  const h = off + 16;
  const fam = b[h]!;
  const family = fam === C.AF_INET6 ? 6 : 4;
  const dstLen = b[h + 1]!;
  const type = b[h + 7]!;
  let table = b[h + 4]!;
  let dstAt = -1; // RTA_DST's address offset (-1: none), formatted once with the prefix length
  let dstBytes = 0;
  let gateway: string | undefined;
  let oif: number | undefined;
  let src: string | undefined;
  let metric: number | undefined;
  let mtu: number | undefined;
  let nexthops: Nexthop[] | undefined;
  const end = off + len;
  let p = h + 12;
  while (p + 4 <= end) {
    const alen = dv.getUint16(p, true);
    if (alen < 4 || p + alen > end) {
      throw new NetlinkDecodeError(
        "route attribute",
        `length ${alen} at offset ${p - off} does not fit`,
      );
    }
    const t = dv.getUint16(p + 2, true) & C.NLA_TYPE_MASK;
    const n = alen - 4;
    const q = p + 4;
    switch (t) {
      case C.RTA_DST:
        if (n === 4 || n === 16) {
          dstAt = q;
          dstBytes = n;
        }
        break;
      case C.RTA_GATEWAY:
        if (n === 4 || n === 16) gateway = ipAt(b, q, n);
        break;
      case C.RTA_PREFSRC:
        if (n === 4 || n === 16) src = ipAt(b, q, n);
        break;
      case C.RTA_OIF:
        if (n === 4) oif = dv.getUint32(q, true);
        break;
      case C.RTA_PRIORITY:
        if (n === 4) metric = dv.getUint32(q, true);
        break;
      case C.RTA_TABLE:
        if (n === 4) table = dv.getUint32(q, true);
        break;
      case C.RTA_MULTIPATH:
        nexthops = nexthopsFromBytes(b.subarray(q, q + n));
        break;
      case C.RTA_METRICS:
        mtu = mtuFromMetrics(dv, q, n) ?? mtu;
        break;
    }
    p += (alen + 3) & ~3;
  }
  const route: Route = {
    family,
    dst: dstText(b, family, dstAt, dstBytes, dstLen),
    table,
    protocol: b[h + 5]!,
    scope: scopeName(b[h + 6]!),
    type: C.ROUTE_TYPES[type] ?? String(type),
    onlink: (dv.getUint32(h + 8, true) & C.RTNH_F_ONLINK) !== 0,
  };
  if (gateway !== undefined) route.gateway = gateway;
  if (oif !== undefined) route.oif = oif;
  if (src !== undefined) route.src = src;
  if (metric !== undefined) route.metric = metric;
  if (mtu !== undefined) route.mtu = mtu;
  if (nexthops?.length) route.nexthops = nexthops;
  return route;
}
