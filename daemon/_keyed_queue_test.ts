import { assertEquals } from "../testing/assert.ts";
import { KeyedQueue } from "./_keyed_queue.ts";

function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => open = r);
  return { wait, open };
}

Deno.test("KeyedQueue runs one key's work in order, other keys meanwhile, past failures", async () => {
  const q = new KeyedQueue();
  const log: string[] = [];
  const g = gate();
  const a1 = q.run("a", async () => {
    log.push("a1 start");
    await g.wait;
    log.push("a1 end");
    throw new Error("a1 failed");
  });
  const a2 = q.run("a", () => {
    log.push("a2");
    return Promise.resolve(2);
  });
  const b1 = q.run("b", () => {
    log.push("b1");
    return Promise.resolve(1);
  });
  assertEquals(await b1, 1);
  assertEquals(log, ["a1 start", "b1"]);
  g.open();
  await a1.catch(() => {});
  assertEquals(await a2, 2);
  assertEquals(log, ["a1 start", "b1", "a1 end", "a2"]);
});
