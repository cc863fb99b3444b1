/**
 * Noticing that etcd lost the history a store has seen: its data directory was wiped and it was
 * started again, it was restored from an older snapshot, or the endpoints now lead to another
 * cluster. etcd itself says nothing: a watch from a revision it has not reached yet is accepted
 * and waits, and would wait for good while the store keeps a snapshot of a history that is gone.
 *
 * Every etcd answer carries a header (`cluster_id`, `member_id`, `revision`). A request sent after
 * the store saw revision R must be answered at R or later by the same cluster (a linearizable
 * read, a write, the creation of a watch on an up-to-date member). An answer below R, or from
 * another cluster ID, is a suspicion; the store confirms it with a linearizable read before it
 * starts over, since a member that lags behind (a watch on a follower) or an answer that was
 * overtaken on the way can be below R without any history lost.
 *
 * A wiped single-member etcd started with the same flags gets the same cluster ID again (etcd
 * derives it from the member's peer URLs and the cluster token): there only the revision tells.
 *
 * @module
 */
/** The parts of an etcd response header the stores use. */
export interface EtcdHeader {
  /** The store revision of the member when it answered. */
  revision: number;
  /** The cluster's ID (decimal uint64 text; "" when the answer had none). */
  clusterId: string;
  /** The answering member's ID (decimal uint64 text; "" when the answer had none). */
  memberId: string;
}

/** What a store has seen of etcd: the highest revision and the cluster it came from. */
export interface EtcdSeen {
  revision: number;
  /** Undefined until an answer named one. */
  clusterId?: string;
}

/** An answer that shows etcd without the history seen. */
export interface EtcdHistoryLoss {
  /** "revision": etcd is behind the revision seen; "cluster": another cluster answered. */
  kind: "revision" | "cluster";
  /** What had been seen before (the revision the request was sent after). */
  seen: EtcdSeen;
  /** The header of the answer. */
  now: EtcdHeader;
}

/** The header of a parsed etcd answer (a watch message's is under `result`); undefined if none. */
export function etcdHeaderOf(j: unknown): EtcdHeader | undefined {
  // deno-lint-ignore no-explicit-any
  const h = (j as any)?.header ?? (j as any)?.result?.header;
  if (typeof h !== "object" || h === null) return undefined;
  const revision = Number(h.revision ?? 0);
  if (!Number.isSafeInteger(revision) || revision < 0) return undefined;
  const id = (v: unknown) => typeof v === "string" || typeof v === "number" ? String(v) : "";
  return { revision, clusterId: id(h.cluster_id), memberId: id(h.member_id) };
}

/**
 * The loss `now` shows, for an answer to a request sent after `seen`: another cluster ID (when
 * both are known and not "0"), or a revision below the one seen. Undefined when it fits.
 */
export function historyLoss(seen: EtcdSeen, now: EtcdHeader): EtcdHistoryLoss | undefined {
  const known = (id: string | undefined) => id !== undefined && id !== "" && id !== "0";
  const was: EtcdSeen = { revision: seen.revision };
  if (seen.clusterId !== undefined) was.clusterId = seen.clusterId;
  if (known(seen.clusterId) && known(now.clusterId) && seen.clusterId !== now.clusterId) {
    return { kind: "cluster", seen: was, now };
  }
  // revision 0: a header without one (etcd's revisions start at 1).
  if (now.revision > 0 && now.revision < seen.revision) return { kind: "revision", seen: was, now };
  return undefined;
}

/** The words for a loss, naming both revisions or both cluster IDs. */
export function describeHistoryLoss(loss: EtcdHistoryLoss): string {
  const member = loss.now.memberId ? ` (member ${loss.now.memberId})` : "";
  return loss.kind === "cluster"
    ? `etcd is another cluster: cluster ID ${loss.now.clusterId}${member}, was ${loss.seen.clusterId}`
    : `etcd lost its history: it is at revision ${loss.now.revision}${member}, below revision ` +
      `${loss.seen.revision} seen before (wiped and started again, or restored from an older snapshot)`;
}

/** What had been seen when a request was sent (EtcdHistory.mark()). */
export interface EtcdMark extends EtcdSeen {
  /** How many confirmed losses there had been: answers to requests sent before one are ignored. */
  epoch: number;
}

/**
 * The history a store has seen, fed with every answer's header: `mark()` before a request is
 * sent, `observe(header, mark)` when its answer comes. A loss is kept in `suspect` until the store
 * settles it with a re-list (`confirm()`).
 */
export class EtcdHistory {
  #seen: EtcdSeen = { revision: 0 };
  #epoch = 0;
  /** The first loss observed since the last confirm(); undefined when none. */
  suspect?: EtcdHistoryLoss;

  /** What has been seen: the highest revision, the cluster ID. */
  get seen(): Readonly<EtcdSeen> {
    return this.#seen;
  }

  /** What has been seen so far: an answer to a request sent now must not be below it. */
  mark(): EtcdMark {
    return { ...this.#seen, epoch: this.#epoch };
  }

  /**
   * Records the header of an answer to a request sent at `mark`; returns the loss when it shows
   * one (then it is not recorded, and kept in `suspect` unless one is already). An answer to a
   * request sent before the last confirmed loss is ignored (it may come from the old history).
   */
  observe(h: EtcdHeader, mark: EtcdMark): EtcdHistoryLoss | undefined {
    if (mark.epoch !== this.#epoch) return undefined;
    const loss = historyLoss(mark, h);
    if (loss) {
      this.suspect ??= loss;
      return loss;
    }
    this.#record(h);
    return undefined;
  }

  /**
   * Settles the suspicion with the header of a linearizable read sent at `mark`: the loss when it
   * shows one (the history seen then starts over from this answer), else undefined (the answer
   * is recorded: a lagging member or a late answer was suspected). Clears `suspect`.
   */
  confirm(h: EtcdHeader, mark: EtcdMark): EtcdHistoryLoss | undefined {
    this.suspect = undefined;
    const loss = mark.epoch === this.#epoch ? historyLoss(mark, h) : undefined;
    if (!loss) {
      this.#record(h);
      return undefined;
    }
    this.#epoch++;
    this.#seen = { revision: h.revision };
    if (h.clusterId && h.clusterId !== "0") this.#seen.clusterId = h.clusterId;
    return loss;
  }

  #record(h: EtcdHeader): void {
    if (h.revision > this.#seen.revision) this.#seen.revision = h.revision;
    if (h.clusterId && h.clusterId !== "0") this.#seen.clusterId ??= h.clusterId;
  }
}
