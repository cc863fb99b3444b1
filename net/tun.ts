/**
 * A TUN device and a UDP socket inside a node's namespace, for userspace encapsulation (the udp
 * backend). Both are opened with synchronous calls inside a temporary setns (net/netns.ts): a
 * TUN device is created in the namespace of the thread that opens `/dev/net/tun`, and a socket
 * lives in the namespace it was created in; both keep it after the thread switches back.
 *
 * The device is not persistent (`ip tuntap add` would set TUNSETPERSIST): it exists while its fd
 * is open and disappears, with its addresses and routes, when the fd is closed or the process
 * ends. Addresses, MTU, up state and routes are set through the NetHandle as for any link.
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import * as L from "./libc.ts";
import { checkIfname } from "./nl/ifname.ts";
import { withNetns } from "./netns.ts";
import type { NetnsRef } from "./types.ts";

/** `_IOW('T', 202, int)`: attach the fd to a (new) TUN/TAP device. */
const TUNSETIFF = 0x400454ca;
/** Layer-3 device (no Ethernet header). */
const IFF_TUN = 0x0001;
/** No 4-byte packet-information prefix: reads and writes are bare IP packets. */
const IFF_NO_PI = 0x1000;
/** Every read and write starts with a struct virtio_net_hdr (10 bytes): offload metadata. */
const IFF_VNET_HDR = 0x4000;
/** `_IOW('T', 208, unsigned int)`: which offloads the reader takes (TUN_F_*). */
const TUNSETOFFLOAD = 0x400454d0;
/** The reader completes partial checksums. */
const TUN_F_CSUM = 0x01;
/** The reader takes TCP/IPv4 super-packets (TSO) and segments them itself. */
const TUN_F_TSO4 = 0x02;
const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
/** sizeof(struct ifreq) on 64-bit Linux. */
const IFREQ_SIZE = 40;

/** An open TUN device: the fd carries its packets; closing it removes the device. */
export interface TunDevice {
  /** Interface name the kernel gave it (the one asked for). */
  readonly name: string;
  /** Nonblocking fd: read() returns one IP packet, write() injects one. */
  readonly fd: number;
  /**
   * Reads and writes carry a 10-byte struct virtio_net_hdr before the packet (IFF_VNET_HDR),
   * and the device hands over TCP/IPv4 super-packets and partial checksums
   * (TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4) and takes them.
   */
  readonly offload: boolean;
}

function inNetns<T>(netns: NetnsRef | undefined, fn: () => T): T {
  return netns === undefined ? fn() : withNetns(netns, fn);
}

/**
 * `ip tuntap add dev NAME mode tun` (not persistent, no packet-information header), opened
 * nonblocking in namespace `netns` (default: this thread's). An existing non-persistent TUN
 * device with that name is in use by another fd: the kernel refuses with EBUSY. With `offload`,
 * the device is opened with IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4) (as
 * wireguard-go does, tun/tun_linux.go): reads may return TCP super-packets up to 64 KiB; a kernel
 * that refuses either gets a device without offload (`offload` false in the result).
 */
export function openTun(opts: { name: string; netns?: NetnsRef; offload?: boolean }): TunDevice {
  checkIfname(opts.name);
  return inNetns(opts.netns, () => {
    if (opts.offload) {
      try {
        return openTunFlags(opts.name, true);
      } catch (e) {
        if (!(e instanceof NetlinkError) || e.code === "EBUSY") throw e;
      }
    }
    return openTunFlags(opts.name, false);
  });
}

function openTunFlags(name: string, offload: boolean): TunDevice {
  const c = L.libc();
  const fd = c.open(L.cstr("/dev/net/tun"), O_RDWR | O_NONBLOCK | L.O_CLOEXEC, 0);
  if (fd < 0) throw new NetlinkError("Cannot open /dev/net/tun", L.errno());
  const ifr = new Uint8Array(IFREQ_SIZE);
  ifr.set(new TextEncoder().encode(name));
  const flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  new DataView(ifr.buffer).setUint16(16, flags, true); // ifr_flags
  const io = L.libcIoctl();
  if (io.ioctl(fd, BigInt(TUNSETIFF), ifr) !== 0) {
    const e = L.errno();
    c.close(fd);
    throw new NetlinkError(`Cannot create TUN device ${name} (TUNSETIFF)`, e);
  }
  if (offload && io.ioctlValue(fd, BigInt(TUNSETOFFLOAD), BigInt(TUN_F_CSUM | TUN_F_TSO4)) !== 0) {
    const e = L.errno();
    c.close(fd);
    throw new NetlinkError(`Cannot turn on offloads of TUN device ${name} (TUNSETOFFLOAD)`, e);
  }
  return { name, fd, offload };
}

/** What openUdpSocket() binds. */
export interface UdpSocketOptions {
  /** Local IPv4 address (the node's public IP), or "0.0.0.0". */
  address: string;
  /** Local port (flannel's udp backend: 8285). */
  port: number;
  /** Namespace to open it in (default: this thread's). */
  netns?: NetnsRef;
  /** SO_RCVBUF/SO_SNDBUF to ask for (FORCE variants first: root may exceed rmem_max). */
  bufferBytes?: number;
}

/** A struct sockaddr_in for `address:port` (16 bytes). */
export function sockaddrIn(address: string, port: number): Uint8Array<ArrayBuffer> {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new TypeError(`Cannot use ${JSON.stringify(address)}: not an IPv4 address`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`Cannot use port ${port}: not 0-65535`);
  }
  const sa = new Uint8Array(16);
  const v = new DataView(sa.buffer);
  v.setUint16(0, L.AF_INET, true);
  v.setUint16(2, port, false);
  sa.set(parts, 4);
  return sa;
}

function setBuffers(fd: number, bytes: number): void {
  const c = L.libc();
  const val = new Uint8Array(4);
  new DataView(val.buffer).setInt32(0, bytes, true);
  for (const [force, plain] of [[L.SO_RCVBUFFORCE, L.SO_RCVBUF], [L.SO_SNDBUFFORCE, L.SO_SNDBUF]]) {
    if (c.setsockopt(fd, L.SOL_SOCKET, force!, val, 4) !== 0) {
      c.setsockopt(fd, L.SOL_SOCKET, plain!, val, 4);
    }
  }
}

/**
 * An IPv4 UDP socket bound to `address:port` in namespace `netns` (like a
 * `socat UDP4-RECVFROM:PORT,bind=ADDR` listener). Returns the fd; the caller closes it. The fd
 * is blocking, so a full send buffer holds the sender back instead of dropping; receive with
 * MSG_DONTWAIT. Throws NetlinkError (EADDRINUSE, EADDRNOTAVAIL, ...).
 */
export function openUdpSocket(opts: UdpSocketOptions): number {
  const sa = sockaddrIn(opts.address, opts.port);
  return inNetns(opts.netns, () => {
    const c = L.libc();
    const fd = c.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0);
    if (fd < 0) throw new NetlinkError("Cannot open a UDP socket", L.errno());
    if (opts.bufferBytes) setBuffers(fd, opts.bufferBytes);
    if (c.bind(fd, sa, sa.length) !== 0) {
      const e = L.errno();
      c.close(fd);
      throw new NetlinkError(`Cannot bind UDP ${opts.address}:${opts.port}`, e);
    }
    return fd;
  });
}

/** `close(fd)` for the fds above (closing a TUN fd removes its device). */
export function closeTunFd(fd: number): void {
  L.libc().close(fd);
}

/** One bound IPv4 UDP socket (`ss -uln`). */
export interface UdpListener {
  /** Local address ("0.0.0.0" for any). */
  address: string;
  port: number;
}

/** Parses /proc/net/udp text: the local address of every socket. */
export function parseProcNetUdp(text: string): UdpListener[] {
  const out: UdpListener[] = [];
  for (const line of text.split("\n").slice(1)) {
    const m = /^\s*\d+:\s+([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})\s/.exec(line);
    if (!m) continue;
    const v = parseInt(m[1]!, 16); // little-endian u32 as the kernel prints it
    const address = [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24].join(".");
    out.push({ address, port: parseInt(m[2]!, 16) });
  }
  return out;
}

/**
 * `ss -H -uln` in namespace `netns`: the bound IPv4 UDP sockets, read from
 * /proc/thread-self/net/udp inside the namespace (a synchronous read on this thread).
 */
export function udpListeners(netns?: NetnsRef): UdpListener[] {
  return inNetns(netns, () => parseProcNetUdp(Deno.readTextFileSync("/proc/thread-self/net/udp")));
}
