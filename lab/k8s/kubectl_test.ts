import { assertEquals, assertRejects } from "../../testing/assert.ts";
import { KubeWaitError, pollUntil } from "./kubectl.ts";

Deno.test("pollUntil() returns the value once check() says done", async () => {
  let n = 0;
  const v = await pollUntil("three rounds", 5000, () => {
    n++;
    return Promise.resolve(n >= 3 ? { done: n } : { seen: `round ${n}` });
  }, { intervalMs: 1 });
  assertEquals(v, 3);
});

Deno.test("pollUntil() times out naming what it waited for and what it last saw (a throw counts as seen)", async () => {
  let n = 0;
  await assertRejects(
    () =>
      pollUntil("the nodes", 30, () => {
        n++;
        return n % 2 ? Promise.resolve({ seen: "n1 NotReady" }) : Promise.reject(new Error("EOF"));
      }, { intervalMs: 5 }),
    KubeWaitError,
    "waiting for the nodes; last seen:",
  );
});

Deno.test("pollUntil() passes a fatal error through at once", async () => {
  let n = 0;
  await assertRejects(
    () =>
      pollUntil("x", 10_000, () => {
        n++;
        return Promise.reject(new RangeError("bad"));
      }, { intervalMs: 1, fatal: (e) => e instanceof RangeError }),
    RangeError,
    "bad",
  );
  assertEquals(n, 1);
});
