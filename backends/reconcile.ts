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
 * The kernel refusing one lease's own entry for what the entry says (LEASE_REFUSALS: EINVAL
 * "Nexthop has invalid gateway", EOPNOTSUPP for an FDB entry, ...) makes that lease skipped, with
 * the kernel's words as the reason, not a node-wide error: its entries are not drift, the other
 * leases are programmed, and the node can be ready. Every run tries it again. Any other failure
 * (a missing device, ENOBUFS, EPERM, a stale entry that cannot be removed) stays an error, and so
 * do the refusals when every one of two or more leases is refused (the node's own uplink is down,
 * say: each next hop is then unreachable).
 *
 * @module
 */
import type { NetHandle } from "../net/types.ts";
import { apply, type ApplyError } from "./apply.ts";
import { isNetlinkError } from "../net/errors.ts";
import { type Plan, plan, type PlanOp } from "./plan.ts";
import { snapshot } from "./snapshot.ts";
import type {
  DesiredState,
  DeviceSpec,
  DriftCounts,
  DriftKind,
  LeaseEntries,
  ReconcileReport,
  Skipped,
} from "./types.ts";

export { isOwnedRoute } from "./snapshot.ts";

/**
 * The errnos with which the kernel refuses an entry for what it says (its gateway, MAC, remote,
 * address family), not for the node's state: a lease whose entry gets one is skipped.
 */
export const LEASE_REFUSALS: readonly string[] = [
  "EINVAL",
  "EOPNOTSUPP",
  "EAFNOSUPPORT",
  "EADDRNOTAVAIL",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ERANGE",
];

/** Options for reconcileState(). */
export interface ReconcileStateOptions {
  /** Routing table (default 254, main). */
  table?: number;
  /**
   * False: a refused entry is an error like any other (udp: its one route is the node's, not a
   * lease's). Default true (see the module doc).
   */
  refusalsSkipLease?: boolean;
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
  let refused = opts.refusalsSkipLease === false ? undefined : refusedLeases(done.errors);
  // Every lease refused is the node's problem (its uplink went down: every next hop unreachable),
  // not each peer's: errors, as before, so the node is not ready.
  if (refused && desired.entries.length > 1 && refused.size >= desired.entries.length) {
    refused = undefined;
  }
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
  refused?.forEach((s) => report.skipped.push(s));
  const errors = refused ? done.errors.filter((e) => !isRefusal(e)) : done.errors;
  for (let i = 0; i < errors.length; i++) report.errors.push(errors[i]!.message);
  // A refused lease's entries are not the node's drift: it is skipped instead. Its other
  // failures, if any, are errors and drift left like any other.
  const drift = addDrift({}, opts.extra?.drift);
  for (let i = 0; i < p.ops.length; i++) {
    const op = p.ops[i]!;
    if (op.owner && refused?.has(op.owner)) continue;
    const k = driftKind(op);
    drift[k] = (drift[k] ?? 0) + 1;
  }
  const left = addDrift({}, opts.extra?.driftLeft);
  for (let i = 0; i < errors.length; i++) {
    const k = driftKind(errors[i]!.op);
    left[k] = (left[k] ?? 0) + 1;
  }
  report.drift = drift;
  report.driftLeft = left;
  report.durationMs = performance.now() - started;
  return report;
}

/** The kernel refused this lease's own entry for what it says (LEASE_REFUSALS). */
function isRefusal(e: ApplyError): boolean {
  return e.op.owner !== undefined && isNetlinkError(e.error, ...LEASE_REFUSALS);
}

/**
 * The leases the kernel refused an entry of (their first refusal), as skips: "node n2's entries
 * were refused by the kernel: Cannot replace FDB entry ...: kernel returned EOPNOTSUPP (...)".
 */
function refusedLeases(errors: readonly ApplyError[]): Map<LeaseEntries, Skipped> | undefined {
  let out: Map<LeaseEntries, Skipped> | undefined;
  for (let i = 0; i < errors.length; i++) {
    const e = errors[i]!;
    const owner = e.op.owner;
    if (!owner || !isRefusal(e) || out?.has(owner)) continue;
    const why = e.error instanceof Error ? e.error.message : String(e.error);
    (out ??= new Map()).set(owner, {
      subnet: owner.subnet,
      reason: `node ${owner.node}'s entries were refused by the kernel: ${why}`,
    });
  }
  return out;
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
