/**
 * The XFRM (IPsec) policies and the number of security associations in the calling thread's
 * network namespace (`ip xfrm policy list`, `ip xfrm state count`): one short-lived NETLINK_XFRM
 * socket per call, synchronous (safe inside a temporary setns). Read only.
 *
 * @module
 */
import * as L from "./libc.ts";
import * as C from "./nl/consts.ts";
import { NetlinkError } from "./errors.ts";
import type { XfrmPolicy } from "./types.ts";
import {
  NETLINK_XFRM,
  XFRM_MSG_GETPOLICY,
  XFRM_MSG_GETSA,
  XFRM_MSG_NEWPOLICY,
  XFRM_MSG_NEWSA,
  xfrmDumpRequest,
  xfrmPolicyFromPayload,
} from "./nl/xfrm.ts";

/** Runs one dump of `type` and hands each reply message of `want` type its payload. */
function dump(type: number, want: number, each: (payload: Uint8Array) => void): void {
  const c = L.libc();
  const op = `Cannot dump XFRM ${type === XFRM_MSG_GETSA ? "states" : "policies"}`;
  const fd = c.socket(L.AF_NETLINK, L.SOCK_RAW | L.SOCK_CLOEXEC, NETLINK_XFRM);
  if (fd < 0) throw new NetlinkError(op, L.errno());
  try {
    const timeout = new Uint8Array(new BigInt64Array([2n, 0n]).buffer);
    c.setsockopt(fd, L.SOL_SOCKET, L.SO_RCVTIMEO, timeout, 16);
    const kernel = new Uint8Array(12);
    new DataView(kernel.buffer).setUint16(0, L.AF_NETLINK, true);
    const req = xfrmDumpRequest(type, 1);
    if (Number(c.sendto(fd, req, BigInt(req.length), 0, kernel, 12)) !== req.length) {
      throw new NetlinkError(op, L.errno());
    }
    const buf = new Uint8Array(1 << 16);
    for (;;) {
      const n = Number(c.recv(fd, buf, BigInt(buf.length), 0));
      if (n < 0) {
        if (L.errno() === L.EINTR) continue;
        throw new NetlinkError(op, L.errno());
      }
      const dv = new DataView(buf.buffer, 0, n);
      for (let off = 0; off + 16 <= n;) {
        const len = dv.getUint32(off, true), t = dv.getUint16(off + 4, true);
        if (len < 16 || off + len > n) return;
        if (t === C.NLMSG_DONE) return;
        if (t === C.NLMSG_ERROR) {
          const err = -dv.getInt32(off + 16, true);
          if (err) throw new NetlinkError(op, err);
          return;
        }
        if (t === want) each(buf.subarray(off + 16, off + len));
        off += (len + 3) & ~3;
      }
    }
  } finally {
    c.close(fd);
  }
}

/** `ip xfrm policy list` (IPv4 policies) in the calling thread's namespace. */
export function xfrmPolicies(): XfrmPolicy[] {
  const out: XfrmPolicy[] = [];
  dump(XFRM_MSG_GETPOLICY, XFRM_MSG_NEWPOLICY, (p) => {
    const pol = xfrmPolicyFromPayload(p);
    if (pol) out.push(pol);
  });
  return out;
}

/** `ip xfrm state count`: the security associations in the calling thread's namespace. */
export function xfrmStateCount(): number {
  let n = 0;
  dump(XFRM_MSG_GETSA, XFRM_MSG_NEWSA, () => n++);
  return n;
}
