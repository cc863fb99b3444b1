/**
 * A NETLINK_ROUTE socket over Deno FFI: sequence numbers, ACKs, multipart dumps with
 * NLM_F_DUMP_INTR retry, extended-ack error text, and pipelined batches.
 *
 * The socket lives in the network namespace that was current when it was opened (see
 * `openHandle({ netns })` in handle.ts, which switches there just for the socket() call).
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import * as L from "./libc.ts";
import * as C from "./nl/consts.ts";
import {
  decodeError,
  decodeMessage,
  encodeMessage,
  type ErrorReply,
  forEachMessage,
  type MessageSpan,
  type NlMessage,
} from "./nl/message.ts";
import { Writer } from "./nl/writer.ts";

const RECV_BUF = 64 * 1024;
const RCVBUF_BYTES = 4 * 1024 * 1024;
const BATCH_MAX_MSGS = 1024;
const BATCH_MAX_BYTES = 60 * 1024;
const DUMP_RETRIES = 10;
const RECV_TIMEOUT_S = 30;

/** Thrown inside the socket when a reply did not fit the receive buffer (it has been grown). */
class TruncatedReply extends Error {}

/**
 * The error a batch op gets when its write or the read of its answers failed: the socket's
 * NetlinkError keeps its errno, named for this op; anything else becomes EIO with its text.
 */
function batchFailure(e: unknown, operation: string, stage: "send" | "read"): NetlinkError {
  const why = `${stage === "send" ? "the batch write" : "reading the batch's answers"} failed`;
  if (e instanceof NetlinkError) {
    return new NetlinkError(`${operation} (${why})`, e.errno, e.extack, { cause: e });
  }
  return new NetlinkError(`${operation} (${why}: ${(e as Error)?.message ?? e})`, 5, undefined, {
    cause: e,
  });
}

function fail(operation: string, errnum = L.errno()): never {
  throw new NetlinkError(operation, errnum);
}

/**
 * Moves datagrams to and from the kernel. The real one is FFI (see NetlinkSocket.open());
 * tests can pass a fake to exercise the protocol logic without root.
 */
export interface NetlinkTransport {
  /** Sends one datagram; throws NetlinkError on failure. */
  send(bytes: Uint8Array, operation: string): void;
  /**
   * Optional: send() with the kernel's work done off the JS thread. The caller keeps `bytes`
   * unchanged until the promise settles. Transports without it get a synchronous send().
   */
  sendAsync?(bytes: Uint8Array, operation: string): Promise<void>;
  /**
   * Receives one datagram into `buf` and returns its real length, which is larger than
   * `buf.length` when it did not fit (MSG_TRUNC); throws NetlinkError on failure.
   */
  recv(buf: Uint8Array, operation: string): number;
  close(): void;
}

class FfiTransport implements NetlinkTransport {
  static #kernel = new Uint8Array(12); // struct sockaddr_nl { AF_NETLINK, 0, pid 0, groups 0 }
  static {
    new DataView(FfiTransport.#kernel.buffer).setUint16(0, L.AF_NETLINK, true);
  }
  constructor(readonly fd: number) {}

  send(bytes: Uint8Array, operation: string): void {
    const c = L.libc();
    for (;;) {
      const n = Number(c.sendto(this.fd, bytes, BigInt(bytes.length), 0, FfiTransport.#kernel, 12));
      if (n >= 0) {
        if (n !== bytes.length) {
          throw new NetlinkError(`${operation} (short write ${n}/${bytes.length})`, 5);
        }
        return;
      }
      const e = L.errno();
      if (e !== L.EINTR) fail(operation, e);
    }
  }

  async sendAsync(bytes: Uint8Array, operation: string): Promise<void> {
    const n = Number(
      await L.libcAsync().sendto(this.fd, bytes, BigInt(bytes.length), 0, FfiTransport.#kernel, 12),
    );
    if (n === bytes.length) return;
    if (n >= 0) throw new NetlinkError(`${operation} (short write ${n}/${bytes.length})`, 5);
    // errno belongs to the helper thread and nothing reached the kernel: send again here,
    // where a failure's errno can be read.
    this.send(bytes, operation);
  }

  recv(buf: Uint8Array, operation: string): number {
    const c = L.libc();
    for (;;) {
      const n = Number(c.recv(this.fd, buf, BigInt(buf.length), L.MSG_TRUNC));
      if (n >= 0) return n;
      const e = L.errno();
      if (e === L.EINTR) continue;
      if (e === L.EAGAIN) {
        throw new NetlinkError(
          `${operation} (no answer from the kernel in ${RECV_TIMEOUT_S} s)`,
          e,
        );
      }
      if (e === L.ENOBUFS) {
        throw new NetlinkError(
          `${operation} (replies were dropped: socket receive buffer full)`,
          e,
        );
      }
      fail(operation, e);
    }
  }

  close(): void {
    L.libc().close(this.fd);
  }
}

/** A bound NETLINK_ROUTE socket. Not thread-safe; every call is synchronous. */
export class NetlinkSocket {
  /** The port id the kernel assigned (nl_pid). */
  readonly pid: number;
  #t: NetlinkTransport;
  #seq: number;
  #rbuf: Uint8Array;
  #w = new Writer(8192);
  #closed = false;
  #batchMax: number;
  /** The operation of a requestAsync() still running (the socket takes no other call). */
  #busy: string | undefined;

  /**
   * Wraps a transport. `NetlinkSocket.open()` is the usual way in; this constructor is for fakes.
   * @param batchMax most messages per batch write (bounded by the receive buffer for errors)
   */
  constructor(
    t: NetlinkTransport,
    opts: { pid?: number; batchMax?: number; recvBuf?: number } = {},
  ) {
    this.#t = t;
    this.pid = opts.pid ?? 0;
    this.#batchMax = opts.batchMax ?? BATCH_MAX_MSGS;
    this.#rbuf = new Uint8Array(opts.recvBuf ?? RECV_BUF);
    this.#seq = (Date.now() / 1000) >>> 0;
  }

  /** Opens a NETLINK_ROUTE socket in the calling thread's current network namespace. */
  static open(): NetlinkSocket {
    const c = L.libc();
    const fd = c.socket(L.AF_NETLINK, L.SOCK_RAW | L.SOCK_CLOEXEC, C.NETLINK_ROUTE);
    if (fd < 0) fail("Cannot open a netlink socket");
    try {
      const one = new Uint8Array(new Int32Array([1]).buffer);
      // Extended ACK text, and ACKs that do not echo the whole request back.
      c.setsockopt(fd, C.SOL_NETLINK, C.NETLINK_EXT_ACK, one, 4);
      c.setsockopt(fd, C.SOL_NETLINK, C.NETLINK_CAP_ACK, one, 4);
      const size = new Uint8Array(new Int32Array([RCVBUF_BYTES]).buffer);
      let rcvbuf = RCVBUF_BYTES;
      if (c.setsockopt(fd, L.SOL_SOCKET, L.SO_RCVBUFFORCE, size, 4) !== 0) {
        c.setsockopt(fd, L.SOL_SOCKET, L.SO_RCVBUF, size, 4);
        rcvbuf = 200 * 1024;
      }
      // The kernel always answers; a bound on the wait turns a bug into an error, not a hang.
      const timeout = new Uint8Array(new BigInt64Array([BigInt(RECV_TIMEOUT_S), 0n]).buffer);
      c.setsockopt(fd, L.SOL_SOCKET, L.SO_RCVTIMEO, timeout, 16);
      const addr = new Uint8Array(12);
      new DataView(addr.buffer).setUint16(0, L.AF_NETLINK, true);
      if (c.bind(fd, addr, 12) !== 0) fail("Cannot bind a netlink socket");
      const len = new Uint8Array(new Uint32Array([12]).buffer);
      if (c.getsockname(fd, addr, len) !== 0) fail("Cannot read the netlink socket's address");
      const pid = new DataView(addr.buffer).getUint32(4, true);
      // A failing message costs roughly 1 KiB of receive buffer; never send more than fit.
      const batchMax = Math.max(16, Math.min(BATCH_MAX_MSGS, Math.floor(rcvbuf / 1024 / 2)));
      return new NetlinkSocket(new FfiTransport(fd), { pid, batchMax });
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }

  /** Closes the socket (idempotent; during a requestAsync(), once that has finished). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#busy === undefined) this.#t.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #check(operation: string): void {
    if (this.#closed) throw new Error(`${operation}: the netlink handle is closed`);
    if (this.#busy !== undefined) {
      throw new Error(`${operation}: the netlink handle is busy with "${this.#busy}"`);
    }
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    if (this.#seq === 0) this.#seq = 1;
    return this.#seq;
  }

  #send(bytes: Uint8Array, operation: string): void {
    this.#t.send(bytes, operation);
  }

  /** Receives one datagram into the receive buffer; returns its length. */
  #recv(operation: string): number {
    const n = this.#t.recv(this.#rbuf, operation);
    if (n > this.#rbuf.length) {
      this.#rbuf = new Uint8Array(Math.max(n, this.#rbuf.length * 2));
      throw new TruncatedReply();
    }
    return n;
  }

  #encode(msg: NlMessage, seq: number, addFlags = 0, clearFlags = 0): number {
    const off = encodeMessage(this.#w, msg);
    const dv = this.#w.dv;
    dv.setUint16(off + 6, (dv.getUint16(off + 6, true) | addFlags) & ~clearFlags, true);
    dv.setUint32(off + 8, seq, true);
    dv.setUint32(off + 12, 0, true);
    return off;
  }

  /**
   * Sends a request and waits for its ACK (NLM_F_ACK is added). Throws NetlinkError with
   * `operation` as the message's start when the kernel refuses.
   */
  request(msg: NlMessage, operation: string): void {
    this.#check(operation);
    const seq = this.#nextSeq();
    this.#w.reset();
    this.#encode(msg, seq, C.NLM_F_ACK);
    this.#send(this.#w.view(), operation);
    this.#waitAck(seq, operation);
  }

  /**
   * request() with the kernel's work on a helper thread: the promise settles when the kernel
   * has answered, and the caller's JS runs meanwhile (deleting a veth keeps the kernel busy for
   * ~20 ms of RCU grace periods). The socket takes no other call until then.
   */
  async requestAsync(msg: NlMessage, operation: string): Promise<void> {
    this.#check(operation);
    const seq = this.#nextSeq();
    this.#w.reset();
    this.#encode(msg, seq, C.NLM_F_ACK);
    const bytes = this.#w.view().slice();
    this.#busy = operation;
    try {
      if (this.#t.sendAsync) await this.#t.sendAsync(bytes, operation);
      else this.#send(bytes, operation);
      // The kernel queues the ACK before sendto() returns: this read does not wait.
      this.#waitAck(seq, operation);
    } finally {
      this.#busy = undefined;
      if (this.#closed) this.#t.close();
    }
  }

  #waitAck(seq: number, operation: string): void {
    for (;;) {
      let n: number;
      try {
        n = this.#recv(operation);
      } catch (e) {
        if (e instanceof TruncatedReply) continue; // not our small ACK; it was dropped
        throw e;
      }
      let done = false;
      forEachMessage(this.#rbuf, n, (span) => {
        if (span.seq !== seq || span.type !== C.NLMSG_ERROR) return true;
        const err = decodeError(this.#rbuf, span);
        if (err.errno) throw new NetlinkError(operation, err.errno, err.extack);
        done = true;
        return false;
      });
      if (done) return;
    }
  }

  /**
   * Sends a GET request that the kernel answers with one message (RTM_GETLINK by name,
   * RTM_GETROUTE ...). Returns it decoded. Errors become NetlinkError.
   */
  get(msg: NlMessage, operation: string): NlMessage {
    this.#check(operation);
    for (let attempt = 0;; attempt++) {
      const seq = this.#nextSeq();
      this.#w.reset();
      this.#encode(msg, seq);
      this.#send(this.#w.view(), operation);
      try {
        for (;;) {
          const n = this.#recv(operation);
          let out: NlMessage | undefined;
          forEachMessage(this.#rbuf, n, (span) => {
            if (span.seq !== seq) return true;
            if (span.type === C.NLMSG_ERROR) {
              const err = decodeError(this.#rbuf, span);
              throw new NetlinkError(operation, err.errno || 5, err.extack);
            }
            out = decodeMessage(this.#rbuf.subarray(span.offset, span.offset + span.length));
            return false;
          });
          if (out) return out;
        }
      } catch (e) {
        if (e instanceof TruncatedReply && attempt < 2) continue;
        throw e;
      }
    }
  }

  /**
   * Sends a dump request (NLM_F_DUMP) and hands every reply message, undecoded, to `each`
   * until NLMSG_DONE. When the kernel flags the dump as interrupted (NLM_F_DUMP_INTR) or a
   * reply did not fit the buffer, `restart` is called and the dump runs again.
   */
  dumpEach(
    msg: NlMessage,
    operation: string,
    each: (buf: Uint8Array, dv: DataView, span: MessageSpan) => void,
    restart: () => void,
  ): void {
    this.#check(operation);
    for (let attempt = 0;; attempt++) {
      const seq = this.#nextSeq();
      this.#w.reset();
      this.#encode(msg, seq, C.NLM_F_DUMP);
      this.#send(this.#w.view(), operation);
      let interrupted = false;
      let truncated = false;
      let done = false;
      while (!done) {
        let n: number;
        try {
          n = this.#recv(operation);
        } catch (e) {
          if (!(e instanceof TruncatedReply)) throw e;
          truncated = true; // keep reading to the end of this dump, then run it again
          continue;
        }
        const buf = this.#rbuf;
        const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
        forEachMessage(buf, n, (span) => {
          if (span.seq !== seq) return true;
          if (span.flags & C.NLM_F_DUMP_INTR) interrupted = true;
          if (span.type === C.NLMSG_DONE) {
            const err = span.length >= 20 ? dv.getInt32(span.offset + 16, true) : 0;
            if (err < 0) throw new NetlinkError(operation, -err);
            done = true;
            return false;
          }
          if (span.type === C.NLMSG_ERROR) {
            const err = decodeError(buf, span);
            throw new NetlinkError(operation, err.errno || 5, err.extack);
          }
          if (!truncated) each(buf, dv, span);
          return true;
        });
      }
      if (!interrupted && !truncated) return;
      if (attempt >= DUMP_RETRIES) {
        throw new NetlinkError(
          `${operation} (the dump kept being ${
            truncated ? "truncated" : "interrupted by concurrent changes"
          })`,
          L.EINTR,
        );
      }
      restart();
    }
  }

  /**
   * Sends a dump request and returns every reply message decoded (see dumpEach()).
   * `accept`, when given, sees each message undecoded and can skip the ones not wanted.
   */
  dump(
    msg: NlMessage,
    operation: string,
    accept?: (buf: Uint8Array, span: MessageSpan) => boolean,
  ): NlMessage[] {
    let out: NlMessage[] = [];
    this.dumpEach(msg, operation, (buf, _dv, span) => {
      if (accept && !accept(buf, span)) return;
      out.push(decodeMessage(buf.subarray(span.offset, span.offset + span.length)));
    }, () => {
      out = [];
    });
    return out;
  }

  /**
   * Sends many requests pipelined: up to a thousand messages per write. Only the last message
   * of each write asks for an ACK; the kernel handles a write's messages in order and answers
   * every failing one with an error, so once the last ACK is in, every error before it is too.
   * Returns one entry per message: undefined on success, a NetlinkError (with `describe(i)` as
   * its operation) on failure. The kernel goes on after a failure.
   *
   * A write the socket itself refuses (send() fails: ENOBUFS, EMSGSIZE, ...) never reached the
   * kernel: every message of that write gets that error, and the next write is still tried.
   * A failed read (or an undecodable reply) leaves the socket's state unknown: every message of
   * that write not yet answered, and every later one (never sent), gets that error, and the
   * batch stops there. Only a closed or busy socket throws.
   */
  batch(msgs: readonly NlMessage[], describe: (i: number) => string): (NetlinkError | undefined)[] {
    return this.batchEach(msgs.length, (i) => msgs[i], describe);
  }

  /**
   * batch() with message `i` built by `message(i)` just before it is encoded, each write in
   * turn: a batch of 10,000 routes never holds 10,000 messages (only one write's bytes).
   * `message` returning undefined leaves `i` out (its result stays undefined; the caller has
   * its own reason, e.g. an invalid request). `message` must not use this socket. Indexes
   * never reached because a read failed get that failure, as in batch().
   */
  batchEach(
    count: number,
    message: (i: number) => NlMessage | undefined,
    describe: (i: number) => string,
  ): (NetlinkError | undefined)[] {
    this.#check("Cannot send a netlink batch");
    const results: (NetlinkError | undefined)[] = new Array(count).fill(undefined);
    const sent = new Uint8Array(Math.min(count, this.#batchMax));
    let i = 0;
    while (i < count) {
      const first = i;
      const seqBase = this.#nextSeq();
      this.#w.reset();
      sent.fill(0);
      let lastOff = -1, lastSeq = 0;
      while (i < count && i - first < this.#batchMax && this.#w.len < BATCH_MAX_BYTES) {
        const msg = message(i);
        if (msg !== undefined) {
          lastSeq = (seqBase + (i - first)) >>> 0;
          lastOff = this.#encode(msg, lastSeq, 0, C.NLM_F_ACK);
          sent[i - first] = 1;
        }
        i++;
      }
      for (let k = 1; k < i - first; k++) this.#nextSeq(); // reserve the sequence numbers used
      if (lastOff < 0) continue;
      const op = describe(first + sent.indexOf(1));
      // ACK only the last message.
      const dv = this.#w.dv;
      const flagsAt = lastOff + 6;
      dv.setUint16(flagsAt, dv.getUint16(flagsAt, true) | C.NLM_F_ACK, true);
      try {
        this.#send(this.#w.view(), op);
      } catch (e) {
        for (let k = first; k < i; k++) {
          if (sent[k - first]) results[k] = batchFailure(e, describe(k), "send");
        }
        continue;
      }
      const answered = new Uint8Array(i - first);
      try {
        this.#readAnswers(seqBase, lastSeq, answered, (k, err) => {
          results[first + k] = new NetlinkError(describe(first + k), err.errno, err.extack);
        }, op);
      } catch (e) {
        for (let k = first; k < count; k++) {
          if (k >= i || (sent[k - first] && !answered[k - first])) {
            results[k] = batchFailure(e, describe(k), "read");
          }
        }
        return results;
      }
    }
    return results;
  }

  /**
   * Reads a batch write's answers until the ACK of `lastSeq`: `answered[k]` is set for the
   * message with sequence number `seqBase + k`, and `onError(k, ...)` called when it failed.
   */
  #readAnswers(
    seqBase: number,
    lastSeq: number,
    answered: Uint8Array,
    onError: (k: number, err: ErrorReply) => void,
    operation: string,
  ): void {
    let done = false;
    while (!done) {
      let n: number;
      try {
        n = this.#recv(operation);
      } catch (e) {
        if (e instanceof TruncatedReply) continue;
        throw e;
      }
      forEachMessage(this.#rbuf, n, (span) => {
        if (span.type !== C.NLMSG_ERROR) return true;
        const k = (span.seq - seqBase) >>> 0;
        if (k >= answered.length) return true;
        const err = decodeError(this.#rbuf, span);
        answered[k] = 1;
        if (err.errno) onError(k, err);
        if (span.seq === lastSeq) done = true;
        return true;
      });
    }
  }
}
