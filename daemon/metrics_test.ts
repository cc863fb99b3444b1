import { assertEquals, assertThrows } from "../testing/assert.ts";
import { createDaemonMetrics, Registry } from "./metrics.ts";
import { readyzAnswer } from "./http.ts";
import { formatLogfmt } from "./log.ts";
import { parsePrometheus } from "../testing/prom_parse.ts";

Deno.test("the daemon's metrics render as valid Prometheus text", () => {
  const m = createDaemonMetrics();
  m.leases.set(3);
  m.reconcileTotal.inc({ trigger: "timer" });
  m.reconcileTotal.inc({ trigger: "timer" });
  m.reconcileDuration.observe(0.004);
  m.reconcileDuration.observe(2);
  m.datastoreErrors.inc({ op: "renew" });
  const p = parsePrometheus(m.registry.render());
  assertEquals(p.get("skein_leases"), 3);
  assertEquals(p.get('skein_reconcile_total{trigger="timer"}'), 2);
  assertEquals(p.get('skein_reconcile_duration_seconds_bucket{le="0.005"}'), 1);
  assertEquals(p.get('skein_reconcile_duration_seconds_bucket{le="+Inf"}'), 2);
  assertEquals(p.get("skein_reconcile_duration_seconds_count"), 2);
  assertEquals(p.get('skein_datastore_errors_total{op="renew"}'), 1);
  assertEquals(p.get("skein_routes_programmed"), 0);
});

Deno.test("Registry escapes label values and refuses bad names, duplicates, decreasing counters", () => {
  const r = new Registry();
  const c = r.counter("x_total", "help");
  c.inc({ why: 'a "quoted"\nline' });
  assertEquals(r.render().split("\n")[2], 'x_total{why="a \\"quoted\\"\\nline"} 1');
  assertThrows(() => r.counter("x_total", "again"), TypeError);
  assertThrows(() => r.gauge("bad-name", "h"), TypeError);
  assertThrows(() => c.inc(undefined, -1), RangeError);
});

Deno.test("readyzAnswer() says what is missing", () => {
  assertEquals(
    readyzAnswer({ leaseHeld: true, routesProgrammed: true, leaseFileWritten: true }).status,
    200,
  );
  const a = readyzAnswer({
    leaseHeld: true,
    routesProgrammed: false,
    leaseFileWritten: false,
    detail: "reconcile: boom",
  });
  assertEquals(a, {
    status: 503,
    body:
      "not ready: routes not programmed without error yet; lease file not written (reconcile: boom)\n",
  });
});

Deno.test("readyzAnswer() with ?subnets= waits for routes to those subnets", () => {
  const r = {
    leaseHeld: true,
    routesProgrammed: true,
    leaseFileWritten: true,
    programmed: new Set(["10.244.1.0/24", "10.244.2.0/24"]),
  };
  assertEquals(readyzAnswer(r, ["10.244.1.0/24", "10.244.2.0/24"]).status, 200);
  assertEquals(readyzAnswer(r, ["10.244.2.0/24", "10.244.3.0/24", "10.244.4.0/24"]), {
    status: 503,
    body: "not ready: routes to 10.244.3.0/24, 10.244.4.0/24 not programmed yet\n",
  });
  const { programmed: _, ...before } = r; // not ready yet: nothing is programmed
  assertEquals(readyzAnswer(before, ["10.244.1.0/24"]).status, 503);
});

Deno.test("readyzAnswer() says when the kernel differs from the plan or the lease expired", () => {
  const a = readyzAnswer({
    leaseHeld: false,
    leaseProblem: "the lease of 10.244.1.0/24 expired at 2026-01-01T00:00:00.000Z",
    routesProgrammed: true,
    leaseFileWritten: true,
    kernelMatchesPlan: false,
    drift: "2 route, 1 device differ from the plan for 14 s",
  });
  assertEquals(a.status, 503);
  assertEquals(
    a.body,
    "not ready: no subnet lease held: the lease of 10.244.1.0/24 expired at " +
      "2026-01-01T00:00:00.000Z; the kernel differs from the plan: 2 route, 1 device differ " +
      "from the plan for 14 s\n",
  );
});

Deno.test("formatLogfmt() quotes what needs quoting", () => {
  const line = formatLogfmt("info", "lease acquired", {
    subnet: "10.244.1.0/24",
    err: new Error("a b"),
    n: 3,
    o: { a: 1 },
  }, new Date(0));
  assertEquals(
    line,
    'ts=1970-01-01T00:00:00.000Z level=info msg="lease acquired" subnet=10.244.1.0/24 err="a b" n=3 o="{\\"a\\":1}"',
  );
});
