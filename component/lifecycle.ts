/**
 * The lifecycle backends and datastores share. The daemon creates a component from its table
 * entry (backends/registry.ts, store/registry.ts), calls `start(host)` once before relying on it
 * and `close()` when it stops. A component that learns something on its own (a BGP session, a
 * udp backend's worker, a datastore's reconnect) calls `host.requestReconcile(reason)`: the
 * daemon coalesces such requests with lease and kernel events into one reconcile.
 *
 * host-gw, vxlan and ipip do all their work in setup() and reconcile(), so they have neither
 * method; the file and etcd stores have only close() (their watch runs inside watch()).
 *
 * @example
 * ```ts
 * import type { Lifecycle, LifecycleHost } from "./lifecycle.ts";
 * class Speaker implements Lifecycle {
 *   #host?: LifecycleHost;
 *   start(host: LifecycleHost): Promise<void> {
 *     this.#host = host; // open sockets here; call host.requestReconcile("peer up") on news
 *     return Promise.resolve();
 *   }
 *   close(): Promise<void> {
 *     return Promise.resolve(); // close the sockets
 *   }
 * }
 * ```
 *
 * @module
 */

/** What the daemon hands a component when it starts it. */
export interface LifecycleHost {
  /**
   * Asks for a reconcile soon (coalesced with other requests; counted as trigger "backend" or
   * "datastore"). `reason` says what changed, for the log. Cheap; safe to call at any time.
   */
  requestReconcile(reason: string): void;
  /** Aborted when the daemon stops: end background loops. */
  readonly signal: AbortSignal;
  /**
   * Writes one line to the daemon's log (logfmt, with the component named), e.g. a BGP session
   * coming up. Optional: a component started by a test may get a host without it.
   */
  log?(level: "info" | "warn", msg: string, fields?: Record<string, unknown>): void;
}

/** start/close as backends and datastores implement them (both optional: most need neither). */
export interface Lifecycle {
  /** Starts background work (sockets, workers); called once, after setup, before reconciles. */
  start?(host: LifecycleHost): Promise<void>;
  /** Releases what the component holds (sockets, connections, timers). Idempotent. */
  close?(): Promise<void>;
}
