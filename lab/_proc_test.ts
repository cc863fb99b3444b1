import { assert, assertEquals } from "../testing/assert.ts";
import {
  mapLimit,
  pidsWithMarker,
  processAlive,
  runCommand,
  spawnDetached,
  stopProcess,
} from "./_proc.ts";
import { sleep } from "../store/sleeper.ts";

Deno.test("mapLimit() keeps order and the limit", async () => {
  let inFlight = 0, peak = 0;
  const out = await mapLimit([5, 1, 3, 2], 2, async (x) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await sleep(x);
    inFlight--;
    return x * 10;
  });
  assertEquals(out, [50, 10, 30, 20]);
  assertEquals(peak, 2);
});

Deno.test("mapLimit() throws the first error once the calls in flight have settled, starting no more", async () => {
  const events: string[] = [];
  const run = mapLimit([1, 2, 3, 4], 2, async (x) => {
    events.push(`start ${x}`);
    await sleep(x === 1 ? 5 : 60);
    if (x === 1) throw new Error("one failed");
    events.push(`end ${x}`);
    return x;
  });
  const e = await run.then(() => undefined, (e: Error) => e);
  assertEquals(e?.message, "one failed");
  // 2 was in flight when 1 failed: it ended before mapLimit threw; 3 and 4 never started.
  assertEquals(events, ["start 1", "start 2", "end 2"]);
});

Deno.test("runCommand() passes stdin and env, returns output and code", async () => {
  const r = await runCommand(["sh", "-c", 'cat; echo "$X"; exit 3'], {
    stdin: "in\n",
    env: { X: "y" },
  });
  assertEquals(r, { code: 3, success: false, stdout: "in\ny\n", stderr: "" });
});

Deno.test("spawnDetached() logs to a file; stopProcess() stops only the right pid", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const log = `${dir}/p.log`;
    Deno.writeTextFileSync(log, "");
    const secs = `30.${crypto.getRandomValues(new Uint32Array(1))[0]}`;
    const pid = await spawnDetached(["sh", "-c", `echo started; exec sleep ${secs}`], {
      logFile: log,
    });
    for (let i = 0; i < 500 && !Deno.readTextFileSync(log).includes("started"); i++) {
      await sleep(20);
    }
    assertEquals(Deno.readTextFileSync(log), "started\n");
    assert(processAlive(pid, "sleep"));
    assertEquals(pidsWithMarker(`sleep ${secs}`), [pid]);
    assertEquals(await stopProcess(pid, "not-this-marker"), false);
    assert(processAlive(pid, "sleep"));
    assertEquals(await stopProcess(pid, "sleep", { graceMs: 2000 }), true);
    assertEquals(processAlive(pid, "sleep"), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
