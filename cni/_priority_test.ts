import { assertEquals, assertRejects } from "../testing/assert.ts";
import { withRaisedPriority } from "./_priority.ts";

/** The calling thread's nice value (field 19 of /proc/thread-self/stat). */
function threadNice(): number {
  const stat = Deno.readTextFileSync("/proc/thread-self/stat");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

Deno.test("withRaisedPriority() runs fn at nice -10 (as root) and restores the nice value, also on failure", async () => {
  const before = threadNice();
  const root = Deno.uid() === 0;
  let inside = NaN;
  assertEquals(await withRaisedPriority(() => Promise.resolve((inside = threadNice(), 7))), 7);
  assertEquals(inside, root && before > -10 ? -10 : before);
  assertEquals(threadNice(), before);
  await assertRejects(
    () =>
      withRaisedPriority(() => {
        inside = threadNice();
        return Promise.reject(new Error("boom"));
      }),
    Error,
    "boom",
  );
  assertEquals(inside, root && before > -10 ? -10 : before);
  assertEquals(threadNice(), before);
});
