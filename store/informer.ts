/**
 * A lease informer: the one list-then-watch loop every datastore is read through (file, etcd,
 * and later kubernetes), the way client-go's reflector feeds its store. It lists, watches from
 * exactly that list's revision, and on any watch error, end or resync lists again and turns the
 * difference from its cache into events, so no change between a list and a watch is lost.
 *
 * What a consumer gets:
 * - `leases()`: the cache, a consistent snapshot of the datastore at `revision` (it changes only
 *   in one synchronous step per batch, so code that reads it without awaiting sees one state);
 * - `onChange(batch)` after each applied batch: only real changes (an "added" for a lease the
 *   cache already holds unchanged and a "removed" for one it does not hold are dropped, so an
 *   event is never delivered twice), in the store's order per key.
 *
 * @module
 */
import { subnetKey } from "./flannel.ts";
import { leaseIdentity } from "./_util.ts";
import { Sleeper } from "./sleeper.ts";
import type { Lease, LeaseEvent, LeaseStore, Revision } from "./types.ts";

/** What changed in one applied batch. */
export interface InformerBatch {
  /** "list": a (re-)list replaced the cache; "watch": events of the watch. */
  source: "list" | "watch";
  /** The changes to the cache ("added" also for a changed lease). Empty for a list that changed nothing. */
  events: LeaseEvent[];
  /** The cache's revision after the batch. */
  revision: Revision;
}

/** Options of {@linkcode LeaseInformer}. */
export interface LeaseInformerOptions {
  /** Where the leases come from. */
  store: Pick<LeaseStore, "list" | "watch">;
  /** Called (synchronously) after each batch is applied to the cache, the first list included. */
  onChange?: (batch: InformerBatch) => void;
  /** Called when a list or watch fails, before the wait of `retryInMs` and the next list. */
  onError?: (e: Error, retryInMs: number) => void;
  /** Backoff between failed rounds (ms, default 500 … 30000); a round that listed resets it. */
  backoff?: { minMs: number; maxMs: number };
}

/** The cache key of a lease: its record's key in the store. */
export function leaseKey(l: Pick<Lease, "subnet" | "subnet6">): string {
  return subnetKey(l.subnet, l.subnet6);
}

/** List-then-watch of a LeaseStore into a cache. */
export class LeaseInformer {
  #o: LeaseInformerOptions;
  #cache = new Map<string, Lease>();
  #revision?: Revision;
  #synced = false;
  #relists = 0;

  constructor(opts: LeaseInformerOptions) {
    this.#o = opts;
  }

  /** True once the first list is in the cache. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The revision the cache holds (undefined before the first list). */
  get revision(): Revision | undefined {
    return this.#revision;
  }

  /** How many lists ran after the first one (a watch error or end, or a resync the store sent). */
  get relists(): number {
    return this.#relists;
  }

  /** The cached leases by leaseKey(): the datastore as of `revision`. Do not modify. */
  leases(): ReadonlyMap<string, Lease> {
    return this.#cache;
  }

  /** Lists and watches until `signal` aborts; never throws (errors go to onError, then a re-list). */
  async run(signal: AbortSignal): Promise<void> {
    const min = this.#o.backoff?.minMs ?? 500;
    const max = this.#o.backoff?.maxMs ?? 30_000;
    const sleeper = new Sleeper();
    let wait = min;
    while (!signal.aborted) {
      try {
        const snap = await this.#o.store.list();
        if (signal.aborted) return;
        if (this.#synced) this.#relists++;
        this.#replace(snap.leases, snap.revision, "list");
        wait = min;
        for await (const item of this.#o.store.watch(snap.revision, signal)) {
          if (signal.aborted) return;
          if ("resync" in item) {
            this.#relists++;
            this.#replace(item.resync.leases, item.resync.revision, "list");
          } else this.#apply(item.events, item.revision);
        }
        if (!signal.aborted) throw new Error("the watch ended");
      } catch (e) {
        if (signal.aborted) return;
        this.#o.onError?.(e as Error, wait);
        await sleeper.sleep(wait, signal);
        wait = Math.min(wait * 2, max);
      }
    }
  }

  /** Replaces the cache with a full list; the batch holds the difference. */
  #replace(leases: readonly Lease[], revision: Revision, source: InformerBatch["source"]): void {
    const next = new Map<string, Lease>();
    for (const l of leases) next.set(leaseKey(l), l);
    const events: LeaseEvent[] = [];
    for (const [k, l] of next) {
      const old = this.#cache.get(k);
      if (!old || !sameLease(old, l)) events.push({ type: "added", lease: l });
    }
    for (const [k, l] of this.#cache) if (!next.has(k)) events.push({ type: "removed", lease: l });
    this.#cache = next;
    this.#revision = revision;
    this.#synced = true;
    this.#o.onChange?.({ source, events, revision });
  }

  /** Applies watch events in order; drops the ones that change nothing. */
  #apply(events: readonly LeaseEvent[], revision: Revision): void {
    const out: LeaseEvent[] = [];
    for (const ev of events) {
      const k = leaseKey(ev.lease);
      const old = this.#cache.get(k);
      if (ev.type === "added") {
        this.#cache.set(k, ev.lease); // a renewal refreshes the expiration, silently
        if (!old || !sameLease(old, ev.lease)) out.push(ev);
      } else if (old) {
        this.#cache.delete(k);
        // The store's last record when it sends one (its expiration is current: whether the
        // lease expired or was deleted can matter), else the cached one.
        out.push({ type: "removed", lease: ev.lease.node ? ev.lease : old });
      }
    }
    this.#revision = revision;
    if (out.length > 0) this.#o.onChange?.({ source: "watch", events: out, revision });
  }
}

/** Same lease apart from its expiration (a renewal is not a change). */
function sameLease(a: Lease, b: Lease): boolean {
  return a === b || leaseIdentity(a) === leaseIdentity(b);
}
