/**
 * XFRM (IPsec) netlink messages, read only: the dump requests behind `ip xfrm policy list` and
 * `ip xfrm state list`, and the decoder of a policy (struct xfrm_userpolicy_info + XFRMA_TMPL).
 * XFRM message types overlap rtnetlink's numbers, so these bytes never go through message.ts.
 *
 * @module
 */
import { formatV4 } from "./ip.ts";
import * as C from "./consts.ts";
import type { XfrmPolicy } from "../types.ts";

/** Netlink protocol of the XFRM subsystem. */
export const NETLINK_XFRM = 6;
export const XFRM_MSG_NEWSA = 16;
export const XFRM_MSG_GETSA = 18;
export const XFRM_MSG_NEWPOLICY = 19;
export const XFRM_MSG_GETPOLICY = 21;
/** XFRMA_TMPL: the policy's templates (struct xfrm_user_tmpl each): IPsec is required. */
const XFRMA_TMPL = 5;
/** sizeof(struct xfrm_userpolicy_info) on 64-bit Linux. */
const POLICY_INFO = 168;
const DIRS = ["in", "out", "fwd"] as const;

/** A dump request of `type` (XFRM_MSG_GETPOLICY, XFRM_MSG_GETSA): nlmsghdr + a zeroed body. */
export function xfrmDumpRequest(type: number, seq: number): Uint8Array {
  const b = new Uint8Array(16 + 4);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, b.length, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, C.NLM_F_REQUEST | C.NLM_F_DUMP, true);
  dv.setUint32(8, seq, true);
  return b;
}

/**
 * The policy in one XFRM_MSG_NEWPOLICY message's payload (after nlmsghdr); undefined when it is
 * not IPv4 or too short. struct xfrm_userpolicy_info: the selector (daddr, saddr, dport,
 * dport_mask, sport, sport_mask, family, prefixlen_d, prefixlen_s, proto, ifindex, user), the
 * lifetimes, priority, index, dir, action (0 allow, 1 block), flags, share.
 */
export function xfrmPolicyFromPayload(p: Uint8Array): XfrmPolicy | undefined {
  if (p.length < POLICY_INFO) return undefined;
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (dv.getUint16(40, true) !== C.AF_INET) return undefined;
  const dir = DIRS[p[160]!];
  if (!dir) return undefined;
  const out: XfrmPolicy = {
    dir,
    action: p[161] === 1 ? "block" : "allow",
    priority: dv.getUint32(152, true),
    src: `${formatV4(p.subarray(16, 20))}/${p[43]}`,
    dst: `${formatV4(p.subarray(0, 4))}/${p[42]}`,
    proto: p[44]!,
    templates: 0,
  };
  const dport = dv.getUint16(32, false), sport = dv.getUint16(36, false);
  if (dport) out.dport = dport;
  if (sport) out.sport = sport;
  for (let off = POLICY_INFO; off + 4 <= p.length;) {
    const len = dv.getUint16(off, true), type = dv.getUint16(off + 2, true) & 0x3fff;
    if (len < 4) break;
    // struct xfrm_user_tmpl is 64 bytes on 64-bit Linux.
    if (type === XFRMA_TMPL) out.templates += Math.floor((len - 4) / 64);
    off += (len + 3) & ~3;
  }
  return out;
}
