/**
 * What the daemon logs about skipped leases: only what changed since the last reconcile (newly
 * skipped, or skipped for another reason now; no longer skipped), not the whole list. With 200
 * leases skipped, 5 more used to log 205 lines, every time the list changed.
 *
 * @module
 */
import type { Skipped } from "../backends/types.ts";

/** The skipped leases of one reconcile, by subnet (a subnet skipped twice: its reasons joined). */
export type SkipState = ReadonlyMap<string, string>;

/** skipChanges()'s answer. */
export interface SkipChanges {
  /** The state to pass next time. */
  next: SkipState;
  /** Newly skipped, or skipped for another reason than last time, with the reason now. */
  skipped: Skipped[];
  /** Subnets skipped last time and not now (programmed now, or gone from the datastore). */
  cleared: string[];
}

/**
 * The difference between the last reconcile's skipped leases (`prev`) and this one's (`now`).
 *
 * @example
 * ```ts
 * const a = skipChanges(new Map(), [{ subnet: "10.244.3.0/24", reason: "not on-link" }]);
 * a.skipped.length; // 1
 * const b = skipChanges(a.next, []);
 * b.cleared; // ["10.244.3.0/24"]
 * ```
 */
export function skipChanges(prev: SkipState, now: readonly Skipped[]): SkipChanges {
  const next = new Map<string, string>();
  let more: Map<string, string[]> | undefined; // subnets skipped for more than one reason
  for (let i = 0; i < now.length; i++) {
    const s = now[i]!;
    const had = next.get(s.subnet);
    if (had === undefined) next.set(s.subnet, s.reason);
    else if (had !== s.reason) {
      const list = (more ??= new Map()).get(s.subnet) ?? [had];
      if (!list.includes(s.reason)) list.push(s.reason);
      more.set(s.subnet, list);
    }
  }
  more?.forEach((reasons, subnet) => next.set(subnet, reasons.join("; ")));
  const skipped: Skipped[] = [];
  next.forEach((reason, subnet) => {
    if (prev.get(subnet) !== reason) skipped.push({ subnet, reason });
  });
  const cleared: string[] = [];
  prev.forEach((_, subnet) => {
    if (!next.has(subnet)) cleared.push(subnet);
  });
  return { next, skipped, cleared };
}
