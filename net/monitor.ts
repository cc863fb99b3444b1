/**
 * `KernelMonitor`: rtnetlink notifications from one network namespace (`ip monitor link address
 * route neigh netconf`), read without blocking the JS thread.
 *
 * The socket is opened inside the namespace (setns → socket → setns back, synchronously, like
 * openHandle()) and keeps that namespace. It is nonblocking: `read()` drains what the kernel has
 * queued with synchronous `recv(MSG_DONTWAIT)` calls, and `wait()` parks a `poll()` on a helper
 * thread (FFI `nonblocking`) until the socket is readable, so the event loop runs meanwhile.
 * `close()` wakes a parked poll through an eventfd and frees both descriptors once it returned.
 *
 * When the kernel had to drop notifications (its receive queue was full: ENOBUFS) or one could
 * not be decoded, `read()` reports a `lost` event: the listener's picture is incomplete and the
 * state must be read again (a full reconcile).
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import * as L from "./libc.ts";
import { withNetns } from "./netns.ts";
import { addrFromMessage } from "./nl/addr.ts";
import * as C from "./nl/consts.ts";
import { linkFromMessage } from "./nl/link.ts";
import { decodeMessage, forEachMessage, type MessageSpan } from "./nl/message.ts";
import { fdbFromMessage, neighFromMessage } from "./nl/neigh.ts";
import { type Netconf, netconfFromBytes, RTM_DELNETCONF, RTM_NEWNETCONF } from "./nl/netconf.ts";
import { routeFromBytes } from "./nl/route.ts";
import type { Addr, Fdb, Link, Neigh, NetnsRef, Route } from "./types.ts";

/** The notification groups a monitor can join (`ip monitor` objects, IPv4/IPv6 apart). */
export type MonitorGroup =
  | "link"
  | "neigh"
  | "addr4"
  | "addr6"
  | "route4"
  | "route6"
  | "netconf4"
  | "netconf6";

const GROUPS: Record<MonitorGroup, number> = {
  link: C.RTNLGRP_LINK,
  neigh: C.RTNLGRP_NEIGH,
  addr4: C.RTNLGRP_IPV4_IFADDR,
  addr6: C.RTNLGRP_IPV6_IFADDR,
  route4: C.RTNLGRP_IPV4_ROUTE,
  route6: C.RTNLGRP_IPV6_ROUTE,
  netconf4: C.RTNLGRP_IPV4_NETCONF,
  netconf6: C.RTNLGRP_IPV6_NETCONF,
};

/** Every group: what a daemon watching its dataplane joins by default. */
export const ALL_MONITOR_GROUPS: readonly MonitorGroup[] = Object.keys(GROUPS) as MonitorGroup[];

/** "new" for RTM_NEW*, "del" for RTM_DEL*. */
export type KernelOp = "new" | "del";

/** One kernel notification, decoded. */
export type KernelEvent =
  | { kind: "link"; op: KernelOp; link: Link }
  | { kind: "addr"; op: KernelOp; addr: Addr }
  | { kind: "route"; op: KernelOp; route: Route }
  | { kind: "neigh"; op: KernelOp; neigh: Neigh }
  | { kind: "fdb"; op: KernelOp; fdb: Fdb }
  | { kind: "netconf"; op: KernelOp; netconf: Netconf }
  /** Notifications were dropped or undecodable: re-read the state. */
  | { kind: "lost"; reason: string };

/** Options of KernelMonitor.open(). */
export interface MonitorOptions {
  /** Namespace to watch (name, path or pid); default: the current one. */
  netns?: NetnsRef;
  /** Groups to join; default ALL_MONITOR_GROUPS. */
  groups?: readonly MonitorGroup[];
  /** Receive queue size in bytes (default 8 MiB; SO_RCVBUFFORCE, SO_RCVBUF without the capability). */
  rcvbuf?: number;
  /**
   * Stop a read() once this many events are decoded (whole datagrams: a few more may come);
   * the rest stay queued for the next. Default: everything queued. A consumer that handles a
   * batch before the next keeps its garbage short-lived: 10,000 route notifications decoded at
   * once outlive the young generation and make V8 grow it for good (a daemon with 10,000 BGP
   * routes: ~30 MiB more RSS).
   */
  maxBatch?: number;
}

const RECV_BUF = 64 * 1024;

function fail(operation: string, errnum = L.errno()): never {
  throw new NetlinkError(operation, errnum);
}

function int32(v: number): Uint8Array {
  return new Uint8Array(new Int32Array([v]).buffer);
}

/** Opens the nonblocking socket and joins the groups (in the caller's current namespace). */
function openSocket(groups: readonly MonitorGroup[], rcvbuf: number): number {
  const c = L.libc();
  const fd = c.socket(
    L.AF_NETLINK,
    L.SOCK_RAW | L.SOCK_CLOEXEC | L.SOCK_NONBLOCK,
    C.NETLINK_ROUTE,
  );
  if (fd < 0) fail("Cannot open a netlink monitor socket");
  try {
    if (c.setsockopt(fd, L.SOL_SOCKET, L.SO_RCVBUFFORCE, int32(rcvbuf), 4) !== 0) {
      c.setsockopt(fd, L.SOL_SOCKET, L.SO_RCVBUF, int32(rcvbuf), 4);
    }
    const addr = new Uint8Array(12);
    new DataView(addr.buffer).setUint16(0, L.AF_NETLINK, true);
    if (c.bind(fd, addr, 12) !== 0) fail("Cannot bind a netlink monitor socket");
    for (const g of groups) {
      const n = GROUPS[g];
      if (n === undefined) throw new TypeError(`Cannot monitor "${g}": not a known group`);
      if (c.setsockopt(fd, C.SOL_NETLINK, C.NETLINK_ADD_MEMBERSHIP, int32(n), 4) !== 0) {
        fail(`Cannot join the rtnetlink group ${g} (${n})`);
      }
    }
    return fd;
  } catch (e) {
    c.close(fd);
    throw e;
  }
}

function opOf(type: number): KernelOp {
  return type === C.RTM_DELLINK || type === C.RTM_DELADDR || type === C.RTM_DELROUTE ||
      type === C.RTM_DELNEIGH || type === RTM_DELNETCONF
    ? "del"
    : "new";
}

/** Decodes one notification; undefined for message types no group here produces. */
export function eventFromBytes(
  buf: Uint8Array,
  dv: DataView,
  span: MessageSpan,
): KernelEvent | undefined {
  const { type, offset: off, length: len } = span;
  const op = opOf(type);
  const msg = () => decodeMessage(buf.subarray(off, off + len));
  switch (type) {
    case C.RTM_NEWLINK:
    case C.RTM_DELLINK:
      return { kind: "link", op, link: linkFromMessage(msg()) };
    case C.RTM_NEWADDR:
    case C.RTM_DELADDR:
      return { kind: "addr", op, addr: addrFromMessage(msg()) };
    case C.RTM_NEWROUTE:
    case C.RTM_DELROUTE:
      return { kind: "route", op, route: routeFromBytes(buf, dv, off, len) };
    case C.RTM_NEWNEIGH:
    case C.RTM_DELNEIGH: {
      const m = msg();
      if (m.header["family"] === C.AF_BRIDGE) return { kind: "fdb", op, fdb: fdbFromMessage(m) };
      return { kind: "neigh", op, neigh: neighFromMessage(m) };
    }
    case RTM_NEWNETCONF:
    case RTM_DELNETCONF:
      return { kind: "netconf", op, netconf: netconfFromBytes(buf, dv, off, len) };
  }
  return undefined;
}

/**
 * A nonblocking rtnetlink notification socket bound to one namespace (see the module doc).
 *
 * ```ts ignore
 * const mon = KernelMonitor.open({ netns: "node1", groups: ["route4", "link"] });
 * for await (const batch of mon) for (const ev of batch) console.log(ev.kind);
 * ```
 */
export class KernelMonitor implements AsyncIterable<KernelEvent[]> {
  /** The namespace watched (undefined: the opener's). */
  readonly netns?: NetnsRef;
  #fd: number;
  #wake: number;
  #rbuf = new Uint8Array(RECV_BUF);
  /** struct pollfd[2]: the socket and the wake-up eventfd. Kept alive while a poll runs. */
  #pollfds = new Uint8Array(16);
  #polling = false;
  #closed = false;
  #released = false;
  #maxBatch: number;

  private constructor(fd: number, wake: number, netns?: NetnsRef, maxBatch = Infinity) {
    this.#fd = fd;
    this.#wake = wake;
    this.#maxBatch = maxBatch;
    if (netns !== undefined) this.netns = netns;
    const dv = new DataView(this.#pollfds.buffer);
    dv.setInt32(0, fd, true);
    dv.setInt16(4, L.POLLIN, true);
    dv.setInt32(8, wake, true);
    dv.setInt16(12, L.POLLIN, true);
  }

  /**
   * Opens a monitor in `opts.netns` (`ip -n NS monitor ...`). Throws NetlinkError when the
   * socket cannot be opened or a group joined.
   */
  static open(opts: MonitorOptions = {}): KernelMonitor {
    const groups = opts.groups ?? ALL_MONITOR_GROUPS;
    const rcvbuf = opts.rcvbuf ?? 8 * 1024 * 1024;
    const p = L.libcPoll();
    const wake = p.eventfd(0, L.EFD_CLOEXEC | L.EFD_NONBLOCK);
    if (wake < 0) fail("Cannot create an eventfd for the netlink monitor");
    try {
      const fd = opts.netns === undefined
        ? openSocket(groups, rcvbuf)
        : withNetns(opts.netns, () => openSocket(groups, rcvbuf));
      return new KernelMonitor(fd, wake, opts.netns, opts.maxBatch);
    } catch (e) {
      L.libc().close(wake);
      throw e;
    }
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Every notification queued now (up to `maxBatch`), decoded, without waiting (an empty array
   * when none). A `lost` event stands for notifications the kernel dropped or that could not be
   * decoded.
   */
  read(): KernelEvent[] {
    const out: KernelEvent[] = [];
    if (this.#closed) return out;
    const c = L.libc();
    while (out.length < this.#maxBatch) {
      const n = Number(
        c.recv(this.#fd, this.#rbuf, BigInt(this.#rbuf.length), L.MSG_TRUNC | L.MSG_DONTWAIT),
      );
      if (n < 0) {
        const e = L.errno();
        if (e === L.EINTR) continue;
        if (e === L.EAGAIN) return out;
        if (e === L.ENOBUFS) {
          out.push({
            kind: "lost",
            reason: "the kernel dropped notifications (the monitor's receive queue was full)",
          });
          continue;
        }
        fail("Cannot read kernel notifications", e);
      }
      if (n > this.#rbuf.length) {
        this.#rbuf = new Uint8Array(Math.max(n, this.#rbuf.length * 2));
        out.push({ kind: "lost", reason: `a ${n}-byte notification did not fit the buffer` });
        continue;
      }
      this.#decode(n, out);
    }
    return out;
  }

  #decode(n: number, out: KernelEvent[]): void {
    const buf = this.#rbuf;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    try {
      forEachMessage(buf, n, (span) => {
        try {
          const ev = eventFromBytes(buf, dv, span);
          if (ev) out.push(ev);
        } catch (e) {
          out.push({
            kind: "lost",
            reason: `undecodable notification (type ${span.type}): ${(e as Error).message}`,
          });
        }
      });
    } catch (e) {
      out.push({ kind: "lost", reason: `malformed datagram: ${(e as Error).message}` });
    }
  }

  /**
   * Waits, off the JS thread, until notifications are queued (true) or the monitor is closed
   * (false). `timeoutMs` < 0 waits without a bound; on a timeout it resolves true with nothing
   * to read. One wait at a time.
   */
  async wait(timeoutMs = -1): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#polling) throw new Error("KernelMonitor.wait(): a wait is already running");
    this.#polling = true;
    try {
      await L.libcPoll().poll(this.#pollfds, 2n, Math.trunc(timeoutMs));
    } finally {
      this.#polling = false;
      if (this.#closed) this.#release();
    }
    return !this.#closed;
  }

  /** Batches of events until close(): each batch is what one read() returned after a wait. */
  async *[Symbol.asyncIterator](): AsyncGenerator<KernelEvent[]> {
    while (!this.#closed) {
      const batch = this.read();
      if (batch.length > 0) {
        yield batch;
        continue;
      }
      if (!(await this.wait())) return;
    }
  }

  /** Stops the monitor: a running wait() resolves false; the descriptors are closed after it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#polling) {
      this.#release();
      return;
    }
    const one = new Uint8Array(new BigUint64Array([1n]).buffer);
    L.libcPoll().write(this.#wake, one, 8n);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    const c = L.libc();
    c.close(this.#fd);
    c.close(this.#wake);
  }
}
