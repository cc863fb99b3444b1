/**
 * A unix stream socket server that knows who connected: each accepted connection carries the
 * peer's SO_PEERCRED (pid, uid, gid). Deno's own unix listener does not expose the accepted
 * socket's descriptor, so this one is built on libc through FFI: socket/bind/listen on the main
 * thread, accept4/recv/send on helper threads (FFI `nonblocking`), so a slow or silent peer
 * never blocks the JS thread. SO_RCVTIMEO/SO_SNDTIMEO bound each blocking call, and `abort()`
 * (shutdown) ends a pending one at once.
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import * as L from "./libc.ts";

/** The peer's credentials, as the kernel recorded them at connect() (SO_PEERCRED). */
export interface PeerCred {
  /** Process id of the peer. */
  pid: number;
  /** Effective user id of the peer. */
  uid: number;
  /** Effective group id of the peer. */
  gid: number;
}

/** Options for UnixServer.listen(). */
export interface UnixServerOptions {
  /** Socket path; a stale socket there is replaced, any other file is refused. */
  path: string;
  /** File mode of the socket, set before listen() so no one connects through a wider one. */
  mode?: number;
  /** Listen backlog (default 128). */
  backlog?: number;
  /** Upper bound of each blocking recv()/send() on an accepted connection (default 5000 ms). */
  ioTimeoutMs?: number;
}

const SOCKADDR_UN_PATH = 108;

function sockaddrUn(path: string): Uint8Array<ArrayBuffer> {
  const p = new TextEncoder().encode(path);
  if (p.length >= SOCKADDR_UN_PATH) {
    throw new RangeError(`Cannot listen on ${path}: a unix socket path has at most 107 bytes`);
  }
  const a = new Uint8Array(2 + SOCKADDR_UN_PATH);
  new DataView(a.buffer).setUint16(0, L.AF_UNIX, true);
  a.set(p, 2);
  return a;
}

function timeval(ms: number): Uint8Array<ArrayBuffer> {
  const tv = new Uint8Array(16);
  const v = new DataView(tv.buffer);
  v.setBigInt64(0, BigInt(Math.floor(ms / 1000)), true);
  v.setBigInt64(8, BigInt((ms % 1000) * 1000), true);
  return tv;
}

/**
 * Removes a stale socket file at `path` (left by a process that died). Refuses to remove a
 * file that is not a socket (EEXIST) or a socket another process still listens on (EADDRINUSE).
 */
function removeStaleSocket(path: string, addr: Uint8Array<ArrayBuffer>): void {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket) {
    throw new NetlinkError(`Cannot listen on ${path}: a file that is not a socket is there`, 17);
  }
  const c = L.libc();
  const probe = c.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0);
  if (probe < 0) throw new NetlinkError(`Cannot create a unix socket for ${path}`, L.errno());
  const live = L.libcUnixServer().connect(probe, addr, addr.length) === 0;
  c.close(probe);
  if (live) throw new NetlinkError(`Cannot listen on ${path}: another process serves it`, 98);
  Deno.removeSync(path);
}

/**
 * A listening unix stream socket (`socat UNIX-LISTEN:PATH,mode=600`), accepting with the
 * peer's credentials.
 */
export class UnixServer {
  readonly path: string;
  #fd: number;
  #ioTimeoutMs: number;
  #closed = false;
  #pending: Promise<number> | undefined;

  private constructor(path: string, fd: number, ioTimeoutMs: number) {
    this.path = path;
    this.#fd = fd;
    this.#ioTimeoutMs = ioTimeoutMs;
  }

  /** Binds and listens on `path` (mode applied before listen()). Throws NetlinkError. */
  static listen(o: UnixServerOptions): UnixServer {
    const c = L.libc();
    const u = L.libcUnixServer();
    const addr = sockaddrUn(o.path);
    const slash = o.path.lastIndexOf("/");
    if (slash > 0) Deno.mkdirSync(o.path.slice(0, slash), { recursive: true, mode: 0o755 });
    removeStaleSocket(o.path, addr);
    const fd = c.socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0);
    if (fd < 0) throw new NetlinkError(`Cannot create a unix socket for ${o.path}`, L.errno());
    try {
      if (c.bind(fd, addr, addr.length) !== 0) {
        throw new NetlinkError(`Cannot bind ${o.path}`, L.errno());
      }
      Deno.chmodSync(o.path, o.mode ?? 0o600);
      if (u.listen(fd, o.backlog ?? 128) !== 0) {
        throw new NetlinkError(`Cannot listen on ${o.path}`, L.errno());
      }
    } catch (e) {
      c.close(fd);
      throw e;
    }
    return new UnixServer(o.path, fd, o.ioTimeoutMs ?? 5000);
  }

  /**
   * The next connection, or undefined once the server is closed. A failed accept (EMFILE, a
   * peer gone before it was accepted) is retried after a pause, never thrown.
   */
  async accept(): Promise<UnixPeer | undefined> {
    const u = L.libcUnixServer();
    while (!this.#closed) {
      this.#pending = u.accept4(this.#fd, null, null, L.SOCK_CLOEXEC);
      const fd = await this.#pending;
      this.#pending = undefined;
      if (fd >= 0) {
        if (this.#closed) {
          L.libc().close(fd);
          return undefined;
        }
        try {
          return UnixPeer.adopt(fd, this.#ioTimeoutMs);
        } catch {
          continue; // UnixPeer.adopt closed it
        }
      }
      if (!this.#closed) await new Promise((r) => setTimeout(r, 20));
    }
    return undefined;
  }

  /** Stops accepting (wakes a pending accept), closes the socket and removes its file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    L.libcUnixServer().shutdown(this.#fd, L.SHUT_RDWR);
    await this.#pending?.catch(() => {});
    L.libc().close(this.#fd);
    try {
      Deno.removeSync(this.path);
    } catch {
      // already gone, or replaced by a newer server's socket: leave it
    }
  }
}

/** One accepted connection. Every blocking call runs on a helper thread. */
export class UnixPeer {
  readonly cred: PeerCred;
  #fd: number;
  #closed = false;
  #aborted = false;
  #busy = 0;
  #idle: (() => void) | undefined;

  private constructor(fd: number, cred: PeerCred) {
    this.#fd = fd;
    this.cred = cred;
  }

  /** Takes ownership of an accepted descriptor: reads SO_PEERCRED, sets the I/O timeouts. */
  static adopt(fd: number, ioTimeoutMs: number): UnixPeer {
    const c = L.libc();
    const u = L.libcUnixServer();
    try {
      const cred = new Uint8Array(12);
      const len = new Uint32Array([12]);
      if (u.getsockopt(fd, L.SOL_SOCKET, L.SO_PEERCRED, cred, new Uint8Array(len.buffer)) !== 0) {
        throw new NetlinkError("Cannot read the peer's credentials (SO_PEERCRED)", L.errno());
      }
      const tv = timeval(ioTimeoutMs);
      for (const opt of [L.SO_RCVTIMEO, L.SO_SNDTIMEO]) {
        if (c.setsockopt(fd, L.SOL_SOCKET, opt, tv, tv.length) !== 0) {
          throw new NetlinkError("Cannot set the socket's I/O timeout", L.errno());
        }
      }
      const v = new DataView(cred.buffer);
      return new UnixPeer(fd, {
        pid: v.getInt32(0, true),
        uid: v.getUint32(4, true),
        gid: v.getUint32(8, true),
      });
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }

  async #io<T>(fn: () => Promise<T>): Promise<T> {
    this.#busy++;
    try {
      return await fn();
    } finally {
      if (--this.#busy === 0) this.#idle?.();
    }
  }

  /**
   * Reads up to `buf.length` bytes: the count, 0 at end of stream. Throws when the peer sent
   * nothing within the I/O timeout, the connection broke, or abort() was called.
   */
  read(buf: Uint8Array<ArrayBuffer>): Promise<number> {
    if (this.#closed || this.#aborted) return Promise.reject(new Error("connection closed"));
    // Usually the bytes are already there: take them without a trip to a helper thread
    // (each trip waits for a CPU, which on a busy node costs more than the read).
    const now = Number(L.libc().recv(this.#fd, buf, BigInt(buf.length), L.MSG_DONTWAIT));
    if (now >= 0) return Promise.resolve(now);
    if (L.errno() !== L.EAGAIN) return Promise.reject(new Error("receive failed"));
    return this.#io(async () => {
      const n = Number(await L.libcUnixServer().recv(this.#fd, buf, BigInt(buf.length), 0));
      if (n < 0) throw new Error("receive failed or timed out");
      if (this.#aborted && n === 0) throw new Error("connection aborted");
      return n;
    });
  }

  /** Writes all of `data`. Throws when the peer is gone or stops reading past the I/O timeout. */
  writeAll(data: Uint8Array<ArrayBuffer>): Promise<void> {
    if (this.#closed || this.#aborted) return Promise.reject(new Error("connection closed"));
    // The socket buffer usually has room: write without a trip to a helper thread.
    let off = 0;
    const flags = L.MSG_DONTWAIT | L.MSG_NOSIGNAL;
    while (off < data.length) {
      const part = data.subarray(off);
      const n = Number(L.libc().sendto(this.#fd, part, BigInt(part.length), flags, null, 0));
      if (n > 0) {
        off += n;
        continue;
      }
      if (n < 0 && L.errno() === L.EAGAIN) break;
      return Promise.reject(new Error("send failed"));
    }
    if (off === data.length) return Promise.resolve();
    return this.#io(async () => {
      while (off < data.length) {
        const part = data.subarray(off);
        const n = Number(
          await L.libcUnixServer().send(this.#fd, part, BigInt(part.length), L.MSG_NOSIGNAL),
        );
        if (n <= 0) throw new Error("send failed or timed out");
        off += n;
      }
    });
  }

  /** Ends pending and future reads and writes at once (shutdown); close() still follows. */
  abort(): void {
    if (this.#closed || this.#aborted) return;
    this.#aborted = true;
    L.libcUnixServer().shutdown(this.#fd, L.SHUT_RDWR);
  }

  /** Closes the descriptor once no helper thread uses it any more. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#busy > 0) {
      this.abort();
      await new Promise<void>((r) => this.#idle = r);
    }
    this.#closed = true;
    L.libc().close(this.#fd);
  }
}
