import { assert } from "../testing/assert.ts";
import { sleep, Sleeper } from "./sleeper.ts";

const elapsed = async (p: Promise<void>) => {
  const t = performance.now();
  await p;
  return performance.now() - t;
};

Deno.test("Sleeper.wake() ends the current sleep early; a wake with none running is a no-op", async () => {
  const s = new Sleeper();
  s.wake();
  const p = s.sleep(10_000);
  setTimeout(() => s.wake(), 10);
  assert((await elapsed(p)) < 5_000);
});

Deno.test("sleep() ends early when its signal aborts, and at once when already aborted", async () => {
  const c = new AbortController();
  setTimeout(() => c.abort(), 10);
  assert((await elapsed(sleep(10_000, c.signal))) < 5_000);
  assert((await elapsed(sleep(10_000, c.signal))) < 5_000);
});

Deno.test("sleep() without wake or abort waits its time", async () => {
  assert((await elapsed(sleep(30))) >= 25);
});
