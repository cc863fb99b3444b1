/**
 * RTM_NEWNETCONF notifications (linux/netconf.h): what the kernel sends to RTNLGRP_IPV4_NETCONF
 * and RTNLGRP_IPV6_NETCONF listeners when a per-device or global IP setting such as forwarding
 * changes (`ip monitor netconf`). Bytes only.
 *
 * @module
 */
import { NetlinkDecodeError } from "./attr.ts";
import * as C from "./consts.ts";

/** RTM_NEWNETCONF / RTM_DELNETCONF (rtnetlink.h). */
export const RTM_NEWNETCONF = 80;
export const RTM_DELNETCONF = 81;
/** NETCONFA_* attributes. */
export const NETCONFA_IFINDEX = 1;
export const NETCONFA_FORWARDING = 2;
/** NETCONFA_IFINDEX values for the global settings: `conf/all` and `conf/default`. */
export const NETCONFA_IFINDEX_ALL = -1;
export const NETCONFA_IFINDEX_DEFAULT = -2;

/** One netconf notification. */
export interface Netconf {
  family: 4 | 6;
  /** Device index, or NETCONFA_IFINDEX_ALL (-1) / NETCONFA_IFINDEX_DEFAULT (-2). */
  ifindex: number;
  /** NETCONFA_FORWARDING, when the message carries it. */
  forwarding?: boolean;
}

/**
 * Decodes the netconf message whose nlmsghdr starts at `off` (`len` = nlmsg_len) in `b`.
 * Layout: struct netconfmsg { u8 ncm_family } padded to 4 bytes, then attributes.
 */
export function netconfFromBytes(b: Uint8Array, dv: DataView, off: number, len: number): Netconf {
  if (len < 20 || off + len > b.length) {
    throw new NetlinkDecodeError("netconfmsg", `${len} bytes at offset ${off} do not fit`);
  }
  const fam = b[off + 16]!;
  const out: Netconf = { family: fam === C.AF_INET6 ? 6 : 4, ifindex: 0 };
  const end = off + len;
  let p = off + 20;
  while (p + 4 <= end) {
    const alen = dv.getUint16(p, true);
    if (alen < 4 || p + alen > end) {
      throw new NetlinkDecodeError(
        "netconf attribute",
        `length ${alen} at offset ${p - off} does not fit`,
      );
    }
    const type = dv.getUint16(p + 2, true) & C.NLA_TYPE_MASK;
    if (alen >= 8) {
      if (type === NETCONFA_IFINDEX) out.ifindex = dv.getInt32(p + 4, true);
      else if (type === NETCONFA_FORWARDING) out.forwarding = dv.getInt32(p + 4, true) !== 0;
    }
    p += (alen + 3) & ~3;
  }
  return out;
}
