import { assertEquals } from "../testing/assert.ts";
import { processAlive, processCmdline, processState } from "./process.ts";

Deno.test("processState(), processCmdline(), processAlive() of a child: running, stopped, gone", async () => {
  const marker = `${crypto.getRandomValues(new Uint32Array(1))[0]}`;
  const child = new Deno.Command("sleep", { args: [`30.${marker}`] }).spawn();
  try {
    // Until the child has exec'd, its command line is still this test runner's.
    for (let i = 0; i < 500 && !processCmdline(child.pid)?.endsWith(`30.${marker}`); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(processCmdline(child.pid)?.endsWith(`sleep 30.${marker}`), true);
    assertEquals(processAlive(child.pid, marker), true);
    assertEquals(processAlive(child.pid, "not-the-marker"), false);
    Deno.kill(child.pid, "SIGSTOP");
    for (let i = 0; i < 500 && processState(child.pid) !== "T"; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(processState(child.pid), "T");
    assertEquals(processAlive(child.pid, marker), true, "a stopped process still exists");
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assertEquals([processState(child.pid), processAlive(child.pid, marker)], [undefined, false]);
});
