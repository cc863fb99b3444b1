/**
 * Drift accounting for /readyz and the metrics: after each reconcile, what its kernel snapshot
 * (and the setup and lease-file checks) found different from the plan, what it changed, and
 * what is still different; since when the node has not matched its plan.
 *
 * @module
 */
import type { DriftKind } from "../backends/types.ts";
import type { DaemonMetrics } from "./metrics.ts";

/** Drift kinds on a node: the backends' kernel objects plus the lease files. */
export type NodeDriftKind = DriftKind | "lease_file";

/** Counts per node drift kind. */
export type NodeDrift = Partial<Record<NodeDriftKind, number>>;

/** Every kind, in the order metrics and messages list them. */
export const DRIFT_KINDS: readonly NodeDriftKind[] = [
  "route",
  "neigh",
  "fdb",
  "addr",
  "device",
  "sysctl",
  "lease_file",
];

/** `into[k] += from[k]` for every kind. */
export function addCounts(into: NodeDrift, from: NodeDrift | undefined): NodeDrift {
  if (!from) return into;
  for (const k of DRIFT_KINDS) {
    const n = from[k];
    if (n) into[k] = (into[k] ?? 0) + n;
  }
  return into;
}

/** "2 route, 1 device" (kinds with a count), or "" for none. */
export function describeDrift(d: NodeDrift): string {
  return DRIFT_KINDS.filter((k) => d[k]).map((k) => `${d[k]} ${k}`).join(", ");
}

/** The outcome of one reconcile, as far as drift goes. */
export interface RunDrift {
  /** What the run found different from the plan (changed or not). */
  found: NodeDrift;
  /** What is still different after it. */
  left: NodeDrift;
  /** Why the run could not compare at all (state unreadable, reconcile threw). */
  failed?: string;
}

/** Remembers since when the node differs from its plan and keeps the drift metrics. */
export class DriftTracker {
  #since: number | undefined;
  #left: NodeDrift = {};
  #failed: string | undefined;
  #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Records a finished run and sets skein_kernel_drift_objects / _repaired_total. */
  record(run: RunDrift, metrics?: DaemonMetrics): void {
    const dirty = run.failed !== undefined || DRIFT_KINDS.some((k) => run.left[k]);
    if (!dirty) this.#since = undefined;
    else this.#since ??= this.#now();
    this.#left = { ...run.left };
    this.#failed = run.failed;
    if (!metrics) return;
    for (const k of DRIFT_KINDS) {
      metrics.drift.set(run.left[k] ?? 0, { kind: k });
      const fixed = (run.found[k] ?? 0) - (run.left[k] ?? 0);
      if (fixed > 0) metrics.driftRepaired.inc({ kind: k }, fixed);
    }
  }

  /** Since when (ms epoch) the node differs from its plan; undefined when it matches. */
  get since(): number | undefined {
    return this.#since;
  }

  /**
   * Why the node has differed from its plan for longer than `graceMs` ("2 route, 1 device for
   * 14 s"), or undefined when it matches or is still within the grace period.
   */
  overdue(graceMs: number): string | undefined {
    if (this.#since === undefined) return undefined;
    const age = this.#now() - this.#since;
    if (age <= graceMs) return undefined;
    const what = this.#failed ?? `${describeDrift(this.#left)} differ from the plan`;
    return `${what} for ${Math.round(age / 1000)} s`;
  }
}
