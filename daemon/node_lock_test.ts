import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { flockHolders, lockNode, NodeLockedError } from "./node_lock.ts";

Deno.test("flockHolders() reads granted flocks of one file from /proc/locks, not waiters or others", () => {
  const text = [
    "1: FLOCK  ADVISORY  WRITE 4242 00:2a:1234 0 EOF",
    "1: -> FLOCK  ADVISORY  WRITE 4343 00:2a:1234 0 EOF",
    "2: POSIX  ADVISORY  WRITE 77 00:2a:1234 0 EOF",
    "3: FLOCK  ADVISORY  WRITE 88 00:2a:999 0 EOF",
    "4: FLOCK  ADVISORY  WRITE 99 fd:01:1234 0 EOF",
    "garbage",
  ].join("\n");
  assertEquals(flockHolders(text, { major: 0, minor: 42 }, 1234), [4242]);
  assertEquals(flockHolders(text, { major: 253, minor: 1 }, 1234), [99]);
});

/** Holds `path` (flock) in another process until that process is killed. */
async function holder(path: string): Promise<Deno.ChildProcess> {
  const code = `const f = Deno.openSync(${JSON.stringify(path)}, { read: true, write: true });
f.lockSync(true);
console.log("locked");
setTimeout(() => {}, 60_000);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  if (!value?.includes("locked")) throw new Error("the holder did not take the lock");
  return child;
}

Deno.test("lockNode(): refused while another process holds it, naming it; taken once it is gone", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-node-lock-" });
  const path = `${dir}/state/daemon.lock`;
  try {
    const first = await lockNode(path); // creates the directory
    assertEquals(Deno.readTextFileSync(path), `${Deno.pid}\n`);
    first.release();
    const other = await holder(path);
    try {
      const e = await assertRejects(() => lockNode(path), NodeLockedError);
      assertEquals(e.pid, other.pid, e.message);
      assert(e.message.includes(path), e.message);
    } finally {
      other.kill("SIGKILL");
      await other.status;
    }
    // A holder killed with SIGKILL leaves nothing behind: the kernel dropped its lock.
    const again = await lockNode(path);
    again.release();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
