/**
 * One poll() for many sockets: waiters register (fd, read|write, timeout) and a single loop parks
 * one poll() on a helper thread (FFI `nonblocking`) over all of them plus an eventfd that wakes
 * it when the set changes. Parking one helper thread per socket does not scale: Deno's helper
 * pool is bounded, and a speaker with a hundred sessions would starve its own connects and
 * accepts. Descriptors handed to `release()` are closed once no poll can still be watching them.
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import * as L from "./libc.ts";

interface Waiter {
  fd: number;
  events: number;
  deadline: number;
  resolve: (ready: boolean) => void;
}

/** A shared poll loop (see the module doc). */
export class Poller {
  #waiters = new Set<Waiter>();
  #wake = -1;
  #polling = false;
  #pendingClose: number[] = [];
  #wakeBuf = new Uint8Array(new BigUint64Array([1n]).buffer);
  #drainBuf = new Uint8Array(8);
  #polls = 0;

  /** How many poll() calls the loop made (an idle loop makes none: tests). */
  get polls(): number {
    return this.#polls;
  }

  #ensureWake(): number {
    if (this.#wake < 0) {
      const fd = L.libcPoll().eventfd(0, L.EFD_CLOEXEC | L.EFD_NONBLOCK);
      if (fd < 0) throw new NetlinkError("Cannot create an eventfd for the poll loop", L.errno());
      this.#wake = fd;
    }
    return this.#wake;
  }

  #kick(): void {
    if (this.#polling) L.libcPoll().write(this.#wake, this.#wakeBuf, 8n);
  }

  /**
   * Resolves true once `fd` is readable ("read") or writable ("write") — or has an error or
   * hang-up — and false after `timeoutMs` (< 0: no bound) or when `cancel(fd)` is called.
   */
  wait(fd: number, what: "read" | "write", timeoutMs = -1): Promise<boolean> {
    this.#ensureWake();
    return new Promise((resolve) => {
      this.#waiters.add({
        fd,
        events: what === "read" ? L.POLLIN : L.POLLOUT,
        deadline: timeoutMs < 0 ? Infinity : performance.now() + timeoutMs,
        resolve,
      });
      if (this.#polling) this.#kick();
      else this.#loop();
    });
  }

  /** Resolves every wait on `fd` false. */
  cancel(fd: number): void {
    for (const w of this.#waiters) {
      if (w.fd !== fd) continue;
      this.#waiters.delete(w);
      w.resolve(false);
    }
    this.#kick();
  }

  /** Cancels the waits on `fd` and closes it once no running poll watches it. */
  release(fd: number): void {
    this.cancel(fd);
    if (this.#polling) this.#pendingClose.push(fd);
    else L.libc().close(fd);
  }

  async #loop(): Promise<void> {
    this.#polling = true;
    try {
      while (this.#waiters.size > 0) {
        const list = [...this.#waiters];
        const fds = new Uint8Array(8 * (list.length + 1));
        const dv = new DataView(fds.buffer);
        dv.setInt32(0, this.#wake, true);
        dv.setInt16(4, L.POLLIN, true);
        let deadline = Infinity;
        list.forEach((w, i) => {
          dv.setInt32(8 * (i + 1), w.fd, true);
          dv.setInt16(8 * (i + 1) + 4, w.events, true);
          deadline = Math.min(deadline, w.deadline);
        });
        const timeout = deadline === Infinity
          ? -1
          : Math.max(0, Math.ceil(deadline - performance.now()));
        this.#polls++;
        await L.libcPoll().poll(fds, BigInt(list.length + 1), timeout);
        for (const fd of this.#pendingClose.splice(0)) L.libc().close(fd);
        // read(), not recv(): an eventfd is no socket. Left undrained it stays readable and
        // every later poll() returns at once: the loop spun on a CPU for as long as any socket
        // waited (an idle bgp daemon: a core, and garbage that grew its heap).
        if (dv.getInt16(6, true) !== 0) L.libcPoll().read(this.#wake, this.#drainBuf, 8n);
        const now = performance.now();
        list.forEach((w, i) => {
          if (!this.#waiters.has(w)) return;
          const revents = dv.getInt16(8 * (i + 1) + 6, true);
          if (revents !== 0 || now >= w.deadline) {
            this.#waiters.delete(w);
            w.resolve(revents !== 0);
          }
        });
      }
    } finally {
      this.#polling = false;
      for (const fd of this.#pendingClose.splice(0)) L.libc().close(fd);
    }
  }
}

let shared: Poller | undefined;

/** The process's shared poll loop. */
export function sharedPoller(): Poller {
  shared ??= new Poller();
  return shared;
}
