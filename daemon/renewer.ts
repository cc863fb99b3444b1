/**
 * Lease renewal on a Worker thread: its own event loop and timer keep the lease alive while the
 * daemon's main thread is busy (a long reconcile, a GC pause, a synchronous kernel call that
 * hangs). The worker opens its own connection to the datastore (the same datastore table entry)
 * and renews the lease it was last given every ttl/3 (sooner after a failure, never later than
 * ttl/6 while failing); the main thread reads the results when it gets to them. What it cannot
 * keep alive: a stopped process (SIGSTOP stops every thread); see the lease grace period for that.
 *
 * @module
 */
import type { Lease } from "../store/types.ts";
import type { DaemonConfig } from "./config.ts";

/** What the worker reports after each renewal attempt. */
export type RenewResult =
  /** Renewed: the lease as the datastore now has it (new expiration). */
  | { type: "renewed"; lease: Lease }
  /** The lease is gone or another node's: acquire again (the worker waits for a new lease). */
  | { type: "lost"; message: string }
  /** The datastore failed; the worker retries by itself. */
  | { type: "error"; message: string }
  /** The worker could not start (store not openable): renew on the main thread instead. */
  | { type: "failed"; message: string }
  /** The worker's datastore warned (e.g. it restored this node's record): the daemon logs it. */
  | { type: "warning"; message: string; fields?: Record<string, unknown> };

/** Messages to the worker. */
export type RenewCommand =
  | {
    type: "start";
    datastore: DaemonConfig["datastore"];
    backoff: { minMs: number; maxMs: number };
  }
  /** Renew this lease from now on (`now`: at once, else after ttl/3). */
  | { type: "renew"; lease: Lease; now: boolean }
  /** Stop renewing until the next "renew" (the lease is being acquired again). */
  | { type: "pause" }
  | { type: "close" };

/** A renewer the daemon drives (workerRenewer(); fakes in tests). */
export interface LeaseRenewer {
  /** Renews `lease` every ttl/3 from now on, replacing the previous one; at once with `now`. */
  renew(lease: Lease, now?: boolean): void;
  /** Stops renewing until renew() is called again. */
  pause(): void;
  /** The results, in order, until close(). */
  results(): AsyncIterable<RenewResult>;
  /** Stops the worker (idempotent). */
  close(): Promise<void>;
}

/** Options of workerRenewer(). */
export interface WorkerRenewerOptions {
  datastore: DaemonConfig["datastore"];
  /** Retry bounds after a failed renewal (ms). */
  backoff?: { minMs: number; maxMs: number };
}

/** Starts a renewal worker (daemon/renew_worker.ts) for the configured datastore. */
export function workerRenewer(o: WorkerRenewerOptions): LeaseRenewer {
  const w = new Worker(new URL("./renew_worker.ts", import.meta.url).href, { type: "module" });
  const queue: RenewResult[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const push = (r: RenewResult) => {
    queue.push(r);
    wake?.();
  };
  w.onmessage = (ev: MessageEvent<RenewResult>) => push(ev.data);
  w.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    push({ type: "failed", message: ev.message });
  };
  const post = (c: RenewCommand) => {
    if (!closed) w.postMessage(c);
  };
  post({
    type: "start",
    datastore: o.datastore,
    backoff: o.backoff ?? { minMs: 500, maxMs: 30_000 },
  });
  return {
    renew: (lease, now = false) => post({ type: "renew", lease, now }),
    pause: () => post({ type: "pause" }),
    async *results() {
      while (!closed || queue.length > 0) {
        const r = queue.shift();
        if (r) {
          yield r;
          continue;
        }
        if (closed) return;
        await new Promise<void>((res) => (wake = res));
        wake = undefined;
      }
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      // The worker closes its datastore, then itself; terminate() is the bound if it hangs.
      w.postMessage({ type: "close" } satisfies RenewCommand);
      wake?.();
      return new Promise<void>((res) => {
        const t = setTimeout(() => {
          w.terminate();
          res();
        }, 2000);
        w.addEventListener("message", (ev) => {
          if ((ev as MessageEvent).data?.type === "closed") {
            clearTimeout(t);
            w.terminate();
            res();
          }
        });
      });
    },
  };
}
