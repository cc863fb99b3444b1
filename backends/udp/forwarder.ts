/**
 * The daemon's side of the udp forwarding worker (worker.ts): starts it with the TUN and socket
 * fds, hands it the lease table on every reconcile (postMessage, then a write to the eventfd the
 * worker polls), reads its counters and the unknown senders it refused from shared memory, and
 * stops it.
 *
 * @module
 */
import * as L from "../../net/libc.ts";
import { COUNTER_SLOTS, readCounters, type UdpCounters } from "./counters.ts";
import type { PeerTableSpec } from "./packet.ts";
import { readUnknownSenders, SENDERS_BYTES, type UnknownSenders } from "./unknown_senders.ts";

/** Messages the worker takes. */
export type ForwarderMessage =
  | {
    type: "init";
    tunFd: number;
    sockFd: number;
    wakeFd: number;
    counters: SharedArrayBuffer;
    /** The table of refused unknown senders (unknown_senders.ts). */
    senders: SharedArrayBuffer;
    seq: SharedArrayBuffer;
    slots: number;
    /** The TUN fd carries a virtio_net_hdr and TCP super-packets (net/tun.ts `offload`). */
    offload: boolean;
    /** Send runs of equal-size packets to one peer with UDP GSO, receive with UDP GRO. */
    gso: boolean;
  }
  | { type: "table"; seq: number; spec: PeerTableSpec }
  /** Read and write the TUN device through `tunFd` from now on (it was recreated). */
  | { type: "tun"; seq: number; tunFd: number }
  | { type: "stop" };

/** A running forwarding worker. */
export class Forwarder {
  #worker: Worker;
  #wake: number;
  #counters = new SharedArrayBuffer(COUNTER_SLOTS * 8);
  #senders = new SharedArrayBuffer(SENDERS_BYTES);
  #seqBuf = new SharedArrayBuffer(8);
  #seq = new Int32Array(this.#seqBuf);
  #stopped: Promise<void>;
  #closed = false;
  #last = "";

  /** Starts the worker on `tunFd` and `sockFd` (the caller keeps owning and closes them). */
  constructor(
    opts: { tunFd: number; sockFd: number; offload: boolean; slots?: number; gso?: boolean },
  ) {
    this.#wake = L.libcPoll().eventfd(0, L.EFD_CLOEXEC | L.EFD_NONBLOCK);
    if (this.#wake < 0) throw new Error(`Cannot create an eventfd (errno ${L.errno()})`);
    this.#worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    this.#stopped = new Promise((resolve) => {
      this.#worker.onmessage = (e) => {
        if ((e.data as { type?: string })?.type === "stopped") resolve();
      };
      this.#worker.onerror = (e) => {
        e.preventDefault();
        resolve();
      };
    });
    const init: ForwarderMessage = {
      type: "init",
      tunFd: opts.tunFd,
      sockFd: opts.sockFd,
      wakeFd: this.#wake,
      counters: this.#counters,
      senders: this.#senders,
      seq: this.#seqBuf,
      slots: opts.slots ?? 64,
      offload: opts.offload,
      gso: opts.gso ?? true,
    };
    this.#worker.postMessage(init);
  }

  #wakeUp(): void {
    const one = new Uint8Array(8);
    one[0] = 1;
    L.libcPoll().write(this.#wake, one, 8n);
  }

  /** Hands the worker a new lease table (nothing is sent when it did not change). */
  setTable(spec: PeerTableSpec): void {
    if (this.#closed) return;
    const text = JSON.stringify(spec);
    if (text === this.#last) return;
    this.#last = text;
    const seq = Atomics.add(this.#seq, 0, 1) + 1;
    this.#worker.postMessage({ type: "table", seq, spec } satisfies ForwarderMessage);
    this.#wakeUp();
  }

  /**
   * Moves the worker to a new TUN fd (the device was recreated). Returns the message's sequence
   * number: the old fd may be closed once applied() reaches it, not before (the worker may still
   * be reading it, and a closed number is soon another file's).
   */
  setTun(tunFd: number): number {
    const seq = Atomics.add(this.#seq, 0, 1) + 1;
    if (this.#closed) return seq;
    this.#worker.postMessage({ type: "tun", seq, tunFd } satisfies ForwarderMessage);
    this.#wakeUp();
    return seq;
  }

  /** The sequence number of the last table or TUN fd the worker took. */
  applied(): number {
    return Atomics.load(this.#seq, 1);
  }

  /** What the worker counted so far. */
  counters(): UdpCounters {
    return readCounters(new Float64Array(this.#counters));
  }

  /** The last distinct senders the worker refused as `unknown-source`. */
  unknownSenders(): UnknownSenders {
    return readUnknownSenders(this.#senders);
  }

  /** Stops the worker (waits up to 2 s, then terminates it) and closes the eventfd. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.postMessage({ type: "stop" } satisfies ForwarderMessage);
    this.#wakeUp();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#stopped,
      new Promise((r) => timer = setTimeout(r, 2000)),
    ]);
    clearTimeout(timer);
    this.#worker.terminate();
    L.libc().close(this.#wake);
  }
}
