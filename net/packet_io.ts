/**
 * Batched packet I/O between a TUN device and a UDP socket, for a userspace forwarding loop on
 * its own thread (the udp backend's worker): one blocking poll() on the TUN fd, the socket and a
 * wake-up eventfd, then reads and writes in batches — one read per TUN packet (with offload, one
 * read per TCP super-packet of up to 64 KiB), one sendmmsg() per batch of datagrams (a run of
 * equal-size datagrams to one peer leaves as one UDP GSO entry), one recvmmsg() per batch
 * received (UDP GRO: a peer's run arrives as one buffer), one write per packet or merged
 * super-packet into the TUN device.
 *
 * Buffers are allocated once: a tx arena and `slots` receive buffers of `slotSize` bytes, the
 * mmsghdr, iovec and control arrays pointing into them. Addresses are written into them as two
 * 32-bit halves from plain numbers, so nothing here allocates per packet.
 *
 * @module
 */
import * as L from "./libc.ts";

type Packet = Deno.DynamicLibrary<typeof L.LIBC_PACKET_SYMBOLS>["symbols"];

/** errno of a read on a TUN fd whose device is gone. */
const EBADFD = 77;

/** sizeof(struct mmsghdr) on 64-bit Linux (msghdr 56 + msg_len 4 + padding). */
const MMSG = 64;
const IOV = 16;
const SOCKADDR_IN = 16;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const UDP_GRO = 104;
/** Control bytes per datagram: CMSG_SPACE(int) for UDP_GRO, CMSG_SPACE(u16) for UDP_SEGMENT. */
const CMSG_SPACE = 24;
/** CMSG_LEN(sizeof(uint16_t)): the length the kernel wants for a UDP_SEGMENT control message. */
const CMSG_LEN_U16 = 18;
/** sizeof(struct virtio_net_hdr). */
const VNET_HDR = 10;

/** What poll() saw: bits of PacketIo.wait()'s result. */
export const READY_TUN = 1;
/** The UDP socket has datagrams. */
export const READY_SOCK = 2;
/** The wake-up eventfd was signalled. */
export const READY_WAKE = 4;

/** The fds and sizes of a PacketIo. */
export interface PacketIoOptions {
  /** Nonblocking TUN fd (net/tun.ts openTun()). */
  tunFd: number;
  /** UDP socket fd (net/tun.ts openUdpSocket()). */
  sockFd: number;
  /** An eventfd another thread writes to wake wait() up. */
  wakeFd: number;
  /** Datagrams per batch each way: mmsghdr entries and receive buffers (default 64). */
  slots?: number;
  /** Bytes per receive buffer: at least the largest datagram or GRO run (default 65536). */
  slotSize?: number;
  /** Bytes of the tx arena TUN reads land in (default slots × slotSize). */
  txBytes?: number;
  /** The TUN fd was opened with IFF_VNET_HDR: reads and writes carry a virtio_net_hdr. */
  vnetHdr?: boolean;
  /**
   * Memory for the tx arena and the receive buffers (txBytes + slots × slotSize bytes; default:
   * allocated here). It must not move or be freed while the PacketIo is in use.
   */
  storage?: Uint8Array<ArrayBuffer>;
}

function addressOf(b: Uint8Array): number {
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
}

/**
 * `n` zero bytes off the GC heap: V8 keeps typed arrays of up to 64 bytes on its heap, where they
 * may move, so a small one is cut from a larger allocation. The calls here take pointers, not
 * buffers, and the pointers must stay valid.
 */
function offHeap(n: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Math.max(n, 128)).subarray(0, n);
}

/** The pointer to `b`'s first byte (`b` off the GC heap: offHeap() or larger than 64 bytes). */
function pointerOf(b: Uint8Array): Deno.PointerValue {
  return Deno.UnsafePointer.of(b);
}

/** Writes pointer value `p` (a number below 2^53) at `at`, little-endian. */
function setPtr(v: DataView, at: number, p: number): void {
  v.setUint32(at, p % 0x100000000, true);
  v.setUint32(at + 4, Math.floor(p / 0x100000000), true);
}

/** A set of preallocated buffers and the FFI calls that fill and drain them (see module doc). */
export class PacketIo {
  readonly slots: number;
  readonly slotSize: number;
  /** The tx arena: packets read from the TUN device, and the datagrams queue() points at. */
  readonly tx: Uint8Array<ArrayBuffer>;
  /** Datagrams received from the socket, buffer i at `i * slotSize`. */
  readonly rx: Uint8Array<ArrayBuffer>;
  /**
   * Both virtio_net_hdr buffers, whose addresses the iovecs keep: one array larger than V8's
   * on-heap limit for typed arrays (64 bytes), so its memory is off the GC heap and never moves.
   */
  #hdrs = new Uint8Array(256);
  /** The virtio_net_hdr of the last TUN read (with `vnetHdr`). */
  readonly vnetHdr = this.#hdrs.subarray(0, VNET_HDR);
  /** Whether TUN reads and writes carry a virtio_net_hdr. */
  readonly hasVnetHdr: boolean;
  #c: Packet;
  #errno: Deno.UnsafePointerView;
  #o: Required<PacketIoOptions>;
  #pollfds = offHeap(24);
  #pollView = new DataView(this.#pollfds.buffer);
  #pollPtr = pointerOf(this.#pollfds);
  #txBase: number;
  #rxBase: number;
  #txHdr: Uint8Array<ArrayBuffer>;
  #txHdrPtr: Deno.PointerValue;
  #txHdrView: DataView;
  #txIovView: DataView;
  #txCtlView: DataView;
  #rxHdr: Uint8Array<ArrayBuffer>;
  #rxHdrPtr: Deno.PointerValue;
  #rxHdrView: DataView;
  #rxNamesView: DataView;
  #rxCtlView: DataView;
  /** iovecs of one TUN read: [virtio_net_hdr, packet]. */
  #readIov = offHeap(2 * IOV);
  #readIovView = new DataView(this.#readIov.buffer);
  #readIovPtr = pointerOf(this.#readIov);
  /** iovecs of one TUN write: [virtio_net_hdr, packet]. */
  #writeIov = offHeap(2 * IOV);
  #writeIovView = new DataView(this.#writeIov.buffer);
  #writeIovPtr = pointerOf(this.#writeIov);
  /** The iovec of one TUN read or write without a virtio_net_hdr. */
  #plainIov = offHeap(IOV);
  #plainIovView = new DataView(this.#plainIov.buffer);
  #plainIovPtr = pointerOf(this.#plainIov);
  /** The virtio_net_hdr of a GSO write (writeTunGso()). */
  #outHdr = this.#hdrs.subarray(128, 128 + VNET_HDR);
  /** An all-zero virtio_net_hdr, never written: a plain write's (writeTunAt()). */
  #zeroHdr = this.#hdrs.subarray(64, 64 + VNET_HDR);
  #zeroAt = addressOf(this.#zeroHdr);
  #outAt = addressOf(this.#outHdr);
  #keep: Uint8Array[] = [];
  #addrs = new Map<number, number>();
  /** The key and sockaddr addressOf() answered last (-1: none). */
  #lastKey = -1;
  #lastAddr = 0;
  #wakeBuf = offHeap(8);
  #wakePtr = pointerOf(this.#wakeBuf);
  #gro = false;
  /** rx entries the kernel may have changed since they were last reset (all, at first). */
  #rxFilled: number;
  /** errno of the last datagram flush() could not send. */
  lastSendErrno = 0;

  /** Loads the symbols on the calling thread and lays out the buffers. */
  constructor(opts: PacketIoOptions) {
    const slots = opts.slots ?? 64, slotSize = opts.slotSize ?? 65536;
    this.#o = {
      slots,
      slotSize,
      txBytes: slots * slotSize,
      vnetHdr: false,
      storage: new Uint8Array(0),
      ...opts,
    };
    this.slots = slots;
    this.slotSize = slotSize;
    this.hasVnetHdr = this.#o.vnetHdr;
    this.#rxFilled = slots;
    this.#c = Deno.dlopen("libc.so.6", L.LIBC_PACKET_SYMBOLS).symbols;
    const ep = this.#c.__errno_location();
    if (!ep) throw new Error("Cannot load libc: __errno_location() returned NULL");
    this.#errno = new Deno.UnsafePointerView(ep);
    const n = slots;
    const total = this.#o.txBytes + n * slotSize;
    const mem = opts.storage ?? new Uint8Array(total);
    if (mem.length < total) throw new RangeError(`PacketIo storage: ${total} bytes needed`);
    this.tx = mem.subarray(0, this.#o.txBytes);
    this.rx = mem.subarray(this.#o.txBytes, total);
    this.#txBase = addressOf(this.tx);
    this.#rxBase = addressOf(this.rx);
    this.#txHdr = offHeap(n * MMSG);
    this.#txHdrPtr = pointerOf(this.#txHdr);
    this.#txHdrView = new DataView(this.#txHdr.buffer);
    const txIov = offHeap(n * IOV), txCtl = offHeap(n * CMSG_SPACE);
    this.#txIovView = new DataView(txIov.buffer);
    this.#txCtlView = new DataView(txCtl.buffer);
    this.#rxHdr = offHeap(n * MMSG);
    this.#rxHdrPtr = pointerOf(this.#rxHdr);
    this.#rxHdrView = new DataView(this.#rxHdr.buffer);
    const rxNames = offHeap(n * SOCKADDR_IN), rxIov = offHeap(n * IOV);
    const rxCtl = offHeap(n * CMSG_SPACE);
    this.#rxNamesView = new DataView(rxNames.buffer);
    this.#rxCtlView = new DataView(rxCtl.buffer);
    this.#keep.push(txIov, txCtl, rxNames, rxIov, rxCtl);
    const rxIovView = new DataView(rxIov.buffer);
    const txIovBase = addressOf(txIov), txCtlBase = addressOf(txCtl);
    const rxIovBase = addressOf(rxIov), names = addressOf(rxNames), rxCtlBase = addressOf(rxCtl);
    const th = this.#txHdrView, rh = this.#rxHdrView, tc = this.#txCtlView;
    for (let i = 0; i < n; i++) {
      setPtr(th, i * MMSG + 16, txIovBase + i * IOV); // msg_iov
      th.setUint32(i * MMSG + 24, 1, true); // msg_iovlen
      th.setUint32(i * MMSG + 8, SOCKADDR_IN, true); // msg_namelen
      setPtr(th, i * MMSG + 32, txCtlBase + i * CMSG_SPACE); // msg_control
      tc.setUint32(i * CMSG_SPACE, CMSG_LEN_U16, true); // cmsg_len (size_t, high half 0)
      tc.setInt32(i * CMSG_SPACE + 8, SOL_UDP, true); // cmsg_level
      tc.setInt32(i * CMSG_SPACE + 12, UDP_SEGMENT, true); // cmsg_type
      setPtr(rxIovView, i * IOV, this.#rxBase + i * slotSize);
      rxIovView.setUint32(i * IOV + 8, slotSize, true);
      setPtr(rh, i * MMSG, names + i * SOCKADDR_IN); // msg_name
      setPtr(rh, i * MMSG + 16, rxIovBase + i * IOV);
      rh.setUint32(i * MMSG + 24, 1, true);
      setPtr(rh, i * MMSG + 32, rxCtlBase + i * CMSG_SPACE); // msg_control
    }
    setPtr(this.#readIovView, 0, addressOf(this.vnetHdr));
    this.#readIovView.setUint32(8, VNET_HDR, true);
    this.#writeIovView.setUint32(8, VNET_HDR, true);
    const fds = [this.#o.tunFd, this.#o.sockFd, this.#o.wakeFd];
    fds.forEach((fd, i) => {
      this.#pollView.setInt32(i * 8, fd, true);
      this.#pollView.setInt16(i * 8 + 4, L.POLLIN, true);
    });
  }

  /** errno of this thread, right after a failed call. */
  errno(): number {
    return this.#errno.getInt32();
  }

  /**
   * Blocks this thread until a fd is readable or `timeoutMs` passes (-1: forever); returns
   * READY_* bits (0: timeout or EINTR).
   */
  wait(timeoutMs: number): number {
    const v = this.#pollView;
    for (let i = 0; i < 3; i++) v.setInt16(i * 8 + 6, 0, true);
    if (this.#c.poll(this.#pollPtr, 3n, timeoutMs) <= 0) return 0;
    let bits = 0;
    if (v.getInt16(6, true) !== 0) bits |= READY_TUN;
    if (v.getInt16(14, true) !== 0) bits |= READY_SOCK;
    if (v.getInt16(22, true) !== 0) bits |= READY_WAKE;
    return bits;
  }

  /** Consumes the eventfd's count (after READY_WAKE). */
  drainWake(): void {
    this.#c.read(this.#o.wakeFd, this.#wakePtr, 8n);
  }

  /**
   * Reads one packet from the TUN device into the tx arena at byte `offset`, at most `max` bytes
   * (with `vnetHdr`, its virtio_net_hdr goes to `this.vnetHdr`). Its length (without the
   * header), or -errno (-EAGAIN: none).
   */
  readTunAt(offset: number, max: number): number {
    const vnet = this.hasVnetHdr;
    const v = vnet ? this.#readIovView : this.#plainIovView, at = vnet ? IOV : 0;
    setPtr(v, at, this.#txBase + offset);
    v.setUint32(at + 8, max, true);
    const iov = vnet ? this.#readIovPtr : this.#plainIovPtr;
    const n = Number(this.#c.readv(this.#o.tunFd, iov, vnet ? 2 : 1));
    if (n < 0) {
      const e = this.errno();
      // The device was deleted under the fd: poll() would report it ready for ever.
      if (e === EBADFD) this.#pollView.setInt32(0, -1, true);
      return -e;
    }
    return vnet ? Math.max(0, n - VNET_HDR) : n;
  }

  /**
   * Reads and writes the TUN device through `fd` from now on (the device was recreated); the
   * caller closes the old one.
   */
  setTunFd(fd: number): void {
    this.#o.tunFd = fd;
    this.#pollView.setInt32(0, fd, true);
  }

  /** Reads one packet into the tx arena at `slot * slotSize` (tests; see readTunAt()). */
  readTun(slot: number): number {
    return this.readTunAt(slot * this.slotSize, this.slotSize);
  }

  /** The pointer value of a sockaddr_in for `ip` (u32, host order) and `port`, kept for reuse. */
  addressOf(ip: number, port: number): number {
    const key = ip * 65536 + port;
    if (key === this.#lastKey) return this.#lastAddr; // a run of sends to one peer
    let p = this.#addrs.get(key);
    if (p === undefined) {
      const sa = offHeap(SOCKADDR_IN);
      const v = new DataView(sa.buffer);
      v.setUint16(0, L.AF_INET, true);
      v.setUint16(2, port, false);
      v.setUint32(4, ip, false);
      this.#keep.push(sa);
      p = addressOf(sa);
      this.#addrs.set(key, p);
    }
    this.#lastKey = key;
    this.#lastAddr = p;
    return p;
  }

  /** Forgets the cached addresses (the peer table changed). */
  clearAddresses(): void {
    this.#addrs.clear();
    this.#lastKey = -1;
    this.#keep.length = 5; // the iovec, name and control arrays stay
  }

  /**
   * Puts `tx[offset, offset+len)` into position `k` of the next sendmmsg() batch, to the address
   * from addressOf(). With `segment` > 0 and shorter than `len`, it leaves as datagrams of
   * `segment` bytes (the last shorter) through UDP GSO (a UDP_SEGMENT control message, Linux
   * 4.18): one datagram per packet on the wire, one trip through the stack. Allocates nothing.
   */
  queue(k: number, offset: number, len: number, addr: number, segment = 0): void {
    const h = this.#txHdrView, at = k * MMSG;
    setPtr(h, at, addr);
    const iov = this.#txIovView;
    setPtr(iov, k * IOV, this.#txBase + offset);
    iov.setUint32(k * IOV + 8, len, true);
    iov.setUint32(k * IOV + 12, 0, true);
    const gso = segment > 0 && segment < len;
    if (gso) this.#txCtlView.setUint16(k * CMSG_SPACE + 16, segment, true);
    h.setUint32(at + 40, gso ? CMSG_SPACE : 0, true); // msg_controllen
  }

  /**
   * sendmmsg() of batch positions 0..count-1 (blocking socket: waits for buffer space). Returns
   * how many the kernel refused (each skipped, the rest still sent).
   */
  flush(count: number): number {
    let i = 0, failed = 0;
    while (i < count) {
      const at = i === 0 ? this.#txHdrPtr : Deno.UnsafePointer.offset(this.#txHdrPtr!, i * MMSG);
      const n = this.#c.sendmmsg(this.#o.sockFd, at, count - i, 0);
      if (n > 0) {
        i += n;
        continue;
      }
      const e = this.errno();
      if (e === L.EINTR) continue;
      this.lastSendErrno = e;
      i++;
      failed++;
    }
    return failed;
  }

  /**
   * recvmmsg(MSG_DONTWAIT) into the rx buffers: how many datagrams (0: none). Only the entries
   * the last call filled are reset (the kernel writes no other), so a lone datagram touches one.
   */
  receive(): number {
    const v = this.#rxHdrView, ctl = this.#gro ? CMSG_SPACE : 0;
    for (let i = 0; i < this.#rxFilled; i++) {
      v.setUint32(i * MMSG + 8, SOCKADDR_IN, true); // msg_namelen
      v.setUint32(i * MMSG + 40, ctl, true); // msg_controllen
    }
    const n = this.#c.recvmmsg(this.#o.sockFd, this.#rxHdrPtr, this.slots, L.MSG_DONTWAIT, null);
    this.#rxFilled = n > 0 ? n : 0;
    return this.#rxFilled;
  }

  /**
   * UDP receive offload (`setsockopt(UDP_GRO)`, Linux 5.0): datagrams of one GSO send arrive as
   * one buffer; rxSegment() says how to split it. False when the kernel refuses.
   */
  setGro(on: boolean): boolean {
    const v = new Uint8Array(4);
    new DataView(v.buffer).setInt32(0, on ? 1 : 0, true);
    const ok = this.#c.setsockopt(this.#o.sockFd, SOL_UDP, UDP_GRO, v, 4) === 0;
    this.#gro = ok && on;
    this.#rxFilled = this.slots; // msg_controllen of every entry changes
    return ok;
  }

  /**
   * The segment size of received buffer `i` when it holds several datagrams (UDP_GRO), else 0:
   * the datagrams are back to back, each `segment` bytes but the last.
   */
  rxSegment(i: number): number {
    if (!this.#gro) return 0;
    const h = this.#rxHdrView, c = this.#rxCtlView, o = i * CMSG_SPACE;
    if (h.getUint32(i * MMSG + 40, true) < 20) return 0; // no cmsg came back
    if (c.getInt32(o + 8, true) !== SOL_UDP || c.getInt32(o + 12, true) !== UDP_GRO) return 0;
    return c.getInt32(o + 16, true);
  }

  /** Length of received datagram `i`. */
  rxLength(i: number): number {
    return this.#rxHdrView.getUint32(i * MMSG + 56, true);
  }

  /** Source IPv4 address (u32, host order) of received datagram `i`. */
  rxSource(i: number): number {
    return this.#rxNamesView.getUint32(i * SOCKADDR_IN + 4, false);
  }

  /** Source UDP port of received datagram `i`. */
  rxSourcePort(i: number): number {
    return this.#rxNamesView.getUint16(i * SOCKADDR_IN + 2, false);
  }

  /**
   * Writes `rx[offset, offset+len)` into the TUN device as one packet (with `vnetHdr`, behind an
   * all-zero virtio_net_hdr); false when the kernel refused it.
   */
  writeTunAt(offset: number, len: number): boolean {
    return this.#writeTun(this.#zeroAt, offset, len);
  }

  /**
   * Writes the TCP/IPv4 super-packet `rx[offset, offset+len)` into the TUN device (needs
   * `vnetHdr`) behind a GSO_TCPV4 virtio_net_hdr: headers `hdrLen` bytes (IPv4 `ipHdrLen`),
   * `gsoSize` payload bytes per segment, TCP checksum partial (NEEDS_CSUM). The kernel takes it as
   * one packet and segments it only if a device on the way needs that.
   */
  writeTunGso(offset: number, len: number, hdrLen: number, ipHdrLen: number, gsoSize: number) {
    const h = this.#outHdr;
    h[0] = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
    h[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
    h[2] = hdrLen & 0xff;
    h[3] = hdrLen >> 8;
    h[4] = gsoSize & 0xff;
    h[5] = gsoSize >> 8;
    h[6] = ipHdrLen;
    h[7] = 0;
    h[8] = 16; // csum_offset: the TCP checksum field
    h[9] = 0;
    return this.#writeTun(this.#outAt, offset, len);
  }

  /**
   * writev() of the virtio_net_hdr at address `hdrAt` (with `vnetHdr`) and `rx[offset,
   * offset+len)` into the TUN device.
   */
  #writeTun(hdrAt: number, offset: number, len: number): boolean {
    const vnet = this.hasVnetHdr;
    if (vnet) setPtr(this.#writeIovView, 0, hdrAt);
    const v = vnet ? this.#writeIovView : this.#plainIovView, at = vnet ? IOV : 0;
    setPtr(v, at, this.#rxBase + offset);
    v.setUint32(at + 8, len, true);
    const iov = vnet ? this.#writeIovPtr : this.#plainIovPtr;
    const n = Number(this.#c.writev(this.#o.tunFd, iov, vnet ? 2 : 1));
    return n === len + (vnet ? VNET_HDR : 0);
  }
}
