/**
 * The shapes that net/ speaks: links, addresses, routes, neighbours and FDB entries as
 * skein's features see them. Addresses are strings ("10.0.0.1", "fd00::1"), prefixes are
 * CIDR strings ("10.244.1.0/24"), MACs are lower-case "aa:bb:cc:dd:ee:ff".
 *
 * @module
 */

/** A bridge port's flags (see Link.portFlags); a flag the kernel does not report is absent. */
export interface BridgePortFlags {
  learning?: boolean;
  flood?: boolean;
  bcastFlood?: boolean;
  mcastFlood?: boolean;
  isolated?: boolean;
  proxyArp?: boolean;
}

/** Which namespace a handle or helper works in: a path ("/run/netns/x", "/proc/1/ns/net") or a pid. */
export type NetnsRef = string | number;

/** A link as the kernel reports it (`ip -j link show`). */
export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: "veth", "bridge", "vxlan", "ipip", ...; undefined for plain devices like lo. */
  kind?: string;
  mtu: number;
  /** Hardware address, if the link has one. */
  mac?: string;
  /** Raw IFF_* flags. */
  flags: number;
  /** IFF_UP is set. */
  up: boolean;
  /** IFLA_OPERSTATE as a word: "up", "down", "unknown", "lowerlayerdown", ... */
  operState: string;
  /** IFLA_MASTER: index of the bridge this link is enslaved to. */
  masterIndex?: number;
  /** IFLA_LINK: for veth the peer's index (in linkNetnsId's namespace if set), for tunnels the lower device. */
  parentIndex?: number;
  /** IFLA_LINK_NETNSID, when the peer/lower device lives in another namespace. */
  linkNetnsId?: number;
  /** Decoded IFLA_INFO_DATA for vxlan links. */
  vxlan?: VxlanInfo;
  /** Decoded IFLA_INFO_DATA for ipip links. */
  ipip?: IpipInfo;
  /** Decoded IFLA_INFO_DATA for bridge links (only what skein uses). */
  bridge?: { stpState?: number; vlanFiltering?: boolean };
  /** IFLA_PROTINFO / IFLA_BRPORT_* hairpin flag when the link is a bridge port and the kernel reports it. */
  hairpin?: boolean;
  /**
   * IFLA_BRPORT_STATE when the link is a bridge port: 0 disabled, 1 listening, 2 learning,
   * 3 forwarding, 4 blocking (BR_STATE_*; `bridge link show` prints the word).
   */
  portState?: number;
  /**
   * Bridge port flags (IFLA_BRPORT_*) when the link is a bridge port: `learning`, `flood` (unknown
   * unicast), `bcastFlood`, `mcastFlood`, `isolated` (`bridge link set dev X isolated on`: no
   * frame passes between two isolated ports) and `proxyArp` (`ip link set X type bridge_slave
   * proxy_arp on`: the bridge floods no frame to the port). As `ip -d link show` prints them.
   */
  portFlags?: BridgePortFlags;
  /** Promiscuity counter (IFLA_PROMISCUITY). */
  promiscuity?: number;
  /**
   * An XDP program attached to the link (IFLA_XDP): how (driver, generic: `xdpgeneric`,
   * offload, multi) and its id (`bpftool prog show id N`).
   */
  xdp?: { mode: "driver" | "generic" | "offload" | "multi"; progId?: number };
}

/** VXLAN parameters (IFLA_VXLAN_*). */
export interface VxlanInfo {
  /** VXLAN network identifier. */
  vni: number;
  /** Local (source) address of the tunnel. */
  local?: string;
  /** Lower device index (IFLA_VXLAN_LINK). */
  dev?: number;
  /** UDP destination port (IFLA_VXLAN_PORT, network byte order on the wire). Default 8472 for skein. */
  port?: number;
  /** MAC learning (IFLA_VXLAN_LEARNING). */
  learning?: boolean;
  /** IFLA_VXLAN_UDP_CSUM: compute UDP checksums on IPv4 transmit. */
  udpCsum?: boolean;
  /** IFLA_VXLAN_UDP_ZERO_CSUM6_TX. */
  udp6ZeroCsumTx?: boolean;
  /** IFLA_VXLAN_UDP_ZERO_CSUM6_RX. */
  udp6ZeroCsumRx?: boolean;
  ttl?: number;
  tos?: number;
  /** Source port range [low, high] (IFLA_VXLAN_PORT_RANGE). */
  portRange?: [number, number];
}

/** IPIP tunnel parameters (IFLA_IPTUN_*). */
export interface IpipInfo {
  local?: string;
  remote?: string;
  /** Lower device index (IFLA_IPTUN_LINK). */
  dev?: number;
  ttl?: number;
  tos?: number;
  /** Path MTU discovery (IFLA_IPTUN_PMTUDISC), default on. */
  pmtudisc?: boolean;
}

/** Attributes common to every link skein creates. */
export interface LinkCommonOptions {
  name: string;
  mtu?: number;
  mac?: string;
  /** Bring the link up on creation (IFF_UP in ifi_flags/ifi_change). */
  up?: boolean;
  /** Master (bridge) by name or index. */
  master?: string | number;
  /** Create the link directly in another namespace (IFLA_NET_NS_FD / IFLA_NET_NS_PID). */
  netns?: NetnsRef;
  /** IFLA_TXQLEN. */
  txqlen?: number;
}

/** A link's counters (struct rtnl_link_stats64, `ip -s link`). */
export interface LinkStats {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

/** `ip link add NAME type veth peer name PEER [netns NS]` */
export interface VethOptions extends LinkCommonOptions {
  kind: "veth";
  peer: {
    name: string;
    mtu?: number;
    mac?: string;
    /** The peer is created directly in this namespace (no move afterwards). */
    netns?: NetnsRef;
  };
}

/** `ip link add NAME type bridge` */
export interface BridgeOptions extends LinkCommonOptions {
  kind: "bridge";
  /** IFLA_BR_STP_STATE; default: kernel default (off). */
  stp?: boolean;
  /** IFLA_BR_VLAN_FILTERING. */
  vlanFiltering?: boolean;
}

/** `ip link add NAME type vxlan id VNI [local A] [dev D] [dstport P] [nolearning] ...` */
export interface VxlanOptions extends LinkCommonOptions {
  kind: "vxlan";
  vni: number;
  local?: string;
  /** Lower device by name or index. */
  dev?: string | number;
  port?: number;
  learning?: boolean;
  udpCsum?: boolean;
  udp6ZeroCsumTx?: boolean;
  udp6ZeroCsumRx?: boolean;
  ttl?: number;
}

/** `ip link add NAME type ipip [local A] [remote B] [dev D] [ttl T]` */
export interface IpipOptions extends LinkCommonOptions {
  kind: "ipip";
  local?: string;
  remote?: string;
  dev?: string | number;
  ttl?: number;
  pmtudisc?: boolean;
}

/** `ip link add NAME type dummy` */
export interface DummyOptions extends LinkCommonOptions {
  kind: "dummy";
}

/** What `Handle.linkAdd()` accepts. */
export type LinkAddOptions =
  | VethOptions
  | BridgeOptions
  | VxlanOptions
  | IpipOptions
  | DummyOptions;

/** What `Handle.linkSet()` changes; unset fields are left alone (`ip link set`). */
export interface LinkSetOptions {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** Enslave to this bridge (name or index); `null` releases (`nomaster`). */
  master?: string | number | null;
  /** Move to another namespace. */
  netns?: NetnsRef;
  /** Rename. */
  name?: string;
  /** Bridge port hairpin mode (`ip link set X type bridge_slave hairpin on`). */
  hairpin?: boolean;
  /** `ip link set X promisc on|off`. */
  promisc?: boolean;
  txqlen?: number;
}

/** An address on a link (`ip -j addr show`). */
export interface Addr {
  /** Link index. */
  index: number;
  /** "10.0.0.1/24" or "fd00::1/64". */
  cidr: string;
  family: 4 | 6;
  /** "universe" (0), "site", "link" (253), "host" (254), "nowhere". */
  scope: string;
  /** IFA_LABEL, v4 only. */
  label?: string;
  /** IFA_BROADCAST, v4 only. */
  broadcast?: string;
  /** IFA_F_* flags. */
  flags: number;
}

/** Options for `addrAdd/addrReplace/addrDel` (`ip addr add CIDR dev DEV`). */
export interface AddrOptions {
  /** Link by name or index. */
  dev: string | number;
  cidr: string;
  scope?: string | number;
  /** "+" computes it from the prefix, like `ip addr add ... brd +`. */
  broadcast?: string;
  label?: string;
  /** IFA_F_NODAD for v6 (skip duplicate address detection). */
  nodad?: boolean;
  /** IFA_F_NOPREFIXROUTE. */
  noprefixroute?: boolean;
}

/** An IPv4 XFRM (IPsec) policy (`ip xfrm policy list`). */
export interface XfrmPolicy {
  dir: "in" | "out" | "fwd";
  /** "block" drops what the selector matches; "allow" with templates requires IPsec for it. */
  action: "allow" | "block";
  priority: number;
  /** Selector: source and destination prefixes, IP protocol (0: any), ports (absent: any). */
  src: string;
  dst: string;
  proto: number;
  sport?: number;
  dport?: number;
  /** How many IPsec templates (XFRMA_TMPL) it has: packets it matches must be transformed. */
  templates: number;
}

/** A policy routing rule (`ip -j rule show`). */
export interface Rule {
  family: 4 | 6;
  /** Its preference ("pref"): rules are tried in increasing order. */
  priority: number;
  /** "lookup", "goto", "nop", "blackhole", "unreachable", "prohibit" (FR_ACT_*). */
  action: string;
  /** The table a "lookup" rule sends the lookup to (254 main, 255 local, 253 default). */
  table: number;
  /** Source selector, "0.0.0.0/0" for any. */
  src: string;
  /** Destination selector, "0.0.0.0/0" for any. */
  dst: string;
  /** `not`: the selector is negated. */
  invert: boolean;
  tos?: number;
  /** Input interface selector (`iif DEV`). */
  iif?: string;
  /** Output interface selector (`oif DEV`). */
  oif?: string;
  fwmark?: number;
  /** The mask `fwmark` is compared under (`fwmark X/MASK`; the kernel's default 0xffffffff). */
  fwmask?: number;
  /** `suppress_prefixlength N`: a lookup answer with a prefix this short or shorter is ignored. */
  suppressPrefixlen?: number;
  ipProto?: number;
  /** The rule a "goto" rule jumps to (its preference). */
  goto?: number;
  l3mdev?: number;
}

/** A route (`ip -j route show`). */
export interface Route {
  family: 4 | 6;
  /** "10.244.1.0/24"; default routes are "0.0.0.0/0" or "::/0". */
  dst: string;
  gateway?: string;
  /** Output link index (RTA_OIF). */
  oif?: number;
  /** Preferred source (RTA_PREFSRC). */
  src?: string;
  /** Routing table id (RTA_TABLE, falls back to rtm_table). */
  table: number;
  /** rtm_protocol number; skein's owners tag theirs (SKEIN_ROUTE_PROTOCOL, SKEIN_CNI_ROUTE_PROTOCOL). */
  protocol: number;
  /** "universe", "link", "host", ... */
  scope: string;
  /** "unicast", "local", "broadcast", "blackhole", "unreachable", ... */
  type: string;
  /** RTNH_F_ONLINK set. */
  onlink: boolean;
  /** RTA_PRIORITY. */
  metric?: number;
  /** RTAX_MTU from RTA_METRICS, if any. */
  mtu?: number;
  /**
   * RTA_MULTIPATH next hops, for a route with several (`nexthop via G dev X` lines: e.g. two
   * IPv6 default routes of the same metric appended on different devices). Such a route has
   * no `gateway`/`oif` of its own.
   */
  nexthops?: Nexthop[];
}

/** One next hop of a multipath route (struct rtnexthop and its RTA_GATEWAY). */
export interface Nexthop {
  /** Output link index (rtnh_ifindex). */
  oif: number;
  gateway?: string;
}

/** Options for route add/replace/delete (`ip route add|replace|del ...`). */
export interface RouteOptions {
  /** "10.244.1.0/24", "10.0.0.5" (host route) or "default". */
  dst: string;
  /** Needed for "default" to choose the family; otherwise derived from dst. */
  family?: 4 | 6;
  gateway?: string;
  /** Output link by name or index. */
  dev?: string | number;
  src?: string;
  /** Default 254 (main). */
  table?: number;
  /** Default RTPROT_BOOT (3), like iproute2; skein passes its owner's number (SKEIN_ROUTE_PROTOCOL, ...). */
  protocol?: number;
  /** Default: "link" when there is no gateway and a dev, else "universe"; "host" for local. */
  scope?: string | number;
  /** Default "unicast". */
  type?: string;
  onlink?: boolean;
  metric?: number;
  /** RTAX_MTU (`ip route ... mtu N`). */
  mtu?: number;
  /** RTAX_ADVMSS (`ip route ... advmss N`). */
  advmss?: number;
}

/** Filter for `routeList()`; unset fields match anything. */
export interface RouteFilter {
  family?: 4 | 6;
  /** Default: main table (254). Pass "all" for every table. */
  table?: number | "all";
  protocol?: number;
  /** Link by name or index. */
  dev?: string | number;
}

/** What routeGet() asks (`ip route get DST [from SRC] [iif X] [oif X] [mark MARK] [ipproto P]`). */
export interface RouteGetOptions {
  src?: string;
  /** Input device: the answer is for a packet received there (the forwarding path). */
  iif?: string | number;
  oif?: string | number;
  /** The packet's firewall mark (RTA_MARK): policy rules on fwmark see it. */
  mark?: number;
  /** The packet's IP protocol (RTA_IP_PROTO, `ipproto`): policy rules on ipproto see it. */
  ipProto?: number;
  /**
   * Links the caller already listed (index and name): names found here need no RTM_GETLINK round
   * trip, for the input/output device or for the answer's device name. Others are asked.
   */
  links?: readonly { index: number; name: string }[];
}

/** The kernel's answer to `ip route get DST`. */
export interface RouteGetResult extends Route {
  /** The link name for `oif`, for display. */
  devName?: string;
}

/** A neighbour entry (`ip -j neigh show`). */
export interface Neigh {
  index: number;
  family: 4 | 6 | 7;
  /** IP address (for family 4/6) — for bridge FDB entries see Fdb. */
  ip: string;
  mac?: string;
  /** NUD_* state word: "permanent", "reachable", "stale", "noarp", "failed", "incomplete", ... */
  state: string;
  /** NTF_* flags. */
  flags: number;
}

/** Options for neighSet/neighDel (`ip neigh replace IP lladdr MAC dev DEV nud permanent`). */
export interface NeighOptions {
  dev: string | number;
  ip: string;
  mac?: string;
  /** Default "permanent". */
  state?: string;
  /** NTF_PROXY: `ip neigh add proxy IP dev DEV`. */
  proxy?: boolean;
}

/** A bridge/VXLAN forwarding database entry (`bridge -j fdb show`). */
export interface Fdb {
  index: number;
  mac: string;
  /** NDA_DST: the remote VTEP for VXLAN entries. */
  dst?: string;
  /** NTF_SELF is set (entry in the device's own table, e.g. vxlan). */
  self: boolean;
  /** NTF_MASTER is set (entry in the bridge's table). */
  master: boolean;
  state: string;
  /** NTF_STICKY: learning does not move the entry to another port (`bridge fdb add ... sticky`). */
  sticky?: boolean;
  vni?: number;
  port?: number;
  vlan?: number;
}

/**
 * One neighbour table (`ip -s ntable show name arp_cache`). The kernel keeps one per family for
 * all namespaces: thresholds and counts are the machine's, and only the first namespace may set
 * them (`sysctl net.ipv4.neigh.default.gc_thresh3`).
 */
export interface NeighTable {
  family: 4 | 6;
  /** "arp_cache", "ndisc_cache". */
  name: string;
  /** Entries now (ndt_config.ndtc_entries). */
  entries: number;
  /** Garbage-collection thresholds: above thresh3 no new entry is made ("neighbor table overflow!"). */
  thresh1?: number;
  thresh2?: number;
  thresh3?: number;
  /** Times an entry could not be made because the table was full, since boot (ndts_table_fulls). */
  tableFulls?: number;
}

/** Options for fdbAppend/fdbSet/fdbDel (`bridge fdb append|replace|del MAC dev DEV dst IP self permanent`). */
export interface FdbOptions {
  dev: string | number;
  mac: string;
  dst?: string;
  /** Default true (NTF_SELF). */
  self?: boolean;
  master?: boolean;
  /** Default "permanent". */
  state?: string;
  vni?: number;
  port?: number;
}

/*
 * Route protocol numbers (rtm_protocol): one per owner of routes, so each owner finds and prunes
 * only its own (`ip route show proto N`). skein's are free in iproute2's table
 * (/usr/share/iproute2/rt_protos: 0-4, 8-16, 18 keepalived, 42 babel, 99 openr, 186 bgp,
 * 187 isis, 188 ospf, 189 rip, 192 eigrp):
 *
 * | number | owner                                                        | `ip route show proto N` |
 * | ------ | ------------------------------------------------------------ | ----------------------- |
 * | 100    | the daemon: routes to other nodes' pod subnets (backends/)   | `proto 100`             |
 * | 101    | the CNI plugin: routed-mode pod host routes `POD/32 dev skX` | `proto 101`             |
 * | 186    | routes learned over BGP (RTPROT_BGP, the kernel's number)    | `proto bgp`             |
 *
 * CNI versions before 101 existed tagged pod routes 100 (gateway-less /32 and /128 routes); the
 * daemon moves those to 101 on start (daemon/migrate.ts) with an in-place replace.
 */

/** The daemon's routes to other nodes' pod subnets (`ip route show proto 100`). */
export const SKEIN_ROUTE_PROTOCOL = 100;

/** The CNI plugin's routed-mode pod host routes, `POD/32 dev skX scope link` (`ip route show proto 101`). */
export const SKEIN_CNI_ROUTE_PROTOCOL = 101;

/** RTPROT_BGP (linux/rtnetlink.h): routes learned over BGP (`ip route show proto bgp`). */
export const RTPROT_BGP = 186;

/**
 * A netlink handle bound to one network namespace (like vishvananda/netlink's Handle).
 * Every method is synchronous: it may run inside a temporary setns.
 * Links are named by name or index everywhere a `string | number` is accepted.
 * Errors are NetlinkError (net/errors.ts).
 */
export interface NetHandle extends Disposable {
  /** The namespace this handle was opened in (undefined: the caller's namespace at open time). */
  readonly netns?: NetnsRef;
  close(): void;

  /** `ip link show` */
  linkList(): Link[];
  /** `ip link show dev X`; throws NetlinkError ENODEV when absent. */
  linkGet(link: string | number): Link;
  /** Like linkGet() but undefined when absent. */
  linkFind(link: string | number): Link | undefined;
  /** `ip link add ...`; returns the new link as the kernel reports it (for veth, the local side). */
  linkAdd(opts: LinkAddOptions): Link;
  /** `ip link set ...` */
  linkSet(link: string | number, opts: LinkSetOptions): void;
  /** `ip link del X` */
  linkDel(link: string | number): void;

  /** `ip addr show [dev X]` */
  addrList(filter?: { dev?: string | number; family?: 4 | 6 }): Addr[];
  /** `ip addr add` */
  addrAdd(opts: AddrOptions): void;
  /** `ip addr replace` */
  addrReplace(opts: AddrOptions): void;
  /** `ip addr del` */
  addrDel(opts: AddrOptions): void;

  /** `ip route show [table T] [proto P] [dev X]` */
  routeList(filter?: RouteFilter): Route[];
  /** `ip route add` */
  routeAdd(opts: RouteOptions): void;
  /** `ip route replace` */
  routeReplace(opts: RouteOptions): void;
  /** `ip route del` */
  routeDel(opts: RouteOptions): void;
  /**
   * Many route changes pipelined over the socket (what `ip -batch` does, but without waiting
   * for each ACK before sending the next). Returns one error (or undefined) per op, in order.
   * When the socket refuses a write, every op of that write gets that error and the next write
   * is still sent; when reading the answers fails, every op not yet answered (and every later
   * one, not sent) gets that error and the batch stops. It throws only on a closed handle.
   */
  routeBatch(ops: readonly RouteBatchOp[]): (Error | undefined)[];
  /** `ip route get DST [from SRC] [iif X] [oif X] [mark MARK]` */
  routeGet(dst: string, opts?: RouteGetOptions): RouteGetResult;

  /** `ip neigh show [dev X] [proxy]` */
  neighList(filter?: { dev?: string | number; family?: 4 | 6; proxy?: boolean }): Neigh[];
  /** `ip neigh replace IP lladdr MAC dev X nud permanent` (or `ip neigh add proxy IP dev X`) */
  neighSet(opts: NeighOptions): void;
  /** `ip neigh del IP dev X` */
  neighDel(opts: NeighOptions): void;

  /** `bridge fdb show [dev X]` */
  fdbList(filter?: { dev?: string | number }): Fdb[];
  /** `bridge fdb append MAC dev X dst IP self permanent` */
  fdbAppend(opts: FdbOptions): void;
  /** `bridge fdb replace MAC dev X dst IP self permanent` */
  fdbSet(opts: FdbOptions): void;
  /** `bridge fdb del MAC dev X [dst IP] self` */
  fdbDel(opts: FdbOptions): void;
}

/** One operation of NetHandle.routeBatch(). */
export interface RouteBatchOp {
  op: "add" | "replace" | "del";
  route: RouteOptions;
}

/** A tc hook a filter hangs on: ingress (ingress or clsact qdisc), egress (clsact), the root qdisc. */
export type TcHook = "ingress" | "egress" | "root";

/** One action of a tc filter. */
export interface TcAction {
  /** "mirred", "gact", ... */
  kind: string;
  /** Its verdict (tc_gen.action, TC_ACT_*: 2 SHOT is `drop`, 4 STOLEN, 7 REDIRECT). */
  verdict?: number;
  /** mirred: redirect (else mirror), to the ingress (else egress) of link `ifindex`. */
  mirred?: { redirect: boolean; ingress: boolean; ifindex: number };
}

/**
 * A qdisc (`tc -s qdisc show`), with the settings that can make it drop every packet: a fifo's
 * limit, a token bucket's rate, netem's loss.
 */
export interface TcQdisc {
  ifindex: number;
  kind: string;
  /** The device's root qdisc (tcm_parent TC_H_ROOT). */
  root: boolean;
  /** Its parent as tc prints it ("root", "1:1", "ffff:fff1"). */
  parent: string;
  /** pfifo/bfifo/tbf/netem limit (packets for pfifo and netem, bytes for bfifo and tbf). */
  limit?: number;
  /** tbf, netem: the rate in bytes per second. */
  rateBytes?: number;
  /** netem: the loss probability in percent. */
  lossPct?: number;
  /** netem: the corruption probability in percent. */
  corruptPct?: number;
  /** netem: the added delay in milliseconds. */
  delayMs?: number;
  /** Packets dropped since it was set up (struct tc_stats). */
  drops?: number;
}

/** A tc filter (`tc -j filter show dev DEV ingress`). */
export interface TcFilter {
  ifindex: number;
  hook: TcHook;
  /** The classifier: "u32", "bpf", "matchall", "flower", ... */
  kind: string;
  prio: number;
  /** ETH_P_* in host order (0x0800 IPv4, 0x0003 all). */
  protocol: number;
  handle: number;
  chain?: number;
  /** u32 with no (or all-zero-mask) keys, matchall: every packet of the protocol. */
  matchAll?: boolean;
  /** u32 classid (flowid). */
  classid?: number;
  /**
   * u32's selector: every key must hold, `(32-bit word at offset & mask) === value` from the
   * network header (offsets in bytes, mask and value in network order as numbers); a variable
   * offset (nexthdr+) depends on the packet.
   */
  u32?: {
    keys: { mask: number; value: number; offset: number; offmask: number }[];
    variableOffset: boolean;
  };
  /** bpf: the program's name and id, and whether its return code is the verdict (`da`). */
  bpf?: { name?: string; id?: number; directAction: boolean };
  actions: TcAction[];
}
