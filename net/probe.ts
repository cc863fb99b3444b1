/**
 * `pingOnce()`: does an IPv4 address answer an ICMP echo request sent from inside a network
 * namespace (`ip netns exec NS ping -c 1 -W 1 IP`)? The raw socket is opened inside the
 * namespace (setns → socket → setns back, synchronously) and keeps it; the wait for the answer
 * is a `poll()` on an FFI helper thread, so the event loop runs meanwhile. Needs CAP_NET_RAW.
 *
 * @module
 */
import { tryParseIp } from "./cidr.ts";
import { NetlinkError } from "./errors.ts";
import * as L from "./libc.ts";
import { withNetns } from "./netns.ts";
import type { NetnsRef } from "./types.ts";

const AF_INET = 2;
const IPPROTO_ICMP = 1;
const ICMP_ECHO = 8;
const ICMP_ECHOREPLY = 0;

/** Options of pingOnce(). */
export interface PingOptions {
  /** Namespace to send from (name, path or pid); default: the current one. */
  netns?: NetnsRef;
  /** The IPv4 address to ask. */
  ip: string;
  /** How long to wait for the answer (ms, default 1000). */
  timeoutMs?: number;
}

/** The Internet checksum (RFC 1071) of `b`. */
export function inetChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length % 2) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An ICMP echo request with identifier `id` and sequence `seq` (16 bytes of payload). */
export function echoRequest(id: number, seq: number): Uint8Array {
  const b = new Uint8Array(24);
  const dv = new DataView(b.buffer);
  b[0] = ICMP_ECHO;
  dv.setUint16(4, id, false);
  dv.setUint16(6, seq, false);
  b.set(new TextEncoder().encode("skein-node-probe"), 8);
  dv.setUint16(2, inetChecksum(b), false);
  return b;
}

/** True when the IPv4 packet `p` (header included) is the echo reply to `id` from `src`. */
export function isEchoReply(p: Uint8Array, src: Uint8Array, id: number): boolean {
  if (p.length < 20 || p[0]! >> 4 !== 4) return false;
  const ihl = (p[0]! & 0x0f) * 4;
  if (p.length < ihl + 8) return false;
  for (let i = 0; i < 4; i++) if (p[12 + i] !== src[i]) return false;
  return p[ihl] === ICMP_ECHOREPLY && ((p[ihl + 4]! << 8) | p[ihl + 5]!) === id;
}

function openRaw(): number {
  const fd = L.libc().socket(AF_INET, L.SOCK_RAW | L.SOCK_CLOEXEC | L.SOCK_NONBLOCK, IPPROTO_ICMP);
  if (fd < 0) throw new NetlinkError("Cannot open a raw ICMP socket", L.errno());
  return fd;
}

/**
 * Sends one ICMP echo request to `opts.ip` from `opts.netns` and resolves true when the answer
 * comes within the timeout, false otherwise. Throws TypeError for an address that is not IPv4,
 * NetlinkError when the socket cannot be opened or the request not sent.
 */
export async function pingOnce(opts: PingOptions): Promise<boolean> {
  const ip = tryParseIp(opts.ip);
  if (!ip || ip.family !== 4) {
    throw new TypeError(`Cannot ping "${opts.ip}": pingOnce() takes an IPv4 address`);
  }
  const addr = new Uint8Array(4);
  new DataView(addr.buffer).setUint32(0, Number(ip.value), false);
  const fd = opts.netns === undefined ? openRaw() : withNetns(opts.netns, openRaw);
  try {
    const c = L.libc();
    const id = crypto.getRandomValues(new Uint16Array(1))[0]!;
    const req = echoRequest(id, 1);
    const to = new Uint8Array(16); // struct sockaddr_in
    new DataView(to.buffer).setUint16(0, AF_INET, true);
    to.set(addr, 4);
    if (Number(c.sendto(fd, req, BigInt(req.length), 0, to, 16)) !== req.length) {
      throw new NetlinkError(`Cannot send an ICMP echo request to ${opts.ip}`, L.errno());
    }
    const pollfd = new Uint8Array(8);
    new DataView(pollfd.buffer).setInt32(0, fd, true);
    new DataView(pollfd.buffer).setInt16(4, L.POLLIN, true);
    const buf = new Uint8Array(1500);
    const end = performance.now() + (opts.timeoutMs ?? 1000);
    for (;;) {
      for (;;) {
        const n = Number(c.recv(fd, buf, BigInt(buf.length), L.MSG_DONTWAIT));
        if (n < 0) break;
        if (isEchoReply(buf.subarray(0, n), addr, id)) return true;
      }
      const left = Math.ceil(end - performance.now());
      if (left <= 0) return false;
      await L.libcPoll().poll(pollfd, 1n, left);
    }
  } finally {
    L.libc().close(fd);
  }
}
