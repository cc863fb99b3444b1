/**
 * apply(): runs a plan (plan.ts) against the kernel in a safe order and reports every failed
 * operation; one failure never stops the others.
 *
 * Order:
 * 1. the leases' neighbour and FDB changes, in plan order (plan() lists a lease's neighbours
 *    before its FDB entries). When one of a lease's operations fails, the lease's remaining
 *    operations, its routes included, are left out: a route must not point at a VTEP the
 *    kernel cannot resolve;
 * 2. all route changes in one pipelined routeBatch() (like `ip -batch`): the leases' routes,
 *    then the stale deletes;
 * 3. stale FDB entries, then stale neighbours (the reverse of 1).
 *
 * Deleting what is already gone (ENOENT, ESRCH) is not an error. Link operations are not run:
 * the backend's setup() creates its devices; a link operation in the plan is reported as an error.
 *
 * @module
 */
import { isNetlinkError } from "../net/errors.ts";
import type { NetHandle, RouteBatchOp } from "../net/types.ts";
import type { Plan, PlanOp, RouteOp } from "./plan.ts";
import type { LeaseEntries } from "./types.ts";

/** One operation that failed, with the message the report carries. */
export interface ApplyError {
  op: PlanOp;
  /** The NetlinkError (or other error) from the kernel call. */
  error: unknown;
  /** "10.244.2.0/24 (node node2): Cannot ...", "Cannot remove stale route ...". */
  message: string;
}

/** What apply() did. */
export interface ApplyResult {
  /** Entries created or corrected. */
  added: number;
  /** Entries deleted (stale ones, extra FDB remotes). */
  removed: number;
  /** Of `added`, routes. */
  routes: number;
  /** Failed operations, in the order they ran. */
  errors: ApplyError[];
}

function describe(e: LeaseEntries): string {
  return `${e.subnet} (node ${e.node})`;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A delete of something no lease needs: runs after the leases' changes. */
function isTeardown(op: PlanOp): boolean {
  return op.action === "delete" && op.owner === undefined;
}

/**
 * Applies `p` through `handle` (see the module doc for the order). Never throws for a kernel
 * failure: each one is in `errors`.
 *
 * @example
 * ```ts ignore
 * const p = plan(desired, snapshot(handle, { devices: desired.ownedDevices }));
 * const { added, removed, errors } = apply(handle, p);
 * ```
 */
export function apply(handle: NetHandle, p: Plan): ApplyResult {
  const res: ApplyResult = { added: 0, removed: 0, routes: 0, errors: [] };
  const failed = applyLeaseEntries(handle, p.ops, res);
  applyRoutes(handle, p.ops, failed, res);
  applyTeardown(handle, p.ops, "fdb", res);
  applyTeardown(handle, p.ops, "neigh", res);
  return res;
}

/** Step 1: neighbours and FDB entries of the leases. Returns the leases that failed. */
function applyLeaseEntries(
  handle: NetHandle,
  ops: readonly PlanOp[],
  res: ApplyResult,
): Set<LeaseEntries> | undefined {
  let failed: Set<LeaseEntries> | undefined;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.kind === "route" || isTeardown(op)) continue;
    if (op.owner && failed?.has(op.owner)) continue;
    try {
      if (op.kind === "link") {
        throw new Error(
          `device ${op.link.name} (${op.link.kind}) is ${
            op.reason === "missing" ? "missing" : "not skein's"
          }: the backend's setup() creates it`,
        );
      }
      if (op.kind === "neigh") {
        if (op.action === "replace") handle.neighSet(op.neigh);
        else handle.neighDel(op.neigh);
      } else if (op.action === "replace") handle.fdbSet(op.fdb);
      else {
        try {
          handle.fdbDel(op.fdb);
        } catch (e) {
          if (isNetlinkError(e, "ENOENT")) continue;
          throw e;
        }
        res.removed++;
        continue;
      }
      if (op.action === "replace") res.added++;
      else res.removed++;
    } catch (e) {
      const who = op.owner ? describe(op.owner) : op.key;
      res.errors.push({ op, error: e, message: `${who}: ${errText(e)}` });
      if (op.owner) (failed ??= new Set()).add(op.owner);
    }
  }
  return failed;
}

/** Step 2: every route change in one batch, the leases' first, then the stale deletes. */
function applyRoutes(
  handle: NetHandle,
  ops: readonly PlanOp[],
  failed: Set<LeaseEntries> | undefined,
  res: ApplyResult,
): void {
  const batch: RouteBatchOp[] = [];
  const planned: RouteOp[] = [];
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.kind !== "route" || isTeardown(op) !== (pass === 1)) continue;
      if (op.owner && failed?.has(op.owner)) continue;
      batch.push({ op: op.action === "delete" ? "del" : "replace", route: op.route });
      planned.push(op);
    }
  }
  if (batch.length === 0) return;
  const results = handle.routeBatch(batch);
  for (let i = 0; i < planned.length; i++) {
    const op = planned[i]!;
    const err = results[i];
    const who = op.owner ? describe(op.owner) : op.route.dst;
    if (op.action === "replace") {
      if (err) res.errors.push({ op, error: err, message: `${who}: ${errText(err)}` });
      else {
        res.added++;
        res.routes++;
      }
    } else if (err) {
      if (isNetlinkError(err, "ESRCH", "ENOENT")) continue;
      const message = op.owner
        ? `${who}: ${errText(err)}`
        : `Cannot remove stale route ${op.route.dst}: ${errText(err)}`;
      res.errors.push({ op, error: err, message });
    } else if (op.reason !== "move") res.removed++;
  }
}

/** Step 3: stale FDB entries or neighbours. */
function applyTeardown(
  handle: NetHandle,
  ops: readonly PlanOp[],
  kind: "fdb" | "neigh",
  res: ApplyResult,
): void {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.kind !== kind || !isTeardown(op)) continue;
    let what: string;
    try {
      if (op.kind === "fdb") {
        what = `FDB entry ${op.fdb.mac} dst ${op.fdb.dst}`;
        handle.fdbDel(op.fdb);
      } else if (op.kind === "neigh") {
        what = `neighbour ${op.neigh.ip}`;
        handle.neighDel(op.neigh);
      } else continue;
      res.removed++;
    } catch (e) {
      if (isNetlinkError(e, "ENOENT")) continue;
      const message = `Cannot remove stale ${what!}: ${errText(e)}`;
      res.errors.push({ op, error: e, message });
    }
  }
}
