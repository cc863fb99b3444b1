/**
 * Netlink and rtnetlink constants (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
 * linux/if_addr.h, linux/neighbour.h). Values are the kernel's; names drop the C prefix
 * where a namespace object says it.
 *
 * @module
 */

/** Address families. */
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;

/** Netlink protocol for routing (NETLINK_ROUTE). */
export const NETLINK_ROUTE = 0;

/** Control message types (NLMSG_*). */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** nlmsg_flags (NLM_F_*). */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** Flags on an NLMSG_ERROR reply: payload capped / TLVs follow. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** Extended-ack TLVs after struct nlmsgerr. */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

/** Attribute type flag bits (nla_type). */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;

/** Socket options (SOL_NETLINK level). */
export const SOL_NETLINK = 270;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

/** rtnetlink multicast groups (RTNLGRP_*), joined with NETLINK_ADD_MEMBERSHIP. */
export const RTNLGRP_LINK = 1;
export const RTNLGRP_NEIGH = 3;
export const RTNLGRP_IPV4_IFADDR = 5;
export const RTNLGRP_IPV4_ROUTE = 7;
export const RTNLGRP_IPV6_IFADDR = 9;
export const RTNLGRP_IPV6_ROUTE = 11;
export const RTNLGRP_IPV4_NETCONF = 24;
export const RTNLGRP_IPV6_NETCONF = 25;

/** rtnetlink message types. */
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
/** Neighbour tables (`ip ntable`): struct ndtmsg header, NDTA_* attributes. */
export const RTM_NEWNEIGHTBL = 64;
export const RTM_GETNEIGHTBL = 66;
export const RTM_NEWNSID = 88;
export const RTM_GETNSID = 90;
export const RTM_NEWRULE = 32;
export const RTM_GETRULE = 34;
export const RTM_NEWQDISC = 36;
export const RTM_GETQDISC = 38;
export const RTM_NEWTFILTER = 44;
export const RTM_GETTFILTER = 46;

// Traffic control (include/uapi/linux/rtnetlink.h, pkt_sched.h, pkt_cls.h, tc_act/*.h).
/** TCA_* attributes of qdisc and filter messages. */
export const TCA_KIND = 1;
export const TCA_OPTIONS = 2;
export const TCA_STATS = 3;
export const TCA_CHAIN = 11;
/** tcm_parent of a root qdisc (TC_H_ROOT). */
export const TC_H_ROOT = 0xffffffff;
/** TCA_TBF_* (inside TCA_OPTIONS of a tbf qdisc). */
export const TCA_TBF_PARMS = 1;
export const TCA_TBF_RATE64 = 4;
/** TCA_NETEM_* (after struct tc_netem_qopt in a netem qdisc's TCA_OPTIONS). */
export const TCA_NETEM_CORRUPT = 4;
export const TCA_NETEM_RATE = 6;
export const TCA_NETEM_LATENCY64 = 10;
/** A filter dump's parent: the ingress hook (ingress or clsact qdisc) and clsact's egress hook. */
export const TC_H_INGRESS_HOOK = 0xfffffff2;
export const TC_H_EGRESS_HOOK = 0xfffffff3;
/** The root qdisc (tcm_parent 0 in a filter dump: the device's root qdisc). */
export const TC_H_ROOT_QDISC = 0;
/** u32 classifier: its selector and actions. */
export const TCA_U32_CLASSID = 1;
export const TCA_U32_SEL = 5;
export const TCA_U32_ACT = 7;
/** bpf classifier. */
export const TCA_BPF_ACT = 1;
export const TCA_BPF_NAME = 7;
export const TCA_BPF_FLAGS = 8;
export const TCA_BPF_ID = 11;
/** TCA_BPF_FLAGS: the program's return code is the verdict (`da`). */
export const TCA_BPF_FLAG_ACT_DIRECT = 1;
/** matchall and flower classifiers: their actions. */
export const TCA_MATCHALL_ACT = 2;
export const TCA_FLOWER_ACT = 3;
/** An action (one element of a classifier's actions, numbered by its order). */
export const TCA_ACT_KIND = 1;
export const TCA_ACT_OPTIONS = 2;
/** mirred and gact parameters (struct tc_mirred, struct tc_gact). */
export const TCA_MIRRED_PARMS = 2;
export const TCA_GACT_PARMS = 2;
/** tc_mirred.eaction. */
export const TCA_EGRESS_REDIR = 1;
export const TCA_EGRESS_MIRROR = 2;
export const TCA_INGRESS_REDIR = 3;
export const TCA_INGRESS_MIRROR = 4;
/** TC_ACT_* verdicts (tc_gen.action). */
export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;
export const TC_ACT_STOLEN = 4;
export const TC_ACT_REDIRECT = 7;

/** Interface flags (IFF_*). */
export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_MULTICAST = 0x1000;
export const IFF_LOWER_UP = 0x10000;

/** Link attributes (IFLA_*). */
export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_QDISC = 6;
export const IFLA_STATS = 7;
export const IFLA_MASTER = 10;
export const IFLA_PROTINFO = 12;
export const IFLA_TXQLEN = 13;
export const IFLA_MAP = 14;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKMODE = 17;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_PID = 19;
export const IFLA_IFALIAS = 20;
export const IFLA_STATS64 = 23;
export const IFLA_AF_SPEC = 26;
export const IFLA_GROUP = 27;
export const IFLA_NET_NS_FD = 28;
export const IFLA_EXT_MASK = 29;
export const IFLA_PROMISCUITY = 30;
export const IFLA_NUM_TX_QUEUES = 31;
export const IFLA_NUM_RX_QUEUES = 32;
export const IFLA_CARRIER = 33;
export const IFLA_CARRIER_CHANGES = 35;
export const IFLA_LINK_NETNSID = 37;
export const IFLA_PROTO_DOWN = 39;
export const IFLA_GSO_MAX_SEGS = 40;
export const IFLA_GSO_MAX_SIZE = 41;
export const IFLA_XDP = 43;
/** IFLA_XDP nested attributes: the attach mode (XDP_ATTACHED_*) and the program's id. */
export const IFLA_XDP_ATTACHED = 2;
export const IFLA_XDP_PROG_ID = 4;
export const IFLA_CARRIER_UP_COUNT = 47;
export const IFLA_CARRIER_DOWN_COUNT = 48;
export const IFLA_MIN_MTU = 50;
export const IFLA_MAX_MTU = 51;
export const IFLA_PERM_ADDRESS = 54;
export const IFLA_PARENT_DEV_NAME = 56;
export const IFLA_GRO_MAX_SIZE = 58;
export const IFLA_TSO_MAX_SIZE = 59;
export const IFLA_TSO_MAX_SEGS = 60;
export const IFLA_ALLMULTI = 61;

/** RTEXT_FILTER_* bits for IFLA_EXT_MASK. */
export const RTEXT_FILTER_VF = 1;
export const RTEXT_FILTER_SKIP_STATS = 8;

/** IFLA_LINKINFO nested attributes. */
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_INFO_XSTATS = 3;
export const IFLA_INFO_SLAVE_KIND = 4;
export const IFLA_INFO_SLAVE_DATA = 5;

/** veth IFLA_INFO_DATA. */
export const VETH_INFO_PEER = 1;

/** bridge IFLA_INFO_DATA (IFLA_BR_*). */
export const IFLA_BR_FORWARD_DELAY = 1;
export const IFLA_BR_HELLO_TIME = 2;
export const IFLA_BR_MAX_AGE = 3;
export const IFLA_BR_AGEING_TIME = 4;
export const IFLA_BR_STP_STATE = 5;
export const IFLA_BR_PRIORITY = 6;
export const IFLA_BR_VLAN_FILTERING = 7;

/** bridge port attributes (IFLA_BRPORT_*), in IFLA_PROTINFO (AF_BRIDGE) or IFLA_INFO_SLAVE_DATA. */
export const IFLA_BRPORT_STATE = 1;
export const IFLA_BRPORT_PRIORITY = 2;
export const IFLA_BRPORT_COST = 3;
/** Hairpin mode. */
export const IFLA_BRPORT_MODE = 4;
export const IFLA_BRPORT_GUARD = 5;
export const IFLA_BRPORT_PROTECT = 6;
export const IFLA_BRPORT_FAST_LEAVE = 7;
export const IFLA_BRPORT_LEARNING = 8;
export const IFLA_BRPORT_UNICAST_FLOOD = 9;
/** Proxy ARP on the port (`ip link set DEV type bridge_slave proxy_arp on`): the bridge floods nothing to it. */
export const IFLA_BRPORT_PROXYARP = 10;
export const IFLA_BRPORT_MCAST_FLOOD = 27;
export const IFLA_BRPORT_BCAST_FLOOD = 30;
export const IFLA_BRPORT_ISOLATED = 33;

/** vxlan IFLA_INFO_DATA (IFLA_VXLAN_*). */
export const IFLA_VXLAN_ID = 1;
export const IFLA_VXLAN_GROUP = 2;
export const IFLA_VXLAN_LINK = 3;
export const IFLA_VXLAN_LOCAL = 4;
export const IFLA_VXLAN_TTL = 5;
export const IFLA_VXLAN_TOS = 6;
export const IFLA_VXLAN_LEARNING = 7;
export const IFLA_VXLAN_AGEING = 8;
export const IFLA_VXLAN_LIMIT = 9;
export const IFLA_VXLAN_PORT_RANGE = 10;
export const IFLA_VXLAN_PROXY = 11;
export const IFLA_VXLAN_RSC = 12;
export const IFLA_VXLAN_L2MISS = 13;
export const IFLA_VXLAN_L3MISS = 14;
export const IFLA_VXLAN_PORT = 15;
export const IFLA_VXLAN_GROUP6 = 16;
export const IFLA_VXLAN_LOCAL6 = 17;
export const IFLA_VXLAN_UDP_CSUM = 18;
export const IFLA_VXLAN_UDP_ZERO_CSUM6_TX = 19;
export const IFLA_VXLAN_UDP_ZERO_CSUM6_RX = 20;
export const IFLA_VXLAN_TTL_INHERIT = 28;
export const IFLA_VXLAN_DF = 29;

/** ip tunnel IFLA_INFO_DATA (IFLA_IPTUN_*), used by ipip. */
export const IFLA_IPTUN_LINK = 1;
export const IFLA_IPTUN_LOCAL = 2;
export const IFLA_IPTUN_REMOTE = 3;
export const IFLA_IPTUN_TTL = 4;
export const IFLA_IPTUN_TOS = 5;
export const IFLA_IPTUN_ENCAP_LIMIT = 6;
export const IFLA_IPTUN_FLOWINFO = 7;
export const IFLA_IPTUN_FLAGS = 8;
export const IFLA_IPTUN_PROTO = 9;
export const IFLA_IPTUN_PMTUDISC = 10;
export const IFLA_IPTUN_ENCAP_TYPE = 15;
export const IFLA_IPTUN_ENCAP_FLAGS = 16;
export const IFLA_IPTUN_ENCAP_SPORT = 17;
export const IFLA_IPTUN_ENCAP_DPORT = 18;
export const IFLA_IPTUN_COLLECT_METADATA = 19;
export const IFLA_IPTUN_FWMARK = 20;

/** Operational states (IF_OPER_*), indexed by value. */
export const OPER_STATES = [
  "unknown",
  "notpresent",
  "down",
  "lowerlayerdown",
  "testing",
  "dormant",
  "up",
] as const;

/** Address attributes (IFA_*). */
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_ANYCAST = 5;
export const IFA_CACHEINFO = 6;
export const IFA_MULTICAST = 7;
export const IFA_FLAGS = 8;
export const IFA_RT_PRIORITY = 9;
export const IFA_PROTO = 11;

/** Address flags (IFA_F_*). */
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_NOPREFIXROUTE = 0x200;

/** Route attributes (RTA_*). */
export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_IIF = 3;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_METRICS = 8;
export const RTA_MULTIPATH = 9;
export const RTA_FLOW = 11;
export const RTA_CACHEINFO = 12;
export const RTA_TABLE = 15;
export const RTA_MARK = 16;
export const RTA_VIA = 18;
export const RTA_PREF = 20;
export const RTA_EXPIRES = 23;
export const RTA_UID = 25;
/** The packet's IP protocol for `ip route get ... ipproto P` (u8; policy rules on ipproto see it). */
export const RTA_IP_PROTO = 27;
export const RTA_NH_ID = 30;

/** RTA_METRICS nested attributes (RTAX_*). */
export const RTAX_LOCK = 1;
export const RTAX_MTU = 2;
export const RTAX_ADVMSS = 8;
export const RTAX_HOPLIMIT = 10;

/** Route types (RTN_*), indexed by value. */
export const ROUTE_TYPES = [
  "unspec",
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "nat",
  "xresolve",
] as const;
export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_ANYCAST = 4;
export const RTN_MULTICAST = 5;
export const RTN_NAT = 10;

/** Route scopes (RT_SCOPE_*). */
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;
/** Scope names as iproute2 prints them. */
export const SCOPE_NAMES: Readonly<Record<number, string>> = {
  0: "universe",
  200: "site",
  253: "link",
  254: "host",
  255: "nowhere",
};

/** Route protocols (RTPROT_*). */
export const RTPROT_UNSPEC = 0;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;

/** Routing tables. */
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

/** rtm_flags. */
export const RTNH_F_ONLINK = 0x4;
export const RTM_F_CLONED = 0x200;
/** RTM_GETROUTE: report the table the route was found in (iproute2's `ip route get` sets it). */
export const RTM_F_LOOKUP_TABLE = 0x1000;

/** Neighbour attributes (NDA_*). */
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NDA_CACHEINFO = 3;
export const NDA_PROBES = 4;
export const NDA_VLAN = 5;
export const NDA_PORT = 6;
export const NDA_VNI = 7;
export const NDA_IFINDEX = 8;
export const NDA_MASTER = 9;
export const NDA_LINK_NETNSID = 10;
export const NDA_SRC_VNI = 11;
export const NDA_PROTOCOL = 12;
export const NDA_FLAGS_EXT = 15;

// NDTA_* (include/uapi/linux/neighbour.h): RTM_NEWNEIGHTBL attributes of one neighbour table.
export const NDTA_NAME = 1;
export const NDTA_THRESH1 = 2;
export const NDTA_THRESH2 = 3;
export const NDTA_THRESH3 = 4;
/** struct ndt_config (read-only): key_len, entry_size, entries, ... */
export const NDTA_CONFIG = 5;
export const NDTA_PARMS = 6;
/** struct ndt_stats (read-only): eleven u64 counters, table_fulls last. */
export const NDTA_STATS = 7;
export const NDTA_GC_INTERVAL = 8;

// NETNSA_* (include/uapi/linux/net_namespace.h): RTM_GETNSID / RTM_NEWNSID attributes.
export const NETNSA_NSID = 1;
export const NETNSA_PID = 2;
export const NETNSA_FD = 3;
/** NETNSA_NSID's value when the namespace has no id in the asking one. */
export const NETNSA_NSID_NOT_ASSIGNED = -1;

/** Neighbour states (NUD_*). */
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
export const NUD_NONE = 0x00;
/** NUD state names as iproute2 prints them (lower case). */
export const NUD_NAMES: ReadonlyArray<readonly [number, string]> = [
  [NUD_INCOMPLETE, "incomplete"],
  [NUD_REACHABLE, "reachable"],
  [NUD_STALE, "stale"],
  [NUD_DELAY, "delay"],
  [NUD_PROBE, "probe"],
  [NUD_FAILED, "failed"],
  [NUD_NOARP, "noarp"],
  [NUD_PERMANENT, "permanent"],
];

/** Neighbour flags (NTF_*). */
export const NTF_USE = 0x01;
export const NTF_SELF = 0x02;
export const NTF_MASTER = 0x04;
export const NTF_PROXY = 0x08;
export const NTF_EXT_LEARNED = 0x10;
/** A bridge FDB entry learning does not move to another port (`bridge fdb add ... sticky`). */
export const NTF_STICKY = 0x40;
export const NTF_ROUTER = 0x80;

// FRA_* (include/uapi/linux/fib_rules.h): RTM_*RULE attributes.
export const FRA_DST = 1;
export const FRA_SRC = 2;
export const FRA_IIFNAME = 3;
export const FRA_GOTO = 4;
export const FRA_PRIORITY = 6;
export const FRA_FWMARK = 10;
export const FRA_SUPPRESS_PREFIXLEN = 14;
export const FRA_TABLE = 15;
export const FRA_FWMASK = 16;
export const FRA_OIFNAME = 17;
export const FRA_L3MDEV = 19;
export const FRA_PROTOCOL = 21;
export const FRA_IP_PROTO = 22;
/** fib_rule_hdr flags: the selector is negated (`ip rule add not ...`). */
export const FIB_RULE_INVERT = 0x2;
/** FR_ACT_* (fib_rule_hdr.action) as `ip rule` prints them; the index is the number. */
export const RULE_ACTIONS = [
  "unspec",
  "lookup",
  "goto",
  "nop",
  "res3",
  "res4",
  "blackhole",
  "unreachable",
  "prohibit",
] as const;
