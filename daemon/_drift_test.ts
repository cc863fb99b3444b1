import { assertEquals } from "../testing/assert.ts";
import { createDaemonMetrics } from "./metrics.ts";
import { addCounts, describeDrift, DriftTracker } from "./_drift.ts";

Deno.test("DriftTracker: overdue only after the grace period, cleared by a clean run", () => {
  let now = 1_000_000;
  const t = new DriftTracker(() => now);
  const m = createDaemonMetrics();
  t.record({ found: { route: 3 }, left: {} }, m);
  assertEquals(t.overdue(10_000), undefined, "repaired drift is no drift");
  assertEquals(m.driftRepaired.get({ kind: "route" }), 3);
  t.record({ found: { route: 2, device: 1 }, left: { route: 2, device: 1 } }, m);
  now += 5_000;
  assertEquals(t.overdue(10_000), undefined, "within the grace period");
  now += 9_000;
  t.record({ found: { route: 2 }, left: { route: 2 } }, m); // still there: the clock keeps running
  assertEquals(t.overdue(10_000), "2 route differ from the plan for 14 s");
  assertEquals(m.drift.get({ kind: "route" }), 2);
  assertEquals(m.drift.get({ kind: "device" }), 0);
  t.record({ found: {}, left: {}, failed: "the kernel state cannot be read" }, m);
  assertEquals(t.overdue(10_000), "the kernel state cannot be read for 14 s");
  t.record({ found: { route: 2 }, left: {} }, m);
  assertEquals(t.overdue(0), undefined);
  assertEquals(t.since, undefined);
});

Deno.test("addCounts() and describeDrift()", () => {
  const d = addCounts({ route: 1 }, { route: 2, lease_file: 1 });
  assertEquals(d, { route: 3, lease_file: 1 });
  assertEquals(describeDrift(d), "3 route, 1 lease_file");
  assertEquals(describeDrift({}), "");
});
