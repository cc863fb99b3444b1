/**
 * TCP sockets inside a network namespace, for the BGP speaker. Deno's own sockets are created
 * on runtime threads that never entered the node's namespace (setns is per thread), so these
 * are libc sockets through FFI: socket() runs on the main thread inside `withNetns()` (a socket
 * stays in the namespace it was created in), every other call is nonblocking on the main thread,
 * and waiting for readiness is one shared poll() parked on a helper thread (net/poller.ts). TCP MD5
 * signatures (RFC 2385) are set with setsockopt(TCP_MD5SIG) before connect() or, per peer, on
 * the listening socket.
 *
 * ```ts ignore
 * const l = TcpSocket.listen({ netns: "node1", address: "0.0.0.0", port: 179 });
 * await l.wait("read");
 * const conn = l.accept(); // TcpSocket | undefined
 * ```
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import { formatIp, ipFromBytes, ipToBytes, parseIp } from "./cidr.ts";
import * as L from "./libc.ts";
import { withNetns } from "./netns.ts";
import { sharedPoller } from "./poller.ts";
import type { NetnsRef } from "./types.ts";

/** An address and port. */
export interface TcpEndpoint {
  address: string;
  port: number;
}

function fail(operation: string, errnum = L.errno()): never {
  throw new NetlinkError(operation, errnum);
}

/** struct sockaddr_in / sockaddr_in6 for `address`:`port`. */
function sockaddr(address: string, port: number): Uint8Array<ArrayBuffer> {
  const ip = parseIp(address);
  const a = new Uint8Array(ip.family === 4 ? 16 : 28);
  const dv = new DataView(a.buffer);
  dv.setUint16(0, ip.family === 4 ? L.AF_INET : L.AF_INET6, true);
  dv.setUint16(2, port, false);
  a.set(ipToBytes(ip), ip.family === 4 ? 4 : 8);
  return a;
}

function endpointOf(a: Uint8Array): TcpEndpoint {
  const dv = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const family = dv.getUint16(0, true);
  const port = dv.getUint16(2, false);
  const raw = family === L.AF_INET ? a.slice(4, 8) : a.slice(8, 24);
  let address = formatIp(ipFromBytes(raw));
  if (address.startsWith("::ffff:") && address.includes(".")) address = address.slice(7);
  return { address, port };
}

/** struct tcp_md5sig for `peer` (key ≤ 80 bytes; an empty key removes the peer's entry). */
function md5sig(peer: string, key: string): Uint8Array<ArrayBuffer> {
  const k = new TextEncoder().encode(key);
  if (k.length > 80) throw new RangeError("Cannot set a TCP MD5 key: at most 80 bytes");
  const s = new Uint8Array(216);
  s.set(sockaddr(peer, 0), 0);
  new DataView(s.buffer).setUint16(130, k.length, true);
  s.set(k, 136);
  return s;
}

/** A nonblocking TCP socket (listening or connected). */
export class TcpSocket {
  #fd: number;
  #closed = false;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  static #open(netns: NetnsRef | undefined, family: 4 | 6): number {
    const make = () =>
      L.libc().socket(
        family === 4 ? L.AF_INET : L.AF_INET6,
        L.SOCK_STREAM | L.SOCK_NONBLOCK | L.SOCK_CLOEXEC,
        0,
      );
    const fd = netns === undefined ? make() : withNetns(netns, make);
    if (fd < 0) fail(`Cannot open a TCP socket${netns === undefined ? "" : ` in ${netns}`}`);
    return fd;
  }

  /**
   * Listens on `address`:`port` in `netns` (`ss -tln` shows it there). `::` accepts IPv4 too.
   * Throws NetlinkError (EADDRINUSE, EACCES, ...).
   */
  static listen(
    opts: { netns?: NetnsRef; address: string; port: number; backlog?: number },
  ): TcpSocket {
    const family = parseIp(opts.address).family;
    const fd = TcpSocket.#open(opts.netns, family);
    const s = new TcpSocket(fd);
    try {
      s.#setInt(L.SOL_SOCKET, L.SO_REUSEADDR, 1, "SO_REUSEADDR");
      if (family === 6) s.#setInt(L.IPPROTO_IPV6, L.IPV6_V6ONLY, 0, "IPV6_V6ONLY");
      const a = sockaddr(opts.address, opts.port);
      if (L.libc().bind(fd, a, a.length) !== 0) fail(`Cannot bind ${opts.address}:${opts.port}`);
      if (L.libcTcp().listen(fd, opts.backlog ?? 64) !== 0) {
        fail(`Cannot listen on ${opts.address}:${opts.port}`);
      }
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }

  /**
   * Starts connecting to `remote` from `netns` (optionally from `local`, and with an RFC 2385
   * MD5 key). Resolves once connected; rejects with NetlinkError (ECONNREFUSED, ETIMEDOUT, ...)
   * and closes the socket. `timeoutMs` bounds the wait.
   */
  static async connect(opts: {
    netns?: NetnsRef;
    remote: TcpEndpoint;
    local?: string;
    md5Key?: string;
    timeoutMs?: number;
  }): Promise<TcpSocket> {
    const family = parseIp(opts.remote.address).family;
    const s = new TcpSocket(TcpSocket.#open(opts.netns, family));
    try {
      if (opts.md5Key) s.setMd5(opts.remote.address, opts.md5Key);
      if (opts.local) {
        const la = sockaddr(opts.local, 0);
        if (L.libc().bind(s.#fd, la, la.length) !== 0) fail(`Cannot bind to ${opts.local}`);
      }
      const a = sockaddr(opts.remote.address, opts.remote.port);
      const to = `${opts.remote.address}:${opts.remote.port}`;
      if (L.libcTcp().connect(s.#fd, a, a.length) !== 0 && L.errno() !== L.EINPROGRESS) {
        fail(`Cannot connect to ${to}`);
      }
      if (!(await s.wait("write", opts.timeoutMs ?? 5000))) fail(`Cannot connect to ${to}`, 110);
      const err = s.#getInt(L.SOL_SOCKET, L.SO_ERROR);
      if (err !== 0) fail(`Cannot connect to ${to}`, err);
      return s;
    } catch (e) {
      s.close();
      throw e;
    }
  }

  #setInt(level: number, name: number, value: number, what: string): void {
    const v = new Uint8Array(new Int32Array([value]).buffer);
    if (L.libc().setsockopt(this.#fd, level, name, v, 4) !== 0) fail(`Cannot set ${what}`);
  }

  #getInt(level: number, name: number): number {
    const v = new Int32Array(1), len = new Uint32Array([4]);
    const r = L.libcTcp().getsockopt(
      this.#fd,
      level,
      name,
      new Uint8Array(v.buffer),
      new Uint8Array(len.buffer),
    );
    if (r !== 0) fail("Cannot read a socket option");
    return v[0]!;
  }

  /**
   * Sets (or, with an empty key, removes) the RFC 2385 MD5 key for segments to and from
   * `peer`. On a listening socket, accepted connections from `peer` inherit it.
   */
  setMd5(peer: string, key: string): void {
    const s = md5sig(peer, key);
    if (L.libc().setsockopt(this.#fd, L.IPPROTO_TCP, L.TCP_MD5SIG, s, s.length) !== 0) {
      fail(`Cannot set the TCP MD5 key for ${peer}`);
    }
  }

  /** A pending connection, or undefined when none is queued. */
  accept(): TcpSocket | undefined {
    const fd = L.libcTcp().accept4(
      this.#fd,
      new Uint8Array(128),
      new Uint8Array(new Uint32Array([128]).buffer),
      L.SOCK_NONBLOCK | L.SOCK_CLOEXEC,
    );
    if (fd < 0) {
      const e = L.errno();
      if (e === L.EAGAIN || e === L.EINTR || e === 103 /* ECONNABORTED */) return undefined;
      fail("Cannot accept a TCP connection", e);
    }
    return new TcpSocket(fd);
  }

  /** This end's address. */
  local(): TcpEndpoint {
    const a = new Uint8Array(28), len = new Uint32Array([28]);
    if (L.libc().getsockname(this.#fd, a, new Uint8Array(len.buffer)) !== 0) {
      fail("Cannot read the socket's address");
    }
    return endpointOf(a);
  }

  /** The other end's address. */
  remote(): TcpEndpoint {
    const a = new Uint8Array(28), len = new Uint32Array([28]);
    if (L.libcTcp().getpeername(this.#fd, a, new Uint8Array(len.buffer)) !== 0) {
      fail("Cannot read the peer's address");
    }
    return endpointOf(a);
  }

  /**
   * Reads what is queued into `buf`: the byte count, 0 at end of stream, -1 when nothing is
   * queued. Throws NetlinkError (ECONNRESET, ...).
   */
  recv(buf: Uint8Array<ArrayBuffer>): number {
    for (;;) {
      const n = Number(L.libc().recv(this.#fd, buf, BigInt(buf.length), L.MSG_DONTWAIT));
      if (n >= 0) return n;
      const e = L.errno();
      if (e === L.EINTR) continue;
      if (e === L.EAGAIN) return -1;
      fail("Cannot read from a TCP connection", e);
    }
  }

  /** Writes what fits in the send buffer now: the byte count (0 when full). Throws NetlinkError. */
  send(bytes: Uint8Array<ArrayBuffer>): number {
    for (;;) {
      const n = Number(
        L.libcTcp().send(this.#fd, bytes, BigInt(bytes.length), L.MSG_DONTWAIT | L.MSG_NOSIGNAL),
      );
      if (n >= 0) return n;
      const e = L.errno();
      if (e === L.EINTR) continue;
      if (e === L.EAGAIN) return 0;
      fail("Cannot write to a TCP connection", e);
    }
  }

  /**
   * Waits, off the JS thread, until the socket is readable ("read": data, a connection to
   * accept, or the end of stream) or writable ("write"): true; false on timeout or close().
   * Several waits may run at once.
   */
  wait(what: "read" | "write", timeoutMs = -1): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return sharedPoller().wait(this.#fd, what, timeoutMs);
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the socket: running waits resolve false; the descriptor is freed after them. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    sharedPoller().release(this.#fd);
  }
}
