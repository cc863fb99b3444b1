/**
 * Batched packet I/O between a TUN device and a UDP socket, for a userspace forwarding loop on
 * its own thread (the udp backend's worker): one blocking poll() on the TUN fd, the socket and a
 * wake-up eventfd, then reads and writes in batches — read() per TUN packet, one sendmmsg() per
 * batch of datagrams, one recvmmsg() per batch received, write() per packet into the TUN.
 *
 * Buffers are allocated once: `slots` packets of `slotSize` bytes each way, with the mmsghdr and
 * iovec arrays pointing into them. Nothing here allocates per packet.
 *
 * @module
 */
import * as L from "./libc.ts";

type Packet = Deno.DynamicLibrary<typeof L.LIBC_PACKET_SYMBOLS>["symbols"];

/** sizeof(struct mmsghdr) on 64-bit Linux (msghdr 56 + msg_len 4 + padding). */
const MMSG = 64;
const IOV = 16;
const SOCKADDR_IN = 16;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const UDP_GRO = 104;
/** Control bytes per received datagram: one cmsghdr (16) + an int, aligned. */
const CMSG_SPACE = 24;

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
  /** Packets per batch each way (default 64). */
  slots?: number;
  /** Bytes per packet buffer: at least the largest packet (default 65536). */
  slotSize?: number;
}

function ptrOf(b: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
}

/** A set of preallocated buffers and the FFI calls that fill and drain them (see module doc). */
export class PacketIo {
  readonly slots: number;
  readonly slotSize: number;
  /** Packets read from the TUN device, slot i at `i * slotSize`. */
  readonly tx: Uint8Array<ArrayBuffer>;
  /** Datagrams received from the socket, slot i at `i * slotSize`. */
  readonly rx: Uint8Array<ArrayBuffer>;
  #c: Packet;
  #errno: Deno.UnsafePointerView;
  #o: Required<PacketIoOptions>;
  #pollfds = new Uint8Array(24);
  #pollView = new DataView(this.#pollfds.buffer);
  #txSlot: Uint8Array<ArrayBuffer>[] = [];
  #txSlotPtr: bigint[] = [];
  #rxSlot: Uint8Array<ArrayBuffer>[] = [];
  #txHdr: Uint8Array<ArrayBuffer>;
  #txHdrView: DataView;
  #rxHdr: Uint8Array<ArrayBuffer>;
  #rxHdrView: DataView;
  #rxNames: Uint8Array<ArrayBuffer>;
  #rxNamesView: DataView;
  #txIov: Uint8Array<ArrayBuffer>;
  #txIovView: DataView;
  #keep: Uint8Array[] = [];
  #addrs = new Map<number, bigint>();
  #wakeBuf = new Uint8Array(8);
  #rxCtl: Uint8Array<ArrayBuffer>;
  #rxCtlView: DataView;
  #gro = false;
  #slotBig: bigint;
  /** errno of the last datagram flush() could not send. */
  lastSendErrno = 0;

  /** Loads the symbols on the calling thread and lays out the buffers. */
  constructor(opts: PacketIoOptions) {
    this.#o = { slots: 64, slotSize: 65536, ...opts };
    this.slots = this.#o.slots;
    this.slotSize = this.#o.slotSize;
    this.#slotBig = BigInt(this.slotSize);
    this.#c = Deno.dlopen("libc.so.6", L.LIBC_PACKET_SYMBOLS).symbols;
    const ep = this.#c.__errno_location();
    if (!ep) throw new Error("Cannot load libc: __errno_location() returned NULL");
    this.#errno = new Deno.UnsafePointerView(ep);
    const n = this.slots, size = this.slotSize;
    this.tx = new Uint8Array(n * size);
    this.rx = new Uint8Array(n * size);
    for (let i = 0; i < n; i++) {
      this.#txSlot.push(this.tx.subarray(i * size, (i + 1) * size));
      this.#rxSlot.push(this.rx.subarray(i * size, (i + 1) * size));
    }
    this.#txHdr = new Uint8Array(n * MMSG);
    this.#txHdrView = new DataView(this.#txHdr.buffer);
    this.#txIov = new Uint8Array(n * IOV);
    this.#txIovView = new DataView(this.#txIov.buffer);
    this.#rxHdr = new Uint8Array(n * MMSG);
    this.#rxHdrView = new DataView(this.#rxHdr.buffer);
    this.#rxNames = new Uint8Array(n * SOCKADDR_IN);
    this.#rxNamesView = new DataView(this.#rxNames.buffer);
    this.#rxCtl = new Uint8Array(n * CMSG_SPACE);
    this.#rxCtlView = new DataView(this.#rxCtl.buffer);
    const ctl = ptrOf(this.#rxCtl);
    const rxIov = new Uint8Array(n * IOV);
    const rxIovView = new DataView(rxIov.buffer);
    this.#keep.push(rxIov);
    const txBase = ptrOf(this.tx), rxBase = ptrOf(this.rx);
    const txIovBase = ptrOf(this.#txIov), rxIovBase = ptrOf(rxIov), names = ptrOf(this.#rxNames);
    for (let i = 0; i < n; i++) {
      this.#txSlotPtr.push(txBase + BigInt(i * size));
      this.#txHdrView.setBigUint64(i * MMSG + 16, txIovBase + BigInt(i * IOV), true); // msg_iov
      this.#txHdrView.setBigUint64(i * MMSG + 24, 1n, true); // msg_iovlen
      this.#txHdrView.setUint32(i * MMSG + 8, SOCKADDR_IN, true); // msg_namelen
      rxIovView.setBigUint64(i * IOV, rxBase + BigInt(i * size), true);
      rxIovView.setBigUint64(i * IOV + 8, BigInt(size), true);
      this.#rxHdrView.setBigUint64(i * MMSG, names + BigInt(i * SOCKADDR_IN), true); // msg_name
      this.#rxHdrView.setBigUint64(i * MMSG + 16, rxIovBase + BigInt(i * IOV), true);
      this.#rxHdrView.setBigUint64(i * MMSG + 24, 1n, true);
      this.#rxHdrView.setBigUint64(i * MMSG + 32, ctl + BigInt(i * CMSG_SPACE), true); // control
    }
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
    if (this.#c.poll(this.#pollfds, 3n, timeoutMs) <= 0) return 0;
    let bits = 0;
    if (v.getInt16(6, true) !== 0) bits |= READY_TUN;
    if (v.getInt16(14, true) !== 0) bits |= READY_SOCK;
    if (v.getInt16(22, true) !== 0) bits |= READY_WAKE;
    return bits;
  }

  /** Consumes the eventfd's count (after READY_WAKE). */
  drainWake(): void {
    this.#c.read(this.#o.wakeFd, this.#wakeBuf, 8n);
  }

  /** Reads one packet from the TUN device into tx slot `i`: its length, or -errno (-EAGAIN: none). */
  readTun(i: number): number {
    const n = Number(this.#c.read(this.#o.tunFd, this.#txSlot[i]!, this.#slotBig));
    return n < 0 ? -this.errno() : n;
  }

  /**
   * Reads one packet into tx slot `i` at byte `offset` (packets of one GSO send lie back to back
   * in a slot); at most `max` bytes. Its length, or -errno.
   */
  readTunAt(i: number, offset: number, max: number): number {
    const at = this.#txSlot[i]!.subarray(offset, offset + max);
    const n = Number(this.#c.read(this.#o.tunFd, at, BigInt(at.length)));
    return n < 0 ? -this.errno() : n;
  }

  /**
   * UDP generic segmentation offload (`setsockopt(UDP_SEGMENT)`, Linux 4.18): a send longer than
   * `size` leaves as datagrams of `size` bytes (the last shorter), each a separate datagram on the
   * wire, but one trip through the stack. 0 turns it off. False when the kernel refuses.
   */
  setGso(size: number): boolean {
    const v = new Uint8Array(4);
    new DataView(v.buffer).setInt32(0, size, true);
    return this.#c.setsockopt(this.#o.sockFd, SOL_UDP, UDP_SEGMENT, v, 4) === 0;
  }

  /** The pointer value of a sockaddr_in for `ip` (u32, host order) and `port`, kept for reuse. */
  addressOf(ip: number, port: number): bigint {
    const key = ip * 65536 + port;
    let p = this.#addrs.get(key);
    if (p === undefined) {
      const sa = new Uint8Array(SOCKADDR_IN);
      const v = new DataView(sa.buffer);
      v.setUint16(0, L.AF_INET, true);
      v.setUint16(2, port, false);
      v.setUint32(4, ip, false);
      this.#keep.push(sa);
      p = ptrOf(sa);
      this.#addrs.set(key, p);
    }
    return p;
  }

  /** Forgets the cached addresses (the peer table changed). */
  clearAddresses(): void {
    this.#addrs.clear();
    this.#keep.length = 1; // rx iovecs stay
  }

  /**
   * Puts tx slot `slot` (`len` bytes) into position `k` of the next sendmmsg() batch, to the
   * address from addressOf(). Allocates nothing.
   */
  queue(k: number, slot: number, len: number, addr: bigint): void {
    this.#txHdrView.setBigUint64(k * MMSG, addr, true);
    const iov = this.#txIovView;
    iov.setBigUint64(k * IOV, this.#txSlotPtr[slot]!, true);
    iov.setUint32(k * IOV + 8, len, true);
    iov.setUint32(k * IOV + 12, 0, true);
  }

  /**
   * sendmmsg() of batch positions 0..count-1 (blocking socket: waits for buffer space). Returns
   * how many the kernel refused (each skipped, the rest still sent).
   */
  flush(count: number): number {
    let i = 0, failed = 0;
    while (i < count) {
      const n = this.#c.sendmmsg(this.#o.sockFd, this.#txHdr.subarray(i * MMSG), count - i, 0);
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

  /** recvmmsg(MSG_DONTWAIT) into the rx slots: how many datagrams (0: none). */
  receive(): number {
    const v = this.#rxHdrView;
    for (let i = 0; i < this.slots; i++) {
      v.setUint32(i * MMSG + 8, SOCKADDR_IN, true);
      if (this.#gro) v.setUint32(i * MMSG + 40, CMSG_SPACE, true); // msg_controllen
    }
    const n = this.#c.recvmmsg(this.#o.sockFd, this.#rxHdr, this.slots, L.MSG_DONTWAIT, null);
    return n > 0 ? n : 0;
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

  /** Writes `len` bytes of rx slot `i` into the TUN device; false when the kernel refused it. */
  writeTun(i: number, len: number): boolean {
    return Number(this.#c.write(this.#o.tunFd, this.#rxSlot[i]!, BigInt(len))) === len;
  }

  /** Writes `len` bytes at `offset` of rx slot `i` into the TUN device. */
  writeTunAt(i: number, offset: number, len: number): boolean {
    const at = this.#rxSlot[i]!.subarray(offset, offset + len);
    return Number(this.#c.write(this.#o.tunFd, at, BigInt(len))) === len;
  }
}
