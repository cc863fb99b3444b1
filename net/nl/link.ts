/**
 * Link messages (RTM_NEWLINK/DELLINK/GETLINK/SETLINK): request builders shaped like the
 * iproute2 commands they mirror, and the decoder to skein's `Link`.
 *
 * Builders take resolved numbers (interface indices, namespace fds); the handle resolves names.
 * Attribute order follows iproute2 6.1 so the bytes can be compared with what `ip` sends.
 *
 * @module
 */
import { parseIp, parseMac, tryParseIp } from "../cidr.ts";
import type { BridgePortFlags, IpipInfo, Link, LinkStats, VxlanInfo } from "../types.ts";
import {
  type Attr,
  attr,
  getAttr,
  getNested,
  getNum,
  getStr,
  nest,
  type StructWithAttrs,
  textOf,
} from "./attr.ts";
import * as C from "./consts.ts";
import { checkIfname } from "./ifname.ts";
import type { NlMessage } from "./message.ts";

/** A link to create, with every reference already resolved to a number. */
export interface LinkAddSpec {
  kind: "veth" | "bridge" | "vxlan" | "ipip" | "dummy";
  name: string;
  mtu?: number;
  mac?: string;
  txqlen?: number;
  up?: boolean;
  masterIndex?: number;
  /** Create the link in the namespace this fd refers to (IFLA_NET_NS_FD). */
  netnsFd?: number;
  peer?: { name: string; mtu?: number; mac?: string; netnsFd?: number };
  bridge?: { stp?: boolean; vlanFiltering?: boolean };
  vxlan?: {
    vni: number;
    local?: string;
    linkIndex?: number;
    port?: number;
    learning?: boolean;
    udpCsum?: boolean;
    udp6ZeroCsumTx?: boolean;
    udp6ZeroCsumRx?: boolean;
    ttl?: number;
  };
  ipip?: {
    local?: string;
    remote?: string;
    linkIndex?: number;
    ttl?: number;
    tos?: number;
    pmtudisc?: boolean;
  };
}

/** What to change on an existing link; unset fields are left alone. */
export interface LinkSetSpec {
  up?: boolean;
  promisc?: boolean;
  mtu?: number;
  mac?: string;
  txqlen?: number;
  /** 0 releases from the master (`nomaster`). */
  masterIndex?: number;
  netnsFd?: number;
  name?: string;
}

function checkU(v: number | undefined, bits: 8 | 16 | 32, what: string, min = 0): void {
  if (v === undefined) return;
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`Cannot use ${what} ${v}: expected an integer in ${min}..${max}`);
  }
}

function commonAttrs(
  o: { mtu?: number; mac?: string; txqlen?: number; masterIndex?: number; netnsFd?: number },
): Attr[] {
  const a: Attr[] = [];
  checkU(o.mtu, 32, "mtu", 68);
  checkU(o.txqlen, 32, "txqlen");
  if (o.mtu !== undefined) a.push(attr(C.IFLA_MTU, o.mtu));
  if (o.mac !== undefined) {
    parseMac(o.mac);
    a.push(attr(C.IFLA_ADDRESS, o.mac));
  }
  if (o.txqlen !== undefined) a.push(attr(C.IFLA_TXQLEN, o.txqlen));
  if (o.masterIndex !== undefined) a.push(attr(C.IFLA_MASTER, o.masterIndex));
  if (o.netnsFd !== undefined) a.push(attr(C.IFLA_NET_NS_FD, o.netnsFd));
  return a;
}

/** XDP_ATTACHED_* (if_link.h): 1 driver, 2 generic (skb), 3 offloaded, 4 several modes. */
const XDP_MODES: Record<number, NonNullable<Link["xdp"]>["mode"]> = {
  1: "driver",
  2: "generic",
  3: "offload",
  4: "multi",
};

/** IFLA_INFO_DATA of a vxlan link, in iproute2's order. */
function vxlanInfoData(spec: LinkAddSpec): Attr[] {
  const v = spec.vxlan;
  if (!v) throw new TypeError(`Cannot add vxlan ${spec.name}: a VNI is required`);
  checkU(v.vni, 32, "VXLAN VNI");
  if (v.vni >= 1 << 24) {
    throw new RangeError(`Cannot use VXLAN VNI ${v.vni}: expected 0..16777215`);
  }
  checkU(v.port, 16, "VXLAN port");
  checkU(v.ttl, 8, "VXLAN ttl");
  // iproute2 adds these while parsing arguments ...
  const d: Attr[] = [];
  if (v.linkIndex !== undefined) d.push(attr(C.IFLA_VXLAN_LINK, v.linkIndex));
  if (v.udpCsum !== undefined) d.push(attr(C.IFLA_VXLAN_UDP_CSUM, v.udpCsum ? 1 : 0));
  if (v.udp6ZeroCsumTx !== undefined) {
    d.push(attr(C.IFLA_VXLAN_UDP_ZERO_CSUM6_TX, v.udp6ZeroCsumTx ? 1 : 0));
  }
  if (v.udp6ZeroCsumRx !== undefined) {
    d.push(attr(C.IFLA_VXLAN_UDP_ZERO_CSUM6_RX, v.udp6ZeroCsumRx ? 1 : 0));
  }
  if (v.ttl !== undefined) d.push(attr(C.IFLA_VXLAN_TTL, v.ttl));
  // ... and these after.
  d.push(attr(C.IFLA_VXLAN_ID, v.vni));
  if (v.local !== undefined) {
    parseIp(v.local);
    d.push(attr(v.local.includes(":") ? C.IFLA_VXLAN_LOCAL6 : C.IFLA_VXLAN_LOCAL, v.local));
  }
  if (v.learning !== undefined) d.push(attr(C.IFLA_VXLAN_LEARNING, v.learning ? 1 : 0));
  if (v.port !== undefined) d.push(attr(C.IFLA_VXLAN_PORT, v.port));
  return d;
}

/** IFLA_INFO_DATA of an ipip link: exactly what iproute2's link_iptnl_parse_opt() sends. */
function ipipInfoData(spec: LinkAddSpec): Attr[] {
  const t = spec.ipip ?? {};
  checkU(t.ttl, 8, "ipip ttl");
  checkU(t.tos, 8, "ipip tos");
  for (const [k, ip] of [["local", t.local], ["remote", t.remote]] as const) {
    if (ip !== undefined && (typeof ip !== "string" || tryParseIp(ip)?.family !== 4)) {
      throw new TypeError(`Cannot add ipip ${spec.name}: ${k} "${ip}" is not an IPv4 address`);
    }
  }
  if (t.pmtudisc === false && t.ttl) {
    throw new TypeError(`Cannot add ipip ${spec.name}: nopmtudisc needs ttl inherit (0)`);
  }
  // Exactly what iproute2's link_iptnl_parse_opt() sends for "ipip".
  const d: Attr[] = [attr(C.IFLA_IPTUN_PROTO, 0)];
  if (t.local !== undefined) d.push(attr(C.IFLA_IPTUN_LOCAL, t.local));
  if (t.remote !== undefined) d.push(attr(C.IFLA_IPTUN_REMOTE, t.remote));
  d.push(
    attr(C.IFLA_IPTUN_PMTUDISC, t.pmtudisc === false ? 0 : 1),
    attr(C.IFLA_IPTUN_TOS, t.tos ?? 0),
    attr(C.IFLA_IPTUN_TTL, t.ttl ?? 0),
    attr(C.IFLA_IPTUN_LINK, t.linkIndex ?? 0),
    attr(C.IFLA_IPTUN_FWMARK, 0),
    attr(C.IFLA_IPTUN_ENCAP_TYPE, 0),
    attr(C.IFLA_IPTUN_ENCAP_FLAGS, 0),
    attr(C.IFLA_IPTUN_ENCAP_SPORT, 0),
    attr(C.IFLA_IPTUN_ENCAP_DPORT, 0),
  );
  return d;
}

function infoData(spec: LinkAddSpec): Attr[] | undefined {
  switch (spec.kind) {
    case "veth": {
      const p = spec.peer;
      if (!p) throw new TypeError(`Cannot add veth ${spec.name}: a peer name is required`);
      checkIfname(p.name, "veth peer");
      const peer: StructWithAttrs = {
        header: { family: 0, type: 0, index: 0, flags: 0, change: 0 },
        attrs: [...commonAttrs(p), attr(C.IFLA_IFNAME, p.name)],
      };
      return [attr(C.VETH_INFO_PEER, peer)];
    }
    case "bridge": {
      const b = spec.bridge ?? {};
      const d: Attr[] = [];
      if (b.stp !== undefined) d.push(attr(C.IFLA_BR_STP_STATE, b.stp ? 1 : 0));
      if (b.vlanFiltering !== undefined) {
        d.push(attr(C.IFLA_BR_VLAN_FILTERING, b.vlanFiltering ? 1 : 0));
      }
      return d.length ? d : undefined;
    }
    case "vxlan":
      return vxlanInfoData(spec);
    case "ipip":
      return ipipInfoData(spec);
    case "dummy":
      return undefined;
  }
  throw new TypeError(
    `Cannot add link ${spec.name}: unknown kind "${(spec as { kind: string }).kind}"`,
  );
}

/** `ip link add NAME [mtu M] [address A] [txqueuelen T] [master B] [netns N] [up] type KIND ...` */
export function linkAddRequest(spec: LinkAddSpec): NlMessage {
  checkIfname(spec.name);
  // Like iproute2: IFLA_INFO_KIND without a trailing NUL.
  const info: Attr[] = [attr(C.IFLA_INFO_KIND, new TextEncoder().encode(spec.kind))];
  const data = infoData(spec);
  if (data) info.push(nest(C.IFLA_INFO_DATA, data));
  return {
    type: C.RTM_NEWLINK,
    flags: C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_EXCL | C.NLM_F_CREATE,
    seq: 0,
    pid: 0,
    header: {
      family: C.AF_UNSPEC,
      type: 0,
      index: 0,
      flags: spec.up ? C.IFF_UP : 0,
      change: spec.up ? C.IFF_UP : 0,
    },
    attrs: [...commonAttrs(spec), attr(C.IFLA_IFNAME, spec.name), nest(C.IFLA_LINKINFO, info)],
  };
}

/** `ip link set dev INDEX [up|down] [promisc on|off] [mtu M] [address A] [master B|nomaster] [netns N] [name X]` */
export function linkSetRequest(index: number, s: LinkSetSpec): NlMessage {
  let flags = 0;
  let change = 0;
  if (s.up !== undefined) {
    change |= C.IFF_UP;
    if (s.up) flags |= C.IFF_UP;
  }
  if (s.promisc !== undefined) {
    change |= C.IFF_PROMISC;
    if (s.promisc) flags |= C.IFF_PROMISC;
  }
  const attrs = commonAttrs(s);
  if (s.name !== undefined) {
    checkIfname(s.name);
    attrs.push(attr(C.IFLA_IFNAME, s.name));
  }
  return {
    type: C.RTM_NEWLINK,
    flags: C.NLM_F_REQUEST | C.NLM_F_ACK,
    seq: 0,
    pid: 0,
    header: { family: C.AF_UNSPEC, type: 0, index, flags, change },
    attrs,
  };
}

/** `bridge link set dev INDEX hairpin on|off`: RTM_SETLINK, AF_BRIDGE, IFLA_PROTINFO { IFLA_BRPORT_MODE }. */
export function bridgePortHairpinRequest(index: number, on: boolean): NlMessage {
  return {
    type: C.RTM_SETLINK,
    flags: C.NLM_F_REQUEST | C.NLM_F_ACK,
    seq: 0,
    pid: 0,
    header: { family: C.AF_BRIDGE, type: 0, index, flags: 0, change: 0 },
    attrs: [nest(C.IFLA_PROTINFO, [attr(C.IFLA_BRPORT_MODE, on ? 1 : 0)], true)],
  };
}

/** `ip link del dev INDEX` */
export function linkDelRequest(index: number): NlMessage {
  return {
    type: C.RTM_DELLINK,
    flags: C.NLM_F_REQUEST | C.NLM_F_ACK,
    seq: 0,
    pid: 0,
    header: { family: C.AF_UNSPEC, type: 0, index, flags: 0, change: 0 },
    attrs: [],
  };
}

/** `ip link show dev X`: one RTM_GETLINK by index or by name (no stats). */
export function linkGetRequest(link: string | number): NlMessage {
  const byName = typeof link === "string";
  if (byName) checkIfname(link);
  return {
    type: C.RTM_GETLINK,
    flags: C.NLM_F_REQUEST,
    seq: 0,
    pid: 0,
    header: { family: C.AF_UNSPEC, type: 0, index: byName ? 0 : link, flags: 0, change: 0 },
    attrs: [
      attr(C.IFLA_EXT_MASK, C.RTEXT_FILTER_SKIP_STATS),
      ...(byName ? [attr(C.IFLA_IFNAME, link)] : []),
    ],
  };
}

/** `ip link show`: dump every link (no stats); `ip -s link show` with `stats`. */
export function linkDumpRequest(stats = false): NlMessage {
  return {
    type: C.RTM_GETLINK,
    flags: C.NLM_F_REQUEST | C.NLM_F_DUMP,
    seq: 0,
    pid: 0,
    header: { family: C.AF_UNSPEC, type: 0, index: 0, flags: 0, change: 0 },
    attrs: stats ? [] : [attr(C.IFLA_EXT_MASK, C.RTEXT_FILTER_SKIP_STATS)],
  };
}

/** The counters of a RTM_NEWLINK message (IFLA_STATS64: eight u64 first), if it has them. */
export function linkStatsFromMessage(m: NlMessage): LinkStats | undefined {
  const raw = getAttr(m.attrs, C.IFLA_STATS64);
  if (!(raw instanceof Uint8Array) || raw.length < 64) return undefined;
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const u = (i: number) => Number(dv.getBigUint64(i * 8, true));
  return {
    rxPackets: u(0),
    txPackets: u(1),
    rxBytes: u(2),
    txBytes: u(3),
    rxErrors: u(4),
    txErrors: u(5),
    rxDropped: u(6),
    txDropped: u(7),
  };
}

function vxlanInfo(d: Attr[]): VxlanInfo {
  const out: VxlanInfo = { vni: getNum(d, C.IFLA_VXLAN_ID) ?? 0 };
  const local = getStr(d, C.IFLA_VXLAN_LOCAL) ?? getStr(d, C.IFLA_VXLAN_LOCAL6);
  if (local !== undefined) out.local = local;
  const link = getNum(d, C.IFLA_VXLAN_LINK);
  if (link !== undefined) out.dev = link;
  const port = getNum(d, C.IFLA_VXLAN_PORT);
  if (port !== undefined) out.port = port;
  const bool = (t: number) => {
    const v = getNum(d, t);
    return v === undefined ? undefined : v !== 0;
  };
  const learning = bool(C.IFLA_VXLAN_LEARNING);
  if (learning !== undefined) out.learning = learning;
  const udpCsum = bool(C.IFLA_VXLAN_UDP_CSUM);
  if (udpCsum !== undefined) out.udpCsum = udpCsum;
  const tx = bool(C.IFLA_VXLAN_UDP_ZERO_CSUM6_TX);
  if (tx !== undefined) out.udp6ZeroCsumTx = tx;
  const rx = bool(C.IFLA_VXLAN_UDP_ZERO_CSUM6_RX);
  if (rx !== undefined) out.udp6ZeroCsumRx = rx;
  const ttl = getNum(d, C.IFLA_VXLAN_TTL);
  if (ttl !== undefined) out.ttl = ttl;
  const tos = getNum(d, C.IFLA_VXLAN_TOS);
  if (tos !== undefined) out.tos = tos;
  const range = getAttr(d, C.IFLA_VXLAN_PORT_RANGE);
  if (range instanceof Uint8Array && range.length === 4) {
    const dv = new DataView(range.buffer, range.byteOffset, 4);
    out.portRange = [dv.getUint16(0, false), dv.getUint16(2, false)];
  }
  return out;
}

function ipipInfo(d: Attr[]): IpipInfo {
  const out: IpipInfo = {};
  const local = getStr(d, C.IFLA_IPTUN_LOCAL);
  if (local !== undefined) out.local = local;
  const remote = getStr(d, C.IFLA_IPTUN_REMOTE);
  if (remote !== undefined) out.remote = remote;
  const link = getNum(d, C.IFLA_IPTUN_LINK);
  if (link) out.dev = link;
  const ttl = getNum(d, C.IFLA_IPTUN_TTL);
  if (ttl !== undefined) out.ttl = ttl;
  const tos = getNum(d, C.IFLA_IPTUN_TOS);
  if (tos !== undefined) out.tos = tos;
  const pmtu = getNum(d, C.IFLA_IPTUN_PMTUDISC);
  if (pmtu !== undefined) out.pmtudisc = pmtu !== 0;
  return out;
}

/** Reads a RTM_NEWLINK message as skein's Link. */
export function linkFromMessage(m: NlMessage): Link {
  const a = m.attrs;
  const flags = m.header["flags"] ?? 0;
  const oper = getNum(a, C.IFLA_OPERSTATE) ?? 0;
  const link: Link = {
    index: m.header["index"] ?? 0,
    name: getStr(a, C.IFLA_IFNAME) ?? "",
    mtu: getNum(a, C.IFLA_MTU) ?? 0,
    flags,
    up: (flags & C.IFF_UP) !== 0,
    operState: C.OPER_STATES[oper] ?? String(oper),
  };
  const mac = getStr(a, C.IFLA_ADDRESS);
  if (mac !== undefined) link.mac = mac;
  const master = getNum(a, C.IFLA_MASTER);
  if (master !== undefined) link.masterIndex = master;
  const parent = getNum(a, C.IFLA_LINK);
  if (parent !== undefined) link.parentIndex = parent;
  const nsid = getNum(a, C.IFLA_LINK_NETNSID);
  if (nsid !== undefined) link.linkNetnsId = nsid;
  const promisc = getNum(a, C.IFLA_PROMISCUITY);
  if (promisc !== undefined) link.promiscuity = promisc;
  const xdp = getNested(a, C.IFLA_XDP);
  const attached = xdp ? getNum(xdp, C.IFLA_XDP_ATTACHED) : undefined;
  if (xdp && attached !== undefined && attached !== 0) {
    const mode = XDP_MODES[attached] ?? "multi";
    const id = getNum(xdp, C.IFLA_XDP_PROG_ID);
    link.xdp = id !== undefined ? { mode, progId: id } : { mode };
  }
  const info = getNested(a, C.IFLA_LINKINFO);
  if (info) {
    const rawKind = getAttr(info, C.IFLA_INFO_KIND);
    const kind = rawKind instanceof Uint8Array
      ? textOf(rawKind)
      : typeof rawKind === "string"
      ? rawKind
      : undefined;
    if (kind !== undefined) link.kind = kind;
    const data = getNested(info, C.IFLA_INFO_DATA);
    if (data && kind === "vxlan") link.vxlan = vxlanInfo(data);
    if (data && kind === "ipip") link.ipip = ipipInfo(data);
    if (data && kind === "bridge") {
      const br: { stpState?: number; vlanFiltering?: boolean } = {};
      const stp = getNum(data, C.IFLA_BR_STP_STATE);
      if (stp !== undefined) br.stpState = stp;
      const vf = getNum(data, C.IFLA_BR_VLAN_FILTERING);
      if (vf !== undefined) br.vlanFiltering = vf !== 0;
      link.bridge = br;
    }
    const slave = getNested(info, C.IFLA_INFO_SLAVE_DATA);
    const rawSlave = getAttr(info, C.IFLA_INFO_SLAVE_KIND);
    const slaveKind = rawSlave instanceof Uint8Array ? textOf(rawSlave) : rawSlave;
    if (slave && slaveKind === "bridge") {
      const mode = getNum(slave, C.IFLA_BRPORT_MODE);
      if (mode !== undefined) link.hairpin = mode !== 0;
      const state = getNum(slave, C.IFLA_BRPORT_STATE);
      if (state !== undefined) link.portState = state;
      link.portFlags = portFlagsOf(slave);
    }
  }
  const prot = getNested(a, C.IFLA_PROTINFO);
  if (prot && m.header["family"] === C.AF_BRIDGE) {
    const mode = getNum(prot, C.IFLA_BRPORT_MODE);
    if (mode !== undefined) link.hairpin = mode !== 0;
    const state = getNum(prot, C.IFLA_BRPORT_STATE);
    if (state !== undefined) link.portState = state;
    link.portFlags = portFlagsOf(prot);
  }
  return link;
}

/** The IFLA_BRPORT_* flags (u8 attributes) of a bridge port's attribute set. */
function portFlagsOf(attrs: Parameters<typeof getNum>[0]): BridgePortFlags {
  const out: BridgePortFlags = {};
  const flags = [
    ["learning", C.IFLA_BRPORT_LEARNING],
    ["flood", C.IFLA_BRPORT_UNICAST_FLOOD],
    ["bcastFlood", C.IFLA_BRPORT_BCAST_FLOOD],
    ["mcastFlood", C.IFLA_BRPORT_MCAST_FLOOD],
    ["isolated", C.IFLA_BRPORT_ISOLATED],
    ["proxyArp", C.IFLA_BRPORT_PROXYARP],
  ] as const;
  for (const [name, type] of flags) {
    const v = getNum(attrs, type);
    if (v !== undefined) out[name] = v !== 0;
  }
  return out;
}
