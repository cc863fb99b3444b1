/**
 * One BGP connection: a TCP socket (net/tcp.ts) driven by one SessionFsm. It frames and decodes
 * what arrives, feeds the FSM, runs its actions (connect, send, close) and its timers, and hands
 * the session news (established, update, end-of-rib, route-refresh, down) and its end (Idle) to
 * the speaker. A decoding error becomes the RFC's NOTIFICATION on this connection only.
 *
 * @module
 */

import { NetlinkError } from "../../net/errors.ts";
import { type TcpEndpoint, TcpSocket } from "../../net/tcp.ts";
import type { NetnsRef } from "../../net/types.ts";
import { type BgpMessage, decodeMessage, encodeMessage, frameLength } from "./codec.ts";
import { BgpError } from "./errors.ts";
import { type FsmAction, type FsmConfig, type FsmEvent, type FsmState, SessionFsm } from "./fsm.ts";

/** What a connection tells the speaker. */
export interface ConnListener {
  /** Session news (established, update, end-of-rib, route-refresh, down). */
  onNews(conn: Conn, action: FsmAction): void;
  /** The FSM changed state (OpenConfirm: the peer's identifier is known, check collisions). */
  onState(conn: Conn, state: FsmState): void;
  /** The connection ended (FSM Idle); it is closed and will not come back. */
  onEnd(conn: Conn): void;
  /** A message went out (for the update counters). */
  onSent(conn: Conn, msg: BgpMessage): void;
}

/** How to build a connection. */
export interface ConnOptions {
  fsm: FsmConfig;
  /** Accepted from the peer (passive FSM); otherwise this side connects. */
  inbound?: TcpSocket;
  remote: TcpEndpoint;
  netns?: NetnsRef;
  md5Key?: string;
  /** Local address to connect from. */
  local?: string;
  listener: ConnListener;
  /** The clock (ms); default performance.now. */
  now?: () => number;
}

const READ_CHUNK = 64 * 1024;

/** One TCP connection to a peer with its state machine. */
export class Conn {
  readonly fsm: SessionFsm;
  readonly inbound: boolean;
  readonly remote: TcpEndpoint;
  #opts: ConnOptions;
  #sock?: TcpSocket;
  #rbuf = new Uint8Array(0);
  #outq: Uint8Array<ArrayBuffer>[] = [];
  #flushing = false;
  #timer?: ReturnType<typeof setTimeout>;
  #ended = false;
  #now: () => number;

  constructor(opts: ConnOptions) {
    this.#opts = opts;
    this.inbound = opts.inbound !== undefined;
    this.remote = opts.remote;
    this.#now = opts.now ?? (() => performance.now());
    this.fsm = new SessionFsm({
      ...opts.fsm,
      passive: this.inbound || opts.fsm.passive,
      autoRestart: false,
    });
  }

  /** This side's address on the connection (undefined before TCP is up). */
  get localAddress(): string | undefined {
    try {
      return this.#sock?.local().address;
    } catch {
      return undefined;
    }
  }

  /** True once the connection has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Starts the FSM: an inbound connection sends its OPEN now, an outbound one connects. */
  start(): void {
    this.#handle({ type: "start" });
    if (this.#opts.inbound) {
      this.#sock = this.#opts.inbound;
      this.#handle({ type: "tcp-up" });
      this.#read(this.#opts.inbound);
    }
  }

  /** Ends the session with Cease `subcode` (6/2 by default), or drops it silently. */
  stop(subcode?: number, silent = false): void {
    if (silent) {
      this.#sock?.close();
      this.#sock = undefined;
      this.#handle({ type: "tcp-down", reason: "closed by this node" });
      this.#handle({ type: "stop", subcode });
    } else this.#handle({ type: "stop", subcode });
    this.#end();
  }

  /** Sends messages (Established: UPDATEs, End-of-RIB, ROUTE-REFRESH). */
  send(msgs: BgpMessage[]): void {
    for (const m of msgs) this.#write(m);
  }

  #handle(ev: FsmEvent): void {
    if (this.#ended) return;
    const before = this.fsm.state;
    const actions = this.fsm.handle(ev, this.#now());
    for (const a of actions) this.#run(a);
    if (this.fsm.state !== before) this.#opts.listener.onState(this, this.fsm.state);
    if (this.fsm.state === "Idle") this.#end();
    else this.#arm();
  }

  #run(a: FsmAction): void {
    switch (a.type) {
      case "connect":
        this.#connect();
        return;
      case "send":
        this.#write(a.msg);
        return;
      case "close":
        this.#sock?.close();
        this.#sock = undefined;
        this.#rbuf = new Uint8Array(0);
        this.#outq = [];
        return;
      default:
        this.#opts.listener.onNews(this, a);
    }
  }

  #arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const d = this.fsm.nextDeadline();
    if (d === undefined || this.#ended) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // What arrived while this process was busy comes before a timer: a hold timer must not
      // expire over KEEPALIVEs that wait in the socket (BIRD checks its socket the same way).
      this.#drain();
      if (this.#ended) return;
      this.#handle({ type: "tick" });
    }, Math.max(0, d - this.#now()));
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#sock?.close();
    this.#sock = undefined;
    this.#opts.listener.onEnd(this);
  }

  #connect(): void {
    const o = this.#opts;
    TcpSocket.connect({
      netns: o.netns,
      remote: o.remote,
      local: o.local,
      md5Key: o.md5Key,
      timeoutMs: 5000,
    }).then(
      (sock) => {
        if (this.#ended || this.fsm.state !== "Connect") {
          sock.close();
          return;
        }
        this.#sock = sock;
        this.#handle({ type: "tcp-up" });
        this.#read(sock);
      },
      (e) => this.#handle({ type: "tcp-down", reason: (e as Error).message }),
    );
  }

  /** Reads and handles, synchronously, whatever the socket holds now (errors and EOF: #read's). */
  #drain(): void {
    const sock = this.#sock;
    if (!sock) return;
    const buf = new Uint8Array(READ_CHUNK);
    while (this.#sock === sock && !this.#ended) {
      let n: number;
      try {
        n = sock.recv(buf);
      } catch {
        return;
      }
      if (n <= 0) return;
      this.#append(buf.subarray(0, n));
      this.#frames(sock);
    }
  }

  #append(chunk: Uint8Array): void {
    const next = new Uint8Array(this.#rbuf.length + chunk.length);
    next.set(this.#rbuf);
    next.set(chunk, this.#rbuf.length);
    this.#rbuf = next;
  }

  async #read(sock: TcpSocket): Promise<void> {
    const buf = new Uint8Array(READ_CHUNK);
    while (this.#sock === sock && !this.#ended) {
      let n: number;
      try {
        n = sock.recv(buf);
      } catch (e) {
        if (!(e instanceof NetlinkError)) throw e;
        this.#handle({ type: "tcp-down", reason: e.message });
        return;
      }
      if (n === 0) {
        this.#handle({ type: "tcp-down", reason: "the peer closed the connection" });
        return;
      }
      if (n < 0) {
        if (!(await sock.wait("read"))) return;
        continue;
      }
      this.#append(buf.subarray(0, n));
      this.#frames(sock);
    }
  }

  /** Decodes and feeds every whole message buffered. */
  #frames(sock: TcpSocket): void {
    let at = 0;
    while (this.#sock === sock && !this.#ended) {
      const rest = this.#rbuf.subarray(at);
      let msg: BgpMessage;
      try {
        const len = frameLength(rest);
        if (len === undefined || rest.length < len) break;
        const n = this.fsm.negotiated;
        msg = decodeMessage(rest.subarray(0, len), {
          as4: n?.as4 ?? true,
          ebgp: n?.ibgp === false,
        });
        at += len;
      } catch (e) {
        if (!(e instanceof BgpError)) throw e;
        this.#handle({ type: "error", error: e });
        return;
      }
      this.#handle({ type: "message", msg });
    }
    if (this.#sock === sock) this.#rbuf = this.#rbuf.slice(at);
  }

  #write(msg: BgpMessage): void {
    const sock = this.#sock;
    if (!sock) return;
    const bytes = encodeMessage(msg, { as4: this.fsm.negotiated?.as4 ?? true });
    this.#opts.listener.onSent(this, msg);
    if (this.#outq.length > 0) {
      this.#outq.push(bytes);
      return;
    }
    let n: number;
    try {
      n = sock.send(bytes);
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e;
      queueMicrotask(() =>
        this.#sock === sock && this.#handle({ type: "tcp-down", reason: e.message })
      );
      return;
    }
    if (n < bytes.length) {
      this.#outq.push(bytes.slice(n));
      this.#flush(sock);
    }
  }

  async #flush(sock: TcpSocket): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#sock === sock && this.#outq.length > 0) {
        if (!(await sock.wait("write"))) return;
        while (this.#outq.length > 0) {
          const head = this.#outq[0]!;
          const n = sock.send(head);
          if (n === 0) break;
          if (n < head.length) this.#outq[0] = head.slice(n);
          else this.#outq.shift();
        }
      }
    } catch (e) {
      if (!(e instanceof NetlinkError)) throw e;
      if (this.#sock === sock) this.#handle({ type: "tcp-down", reason: e.message });
    } finally {
      this.#flushing = false;
    }
  }
}
