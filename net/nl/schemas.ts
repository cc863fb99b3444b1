/**
 * Attribute schemas for links, addresses, routes and neighbours: which type number is which
 * field and how its bytes read. Types not listed decode as raw bytes and re-encode unchanged.
 *
 * @module
 */
import type { Codec, Schema, StructCodec } from "./attr.ts";
import * as C from "./consts.ts";

const IFINFOMSG_PEER: StructCodec = {
  name: "ifinfomsg",
  size: 16,
  fields: [["family", "u8"], ["_pad", "u8"], ["type", "u16"], ["index", "s32"], ["flags", "u32"], [
    "change",
    "u32",
  ]],
};

/** IFLA_BRPORT_* (bridge port), in IFLA_PROTINFO of AF_BRIDGE messages and in IFLA_INFO_SLAVE_DATA. */
export const BRPORT_SCHEMA: Schema = {
  name: "IFLA_BRPORT",
  attrs: {
    [C.IFLA_BRPORT_STATE]: ["state", "u8"],
    [C.IFLA_BRPORT_PRIORITY]: ["priority", "u16"],
    [C.IFLA_BRPORT_COST]: ["cost", "u32"],
    [C.IFLA_BRPORT_MODE]: ["hairpin", "u8"],
    [C.IFLA_BRPORT_GUARD]: ["guard", "u8"],
    [C.IFLA_BRPORT_PROTECT]: ["protect", "u8"],
    [C.IFLA_BRPORT_FAST_LEAVE]: ["fastLeave", "u8"],
    [C.IFLA_BRPORT_LEARNING]: ["learning", "u8"],
    [C.IFLA_BRPORT_UNICAST_FLOOD]: ["unicastFlood", "u8"],
    [C.IFLA_BRPORT_PROXYARP]: ["proxyArp", "u8"],
    [C.IFLA_BRPORT_MCAST_FLOOD]: ["mcastFlood", "u8"],
    [C.IFLA_BRPORT_BCAST_FLOOD]: ["bcastFlood", "u8"],
    [C.IFLA_BRPORT_ISOLATED]: ["isolated", "u8"],
  },
};

/** IFLA_BR_* (bridge IFLA_INFO_DATA), the fields skein reads or sets. */
export const BRIDGE_SCHEMA: Schema = {
  name: "IFLA_BR",
  attrs: {
    [C.IFLA_BR_FORWARD_DELAY]: ["forwardDelay", "u32"],
    [C.IFLA_BR_HELLO_TIME]: ["helloTime", "u32"],
    [C.IFLA_BR_MAX_AGE]: ["maxAge", "u32"],
    [C.IFLA_BR_AGEING_TIME]: ["ageingTime", "u32"],
    [C.IFLA_BR_STP_STATE]: ["stpState", "u32"],
    [C.IFLA_BR_PRIORITY]: ["priority", "u16"],
    [C.IFLA_BR_VLAN_FILTERING]: ["vlanFiltering", "u8"],
  },
};

/** IFLA_VXLAN_* (vxlan IFLA_INFO_DATA). */
export const VXLAN_SCHEMA: Schema = {
  name: "IFLA_VXLAN",
  attrs: {
    [C.IFLA_VXLAN_ID]: ["id", "u32"],
    [C.IFLA_VXLAN_GROUP]: ["group", "ip"],
    [C.IFLA_VXLAN_LINK]: ["link", "u32"],
    [C.IFLA_VXLAN_LOCAL]: ["local", "ip"],
    [C.IFLA_VXLAN_TTL]: ["ttl", "u8"],
    [C.IFLA_VXLAN_TOS]: ["tos", "u8"],
    [C.IFLA_VXLAN_LEARNING]: ["learning", "u8"],
    [C.IFLA_VXLAN_AGEING]: ["ageing", "u32"],
    [C.IFLA_VXLAN_LIMIT]: ["limit", "u32"],
    [C.IFLA_VXLAN_PORT_RANGE]: ["portRange", "bytes"],
    [C.IFLA_VXLAN_PROXY]: ["proxy", "u8"],
    [C.IFLA_VXLAN_RSC]: ["rsc", "u8"],
    [C.IFLA_VXLAN_L2MISS]: ["l2miss", "u8"],
    [C.IFLA_VXLAN_L3MISS]: ["l3miss", "u8"],
    [C.IFLA_VXLAN_PORT]: ["port", "u16be"],
    [C.IFLA_VXLAN_GROUP6]: ["group6", "ip"],
    [C.IFLA_VXLAN_LOCAL6]: ["local6", "ip"],
    [C.IFLA_VXLAN_UDP_CSUM]: ["udpCsum", "u8"],
    [C.IFLA_VXLAN_UDP_ZERO_CSUM6_TX]: ["udpZeroCsum6Tx", "u8"],
    [C.IFLA_VXLAN_UDP_ZERO_CSUM6_RX]: ["udpZeroCsum6Rx", "u8"],
    [C.IFLA_VXLAN_TTL_INHERIT]: ["ttlInherit", "flag"],
    [C.IFLA_VXLAN_DF]: ["df", "u8"],
  },
};

/** IFLA_IPTUN_* (ipip/sit IFLA_INFO_DATA). */
export const IPTUN_SCHEMA: Schema = {
  name: "IFLA_IPTUN",
  attrs: {
    [C.IFLA_IPTUN_LINK]: ["link", "u32"],
    [C.IFLA_IPTUN_LOCAL]: ["local", "ip"],
    [C.IFLA_IPTUN_REMOTE]: ["remote", "ip"],
    [C.IFLA_IPTUN_TTL]: ["ttl", "u8"],
    [C.IFLA_IPTUN_TOS]: ["tos", "u8"],
    [C.IFLA_IPTUN_ENCAP_LIMIT]: ["encapLimit", "u8"],
    [C.IFLA_IPTUN_FLOWINFO]: ["flowinfo", "u32be"],
    [C.IFLA_IPTUN_PROTO]: ["proto", "u8"],
    [C.IFLA_IPTUN_PMTUDISC]: ["pmtudisc", "u8"],
    [C.IFLA_IPTUN_ENCAP_TYPE]: ["encapType", "u16"],
    [C.IFLA_IPTUN_ENCAP_FLAGS]: ["encapFlags", "u16"],
    [C.IFLA_IPTUN_ENCAP_SPORT]: ["encapSport", "u16be"],
    [C.IFLA_IPTUN_ENCAP_DPORT]: ["encapDport", "u16be"],
    [C.IFLA_IPTUN_COLLECT_METADATA]: ["collectMetadata", "flag"],
    [C.IFLA_IPTUN_FWMARK]: ["fwmark", "u32"],
  },
};

const linkAttrs: Record<number, readonly [string, Codec]> = {};

/** IFLA_* (RTM_*LINK). */
export const LINK_SCHEMA: Schema = { name: "IFLA", attrs: linkAttrs };

/** veth IFLA_INFO_DATA: the peer is an ifinfomsg followed by IFLA_* attributes. */
export const VETH_SCHEMA: Schema = {
  name: "VETH_INFO",
  attrs: { [C.VETH_INFO_PEER]: ["peer", { struct: IFINFOMSG_PEER, nested: LINK_SCHEMA }] },
};

/** IFLA_INFO_* (IFLA_LINKINFO). */
export const LINKINFO_SCHEMA: Schema = {
  name: "IFLA_INFO",
  attrs: {
    [C.IFLA_INFO_KIND]: ["kind", "string"],
    [C.IFLA_INFO_DATA]: ["data", {
      nestedBy: C.IFLA_INFO_KIND,
      schemas: {
        veth: VETH_SCHEMA,
        bridge: BRIDGE_SCHEMA,
        vxlan: VXLAN_SCHEMA,
        ipip: IPTUN_SCHEMA,
      },
    }],
    [C.IFLA_INFO_SLAVE_KIND]: ["slaveKind", "string"],
    [C.IFLA_INFO_SLAVE_DATA]: ["slaveData", {
      nestedBy: C.IFLA_INFO_SLAVE_KIND,
      schemas: { bridge: BRPORT_SCHEMA },
    }],
  },
};

Object.assign(
  linkAttrs,
  {
    [C.IFLA_ADDRESS]: ["address", "lladdr"],
    [C.IFLA_BROADCAST]: ["broadcast", "lladdr"],
    [C.IFLA_IFNAME]: ["ifname", "string"],
    [C.IFLA_MTU]: ["mtu", "u32"],
    [C.IFLA_LINK]: ["link", "u32"],
    [C.IFLA_QDISC]: ["qdisc", "string"],
    [C.IFLA_MASTER]: ["master", "u32"],
    [C.IFLA_PROTINFO]: ["protinfo", { nestedByFamily: { [C.AF_BRIDGE]: BRPORT_SCHEMA } }],
    [C.IFLA_TXQLEN]: ["txqlen", "u32"],
    [C.IFLA_OPERSTATE]: ["operstate", "u8"],
    [C.IFLA_LINKMODE]: ["linkmode", "u8"],
    [C.IFLA_LINKINFO]: ["linkinfo", { nested: LINKINFO_SCHEMA }],
    [C.IFLA_NET_NS_PID]: ["netnsPid", "u32"],
    [C.IFLA_IFALIAS]: ["ifalias", "string"],
    [C.IFLA_GROUP]: ["group", "u32"],
    [C.IFLA_NET_NS_FD]: ["netnsFd", "u32"],
    [C.IFLA_EXT_MASK]: ["extMask", "u32"],
    [C.IFLA_PROMISCUITY]: ["promiscuity", "u32"],
    [C.IFLA_XDP]: ["xdp", {
      nested: {
        name: "IFLA_XDP",
        attrs: {
          [C.IFLA_XDP_ATTACHED]: ["attached", "u8"],
          [C.IFLA_XDP_PROG_ID]: ["progId", "u32"],
        },
      },
    }],
    [C.IFLA_NUM_TX_QUEUES]: ["numTxQueues", "u32"],
    [C.IFLA_NUM_RX_QUEUES]: ["numRxQueues", "u32"],
    [C.IFLA_CARRIER]: ["carrier", "u8"],
    [C.IFLA_CARRIER_CHANGES]: ["carrierChanges", "u32"],
    [C.IFLA_LINK_NETNSID]: ["linkNetnsid", "s32"],
    [C.IFLA_PROTO_DOWN]: ["protoDown", "u8"],
    [C.IFLA_GSO_MAX_SEGS]: ["gsoMaxSegs", "u32"],
    [C.IFLA_GSO_MAX_SIZE]: ["gsoMaxSize", "u32"],
    [C.IFLA_CARRIER_UP_COUNT]: ["carrierUpCount", "u32"],
    [C.IFLA_CARRIER_DOWN_COUNT]: ["carrierDownCount", "u32"],
    [C.IFLA_MIN_MTU]: ["minMtu", "u32"],
    [C.IFLA_MAX_MTU]: ["maxMtu", "u32"],
    [C.IFLA_PERM_ADDRESS]: ["permAddress", "lladdr"],
    [C.IFLA_PARENT_DEV_NAME]: ["parentDevName", "string"],
    [C.IFLA_GRO_MAX_SIZE]: ["groMaxSize", "u32"],
    [C.IFLA_TSO_MAX_SIZE]: ["tsoMaxSize", "u32"],
    [C.IFLA_TSO_MAX_SEGS]: ["tsoMaxSegs", "u32"],
    [C.IFLA_ALLMULTI]: ["allmulti", "u32"],
  } satisfies Record<number, readonly [string, Codec]>,
);

/** IFA_* (RTM_*ADDR). */
export const ADDR_SCHEMA: Schema = {
  name: "IFA",
  attrs: {
    [C.IFA_ADDRESS]: ["address", "ip"],
    [C.IFA_LOCAL]: ["local", "ip"],
    [C.IFA_LABEL]: ["label", "string"],
    [C.IFA_BROADCAST]: ["broadcast", "ip"],
    [C.IFA_ANYCAST]: ["anycast", "ip"],
    [C.IFA_MULTICAST]: ["multicast", "ip"],
    [C.IFA_FLAGS]: ["flags", "u32"],
    [C.IFA_RT_PRIORITY]: ["rtPriority", "u32"],
    [C.IFA_PROTO]: ["proto", "u8"],
  },
};

/** RTAX_* (RTA_METRICS). */
export const METRICS_SCHEMA: Schema = {
  name: "RTAX",
  attrs: {
    [C.RTAX_LOCK]: ["lock", "u32"],
    [C.RTAX_MTU]: ["mtu", "u32"],
    [C.RTAX_ADVMSS]: ["advmss", "u32"],
    [C.RTAX_HOPLIMIT]: ["hoplimit", "u32"],
  },
};

/** RTA_* (RTM_*ROUTE). */
export const ROUTE_SCHEMA: Schema = {
  name: "RTA",
  attrs: {
    [C.RTA_DST]: ["dst", "ip"],
    [C.RTA_SRC]: ["src", "ip"],
    [C.RTA_IIF]: ["iif", "u32"],
    [C.RTA_OIF]: ["oif", "u32"],
    [C.RTA_GATEWAY]: ["gateway", "ip"],
    [C.RTA_PRIORITY]: ["priority", "u32"],
    [C.RTA_PREFSRC]: ["prefsrc", "ip"],
    [C.RTA_METRICS]: ["metrics", { nested: METRICS_SCHEMA }],
    [C.RTA_FLOW]: ["flow", "u32"],
    [C.RTA_TABLE]: ["table", "u32"],
    [C.RTA_MARK]: ["mark", "u32"],
    [C.RTA_PREF]: ["pref", "u8"],
    [C.RTA_EXPIRES]: ["expires", "u32"],
    [C.RTA_UID]: ["uid", "u32"],
    [C.RTA_IP_PROTO]: ["ipProto", "u8"],
    [C.RTA_NH_ID]: ["nhId", "u32"],
  },
};

/** FRA_* (RTM_*RULE): policy routing rules. */
export const RULE_SCHEMA: Schema = {
  name: "FRA",
  attrs: {
    [C.FRA_DST]: ["dst", "ip"],
    [C.FRA_SRC]: ["src", "ip"],
    [C.FRA_IIFNAME]: ["iifname", "string"],
    [C.FRA_GOTO]: ["goto", "u32"],
    [C.FRA_PRIORITY]: ["priority", "u32"],
    [C.FRA_FWMARK]: ["fwmark", "u32"],
    [C.FRA_SUPPRESS_PREFIXLEN]: ["suppressPrefixlen", "u32"],
    [C.FRA_TABLE]: ["table", "u32"],
    [C.FRA_FWMASK]: ["fwmask", "u32"],
    [C.FRA_OIFNAME]: ["oifname", "string"],
    [C.FRA_L3MDEV]: ["l3mdev", "u8"],
    [C.FRA_PROTOCOL]: ["protocol", "u8"],
    [C.FRA_IP_PROTO]: ["ipProto", "u8"],
  },
};

/** NDA_* (RTM_*NEIGH, also bridge FDB with family AF_BRIDGE). */
export const NEIGH_SCHEMA: Schema = {
  name: "NDA",
  attrs: {
    [C.NDA_DST]: ["dst", "ip"],
    [C.NDA_LLADDR]: ["lladdr", "lladdr"],
    [C.NDA_PROBES]: ["probes", "u32"],
    [C.NDA_VLAN]: ["vlan", "u16"],
    [C.NDA_PORT]: ["port", "u16be"],
    [C.NDA_VNI]: ["vni", "u32"],
    [C.NDA_IFINDEX]: ["ifindex", "u32"],
    [C.NDA_MASTER]: ["master", "u32"],
    [C.NDA_LINK_NETNSID]: ["linkNetnsid", "s32"],
    [C.NDA_SRC_VNI]: ["srcVni", "u32"],
    [C.NDA_PROTOCOL]: ["protocol", "u8"],
    [C.NDA_FLAGS_EXT]: ["flagsExt", "u32"],
  },
};

/** RTM_NEWNEIGHTBL attributes (`ip ntable show`): one neighbour table's limits and counters. */
export const NEIGHTBL_SCHEMA: Schema = {
  name: "NDTA",
  attrs: {
    [C.NDTA_NAME]: ["name", "string"],
    [C.NDTA_THRESH1]: ["thresh1", "u32"],
    [C.NDTA_THRESH2]: ["thresh2", "u32"],
    [C.NDTA_THRESH3]: ["thresh3", "u32"],
    [C.NDTA_CONFIG]: ["config", "bytes"],
    [C.NDTA_STATS]: ["stats", "bytes"],
    [C.NDTA_GC_INTERVAL]: ["gcInterval", "u64"],
  },
};

/** RTM_GETNSID / RTM_NEWNSID attributes (`ip netns list-id`). */
export const NSID_SCHEMA: Schema = {
  name: "NETNSA",
  attrs: {
    [C.NETNSA_NSID]: ["nsid", "s32"],
    [C.NETNSA_PID]: ["pid", "u32"],
    [C.NETNSA_FD]: ["fd", "u32"],
  },
};

/** One tc action: its kind, and the parameters of the kinds skein reads (mirred, gact). */
export const TC_ACT_SCHEMA: Schema = {
  name: "TCA_ACT",
  attrs: {
    [C.TCA_ACT_KIND]: ["kind", "string"],
    [C.TCA_ACT_OPTIONS]: ["options", {
      nestedBy: C.TCA_ACT_KIND,
      schemas: {
        mirred: { name: "TCA_MIRRED", attrs: { [C.TCA_MIRRED_PARMS]: ["parms", "bytes"] } },
        gact: { name: "TCA_GACT", attrs: { [C.TCA_GACT_PARMS]: ["parms", "bytes"] } },
      },
    }],
  },
};

/** A classifier's actions: attributes 1..32 (TCA_ACT_MAX_PRIO), in order. */
export const TC_ACTIONS_SCHEMA: Schema = {
  name: "TCA_ACT_LIST",
  attrs: Object.fromEntries(
    Array.from({ length: 32 }, (_, i) => [i + 1, ["action", { nested: TC_ACT_SCHEMA }] as const]),
  ),
};

/** TCA_* of qdisc and filter messages; TCA_OPTIONS decoded for the classifiers skein judges. */
export const TC_SCHEMA: Schema = {
  name: "TCA",
  attrs: {
    [C.TCA_KIND]: ["kind", "string"],
    [C.TCA_OPTIONS]: ["options", {
      nestedBy: C.TCA_KIND,
      schemas: {
        u32: {
          name: "TCA_U32",
          attrs: {
            [C.TCA_U32_CLASSID]: ["classid", "u32"],
            [C.TCA_U32_SEL]: ["sel", "bytes"],
            [C.TCA_U32_ACT]: ["act", { nested: TC_ACTIONS_SCHEMA }],
          },
        },
        bpf: {
          name: "TCA_BPF",
          attrs: {
            [C.TCA_BPF_ACT]: ["act", { nested: TC_ACTIONS_SCHEMA }],
            [C.TCA_BPF_NAME]: ["name", "string"],
            [C.TCA_BPF_FLAGS]: ["flags", "u32"],
            [C.TCA_BPF_ID]: ["id", "u32"],
          },
        },
        matchall: {
          name: "TCA_MATCHALL",
          attrs: { [C.TCA_MATCHALL_ACT]: ["act", { nested: TC_ACTIONS_SCHEMA }] },
        },
        flower: {
          name: "TCA_FLOWER",
          attrs: { [C.TCA_FLOWER_ACT]: ["act", { nested: TC_ACTIONS_SCHEMA }] },
        },
      },
    }],
    [C.TCA_CHAIN]: ["chain", "u32"],
  },
};
