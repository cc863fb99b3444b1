import { assert, assertEquals, assertThrows } from "../testing/assert.ts";
import { Coalescer } from "./coalesce.ts";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await tick(5);
  }
}

Deno.test("Coalescer: 5,000 requests in one turn make one run, on the next macrotask", async () => {
  let runs = 0;
  const c = new Coalescer(() => runs++);
  for (let i = 0; i < 5000; i++) c.request();
  assertEquals(runs, 0); // never synchronously
  assert(c.pending);
  await tick();
  await until(() => runs > 0);
  assertEquals(runs, 1);
  assertEquals(c.runs, 1);
  assert(!c.pending);
  c.close();
});

Deno.test("Coalescer: requests spread over microtasks (an async iterator's items) join one run", async () => {
  let runs = 0;
  const c = new Coalescer(() => runs++);
  async function* items() {
    for (let i = 0; i < 5000; i++) yield i;
  }
  for await (const _ of items()) c.request();
  await until(() => runs > 0);
  await tick(20);
  assertEquals(runs, 1);
  c.close();
});

Deno.test("Coalescer: a request made during a run is not lost and never overlaps it", async () => {
  let active = 0, maxActive = 0, runs = 0;
  const c: Coalescer = new Coalescer(() => {
    active++;
    maxActive = Math.max(maxActive, active);
    runs++;
    if (runs === 1) {
      c.request(); // e.g. an event handled while reconciling
      c.request();
    }
    active--;
  }, { spacing: 0 });
  c.request();
  await until(() => runs >= 2);
  await tick(20);
  assertEquals(runs, 2); // the two requests inside run 1 make exactly one more run
  assertEquals(maxActive, 1);
  c.request(); // a later request runs again
  await until(() => runs === 3);
  c.close();
});

Deno.test("Coalescer: after a slow run the next one waits about as long (spacing), then runs", async () => {
  let clock = 0;
  let runs = 0;
  const c = new Coalescer(() => {
    runs++;
    clock += 300; // the run "took" 300 ms on the fake clock
  }, { now: () => clock });
  c.request();
  await until(() => runs === 1);
  c.request(); // lastEnd 300 + gap 300 - now 300: a 300 ms timer
  await tick(60);
  assertEquals(runs, 1, "still spaced after a slow run");
  clock += 300;
  await until(() => runs === 2);
  c.close();
});

Deno.test("Coalescer: close() drops the scheduled run and later requests", async () => {
  let runs = 0;
  const c = new Coalescer(() => runs++, { delayMs: 5 });
  c.request();
  c.close();
  c.request();
  await tick(30);
  assertEquals(runs, 0);
  assert(!c.pending);
});

Deno.test("Coalescer: cancel() drops only the scheduled run", async () => {
  let runs = 0;
  const c = new Coalescer(() => runs++);
  c.request();
  c.cancel();
  await tick(20);
  assertEquals(runs, 0);
  c.request();
  await until(() => runs === 1);
  c.close();
});

Deno.test("Coalescer: a throwing task goes to onError and the next request still runs", async () => {
  const errors: unknown[] = [];
  let runs = 0;
  const c = new Coalescer(() => {
    runs++;
    if (runs === 1) throw new Error("boom");
  }, { onError: (e) => errors.push(e), spacing: 0 });
  c.request();
  await until(() => runs === 1);
  c.request();
  await until(() => runs === 2);
  assertEquals(errors.length, 1);
  assertEquals((errors[0] as Error).message, "boom");
  c.close();
});

Deno.test("Coalescer: bad options are refused", () => {
  assertThrows(() => new Coalescer(() => {}, { delayMs: -1 }), RangeError, "delayMs");
  assertThrows(() => new Coalescer(() => {}, { spacing: NaN }), RangeError, "spacing");
  assertThrows(() => new Coalescer(() => {}, { maxGapMs: Infinity }), RangeError, "maxGapMs");
});
