/**
 * The grace period for another node's expired lease (issue 14 item 3: a hung daemon is not a
 * dead node). A lease that leaves the datastore **by expiring** stays programmed while its node
 * IP still answers on the underlay, for at most `graceMs`; a lease that was released or deleted
 * (its expiration still ahead) goes at once, like flannel. The node IP is probed from the node's
 * own namespace (an ICMP echo, net/probe.ts); a few unanswered probes in a row end the grace
 * early. A lease for the same subnet coming back (the node's daemon resumed and renewed, or
 * another node took the subnet) ends it too: the datastore's record wins.
 *
 * @module
 */
import type { Lease } from "../store/types.ts";
import { sleep } from "../store/sleeper.ts";

/** Options of LeaseGrace. */
export interface LeaseGraceOptions {
  /** Longest time an expired lease is kept (ms); 0 turns the grace off. */
  graceMs: number;
  /** Does this node IP answer on the underlay? (Rejections count as "no".) */
  probe: (ip: string) => Promise<boolean>;
  /** A held lease was let go (`why`): a reconcile is due. */
  onRelease: (lease: Lease, why: string) => void;
  /** Pause between probes of a node that answers (ms, default 2000). */
  probeEveryMs?: number;
  /** Unanswered probes in a row that end the grace (default 3, 200 ms apart). */
  failures?: number;
  /** Clock (ms epoch), for tests. */
  now?: () => number;
}

interface Held {
  lease: Lease;
  until: number;
}

/** How far before its expiration a removed lease still counts as expired (clock skew, polling). */
const EXPIRY_SLACK_MS = 5_000;

/** Leases held past their expiration while their node answers (see the module doc). */
export class LeaseGrace {
  #o: LeaseGraceOptions;
  #held = new Map<string, Held>();
  #ac = new AbortController();
  #now: () => number;

  constructor(o: LeaseGraceOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /**
   * Another node's lease left the datastore. Returns true when it is held (expired, grace on,
   * node IP to probe); false when it must go now (released or deleted, or grace off).
   */
  removed(lease: Lease): boolean {
    if (this.#o.graceMs <= 0 || this.#ac.signal.aborted || !lease.publicIP) return false;
    const exp = Date.parse(lease.expiration);
    if (!Number.isFinite(exp) || exp > this.#now() + EXPIRY_SLACK_MS) return false;
    const held: Held = { lease, until: this.#now() + this.#o.graceMs };
    this.#held.set(lease.subnet, held);
    this.#watch(held).catch(() => {}); // never rejects: probe errors count as "no answer"
    return true;
  }

  /** A lease for this subnet is in the datastore (again): the held one is dropped silently. */
  added(lease: Lease): void {
    this.#held.delete(lease.subnet);
  }

  /** The leases held now. */
  leases(): Lease[] {
    return [...this.#held.values()].map((h) => h.lease);
  }

  /** Stops every probe loop; nothing is held afterwards. */
  close(): void {
    this.#ac.abort();
    this.#held.clear();
  }

  async #watch(held: Held): Promise<void> {
    const signal = this.#ac.signal;
    const failuresMax = this.#o.failures ?? 3;
    let failures = 0;
    while (this.#held.get(held.lease.subnet) === held && !signal.aborted) {
      if (this.#now() >= held.until) {
        this.#release(held, `grace period of ${Math.round(this.#o.graceMs / 1000)} s over`);
        return;
      }
      const ok = await this.#o.probe(held.lease.publicIP).catch(() => false);
      if (this.#held.get(held.lease.subnet) !== held || signal.aborted) return;
      failures = ok ? 0 : failures + 1;
      if (failures >= failuresMax) {
        this.#release(held, `node IP ${held.lease.publicIP} does not answer`);
        return;
      }
      await sleep(ok ? this.#o.probeEveryMs ?? 2000 : 200, signal);
    }
  }

  #release(held: Held, why: string): void {
    this.#held.delete(held.lease.subnet);
    this.#o.onRelease(held.lease, why);
  }
}
