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
import { type Plan, plan, type PlanOp } from "./plan.ts";
import { snapshot } from "./snapshot.ts";
import type { DesiredState, DeviceSpec, DriftCounts, DriftKind, ReconcileReport } from "./types.ts";

export { isOwnedRoute } from "./snapshot.ts";

/** Options for reconcileState(). */
export interface ReconcileStateOptions {
  /** Routing table (default 254, main). */
  table?: number;
  /** Counts to fold into the report (e.g. device addresses a backend fixed itself). */
  extra?: {
    added?: number;
    removed?: number;
    unchanged?: number;
    errors?: string[];
    drift?: DriftCounts;
    driftLeft?: DriftCounts;
  };
}

/** The drift kind of a planned operation (a missing or wrong link is the "device"). */
function driftKind(op: PlanOp): DriftKind {
  return op.kind === "link" ? "device" : op.kind;
}

/** `into[k] += n` for counts per drift kind. */
export function addDrift(into: DriftCounts, from: DriftCounts | undefined): DriftCounts {
  if (!from) return into;
  for (const k of Object.keys(from) as DriftKind[]) into[k] = (into[k] ?? 0) + (from[k] ?? 0);
  return into;
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
  const snap = snapshot(handle, {
    table: opts.table,
    devices: desired.ownedDevices,
    protocol: desired.protocol,
  });
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
  const drift = addDrift({}, opts.extra?.drift);
  for (let i = 0; i < p.ops.length; i++) {
    const k = driftKind(p.ops[i]!);
    drift[k] = (drift[k] ?? 0) + 1;
  }
  const left = addDrift({}, opts.extra?.driftLeft);
  for (let i = 0; i < done.errors.length; i++) {
    const k = driftKind(done.errors[i]!.op);
    left[k] = (left[k] ?? 0) + 1;
  }
  report.drift = drift;
  report.driftLeft = left;
  report.durationMs = performance.now() - started;
  return report;
}

/**
 * What reconcileState() would do, without doing it: snapshot → plan (read-only dumps). The
 * devices in `desired.devices` are looked up too: a missing one is a planned link operation.
 */
export function planState(
  handle: NetHandle,
  desired: DesiredState,
  opts: { table?: number } = {},
): Plan {
  const links = desired.devices?.map((d) => d.name);
  return plan(
    desired,
    snapshot(handle, {
      table: opts.table,
      devices: desired.ownedDevices,
      links,
      protocol: desired.protocol,
    }),
  );
}

/**
 * planState() for a backend whose entries use its tunnel `device`: the entries are computed for
 * the existing device's index (`desiredFor(index)`); when it is missing (or another kind of link
 * has its name), for index 0, with the device's creation planned and nothing read from it.
 */
export function planWithDevice(
  handle: NetHandle,
  device: DeviceSpec,
  desiredFor: (dev: number) => DesiredState,
): Plan {
  const link = handle.linkFind(device.name);
  const dev = link?.kind === device.kind ? link.index : 0;
  const desired = desiredFor(dev);
  desired.devices = [device];
  if (dev === 0) desired.ownedDevices = [];
  return planState(handle, desired);
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
