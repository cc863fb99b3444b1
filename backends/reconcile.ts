/**
 * The one reconciler every backend uses: desired routes/neighbours/FDB entries in, kernel diff
 * applied, report out, in three steps:
 *
 * 1. snapshot() (snapshot.ts) reads what skein owns in the kernel (and the foreign routes its
 *    routes could collide with);
 * 2. plan() (plan.ts, pure) lists the operations that make the kernel match the desired state;
 * 3. apply() (apply.ts) runs them: per lease neighbours, then FDB entries, then (in one pipelined
 *    routeBatch()) routes; then stale routes, stale FDB entries, stale neighbours.
 *
 * An entry that is already right is not touched, so a second run (or a daemon restart) changes
 * nothing. What skein owns is documented in snapshot.ts.
 *
 * @module
 */
import type { NetHandle } from "../net/types.ts";
import { apply } from "./apply.ts";
import { plan } from "./plan.ts";
import { snapshot } from "./snapshot.ts";
import type { DesiredState, ReconcileReport } from "./types.ts";

export { isOwnedRoute } from "./snapshot.ts";

/** Options for reconcileState(). */
export interface ReconcileStateOptions {
  /** Routing table (default 254, main). */
  table?: number;
  /** Counts to fold into the report (e.g. device addresses a backend fixed itself). */
  extra?: { added?: number; removed?: number; unchanged?: number; errors?: string[] };
}

/**
 * Applies `desired` to the kernel through `handle`: snapshot → plan → apply (see the module
 * doc). Never throws for a kernel failure on one entry: it is reported in `errors` and the other
 * leases are still applied. Throws only when the kernel state cannot be read at all.
 */
export function reconcileState(
  handle: NetHandle,
  desired: DesiredState,
  opts: ReconcileStateOptions = {},
): ReconcileReport {
  const started = performance.now();
  const snap = snapshot(handle, { table: opts.table, devices: desired.ownedDevices });
  const p = plan(desired, snap);
  const done = apply(handle, p);
  const report: ReconcileReport = {
    added: (opts.extra?.added ?? 0) + done.added,
    removed: (opts.extra?.removed ?? 0) + done.removed,
    unchanged: (opts.extra?.unchanged ?? 0) + p.unchanged,
    skipped: [],
    errors: [...(opts.extra?.errors ?? [])],
    routes: p.unchangedRoutes + done.routes,
    durationMs: 0,
  };
  // The report keeps the backend's own Skipped objects and plain { subnet, reason } for the rest.
  let di = 0;
  for (let i = 0; i < p.skipped.length; i++) {
    const s = p.skipped[i]!;
    report.skipped.push(
      s.code === "refused" ? desired.skipped[di++]! : { subnet: s.subnet, reason: s.reason },
    );
  }
  for (let i = 0; i < done.errors.length; i++) report.errors.push(done.errors[i]!.message);
  report.durationMs = performance.now() - started;
  return report;
}

/** A report for a reconcile that could not start (device missing, kernel state unreadable). */
export function failedReport(errors: string[], started: number): ReconcileReport {
  return {
    added: 0,
    removed: 0,
    unchanged: 0,
    skipped: [],
    errors,
    routes: 0,
    durationMs: performance.now() - started,
  };
}
