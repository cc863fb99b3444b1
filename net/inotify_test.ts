import { assert, assertEquals, assertThrows } from "../testing/assert.ts";
import { type DirEvent, type DirWatcher, watchDirs } from "./inotify.ts";
import { NetlinkError } from "./errors.ts";

/** Reads a watcher in the background; `until()` waits (bounded) for an event to show up. */
class Tap {
  events: DirEvent[] = [];
  ended: Promise<void>;
  constructor(w: DirWatcher) {
    this.ended = (async () => {
      for await (const ev of w) this.events.push(ev);
    })();
  }
  async until(what: string, pred: (ev: DirEvent) => boolean, ms = 10_000): Promise<DirEvent> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (Date.now() > end) {
        throw new Error(`no ${what} event in ${ms} ms: ${JSON.stringify(this.events)}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Resolves `p`, or rejects after `ms` (a hang fails the test instead of stalling it). */
function bounded<T>(what: string, p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function mkfifo(path: string): void {
  const r = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert(r.success, `mkfifo ${path}`);
}

const is = (kind: DirEvent["kind"], path: string) => (ev: DirEvent) =>
  ev.kind === kind && ev.paths.includes(path);

Deno.test("watchDirs() reports create, modify, rename and remove by path; reads are silent", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-inotify-" });
  const w = watchDirs(dir);
  const tap = new Tap(w);
  try {
    Deno.writeTextFileSync(`${dir}/a`, "1");
    await tap.until("create", is("create", `${dir}/a`));
    await tap.until("modify", is("modify", `${dir}/a`));
    // The queue is in order: once a later change is seen, every event of the write is in.
    Deno.mkdirSync(`${dir}/m1`);
    await tap.until("create of a marker", is("create", `${dir}/m1`));
    const seen = tap.events.length;
    Deno.readTextFileSync(`${dir}/a`);
    Deno.mkdirSync(`${dir}/m2`);
    await tap.until("create of a marker", is("create", `${dir}/m2`));
    // Between the markers only the read happened: it made no event.
    assertEquals(tap.events.slice(seen), [{ kind: "create", paths: [`${dir}/m2`] }]);
    Deno.renameSync(`${dir}/a`, `${dir}/b`);
    await tap.until("rename to", is("rename", `${dir}/b`));
    await tap.until("rename from", is("rename", `${dir}/a`));
    Deno.removeSync(`${dir}/b`);
    await tap.until("remove", is("remove", `${dir}/b`));
  } finally {
    w.close();
    await bounded("the iteration", tap.ended);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("watchDirs(): a FIFO created in the watched directory is never opened; later changes still come and close() ends at once", async () => {
  // Before (Deno.watchFs): its thread opened the FIFO and waited for a writer; no event came
  // after it, and close() froze the process.
  const dir = Deno.makeTempDirSync({ prefix: "skein-inotify-" });
  const w = watchDirs(dir);
  const tap = new Tap(w);
  try {
    mkfifo(`${dir}/x`);
    await tap.until("FIFO create", is("create", `${dir}/x`));
    Deno.writeTextFileSync(`${dir}/after`, "1");
    await tap.until("create after the FIFO", is("create", `${dir}/after`));
    Deno.removeSync(`${dir}/after`);
    await tap.until("remove after the FIFO", is("remove", `${dir}/after`));
  } finally {
    w.close();
    await bounded("the iteration after close()", tap.ended);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("watchDirs(): several directories at once; each event names its own directory", async () => {
  const a = Deno.makeTempDirSync({ prefix: "skein-inotify-" });
  const b = Deno.makeTempDirSync({ prefix: "skein-inotify-" });
  const w = watchDirs([a, b]);
  const tap = new Tap(w);
  try {
    Deno.writeTextFileSync(`${b}/f`, "");
    Deno.writeTextFileSync(`${a}/f`, "");
    await tap.until("create in b", is("create", `${b}/f`));
    await tap.until("create in a", is("create", `${a}/f`));
  } finally {
    w.close();
    await bounded("the iteration", tap.ended);
    Deno.removeSync(a, { recursive: true });
    Deno.removeSync(b, { recursive: true });
  }
});

Deno.test("watchDirs({ recursive }): subdirectories, also ones made or moved in later; moved away ones go quiet", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-inotify-" });
  Deno.mkdirSync(`${dir}/old/deep`, { recursive: true });
  const w = watchDirs(dir, { recursive: true });
  const tap = new Tap(w);
  const out = Deno.makeTempDirSync({ prefix: "skein-inotify-out-" });
  try {
    Deno.writeTextFileSync(`${dir}/old/deep/f`, "");
    await tap.until("create in an existing subdirectory", is("create", `${dir}/old/deep/f`));
    Deno.mkdirSync(`${dir}/new`);
    await tap.until("create of the subdirectory", is("create", `${dir}/new`));
    Deno.writeTextFileSync(`${dir}/new/f`, "");
    await tap.until("create in a new subdirectory", is("create", `${dir}/new/f`));
    // Moved within the tree: reported under its new path (once the move is seen: as with
    // `inotifywait -r`, entries made before a new directory's watch exists have no event).
    Deno.renameSync(`${dir}/new`, `${dir}/renamed`);
    await tap.until("rename of the subdirectory", is("rename", `${dir}/renamed`));
    Deno.writeTextFileSync(`${dir}/renamed/g`, "");
    await tap.until("create in a renamed subdirectory", is("create", `${dir}/renamed/g`));
    assert(!tap.events.some((ev) => ev.paths.includes(`${dir}/new/g`)), "a stale path");
    // Moved out of the tree: no longer watched.
    Deno.renameSync(`${dir}/old`, `${out}/old`);
    Deno.writeTextFileSync(`${out}/old/deep/h`, "");
    Deno.writeTextFileSync(`${dir}/marker`, "");
    await tap.until("create of the marker", is("create", `${dir}/marker`));
    assert(!tap.events.some((ev) => ev.paths.some((p) => p.endsWith("/h"))), "moved away");
  } finally {
    w.close();
    await bounded("the iteration", tap.ended);
    Deno.removeSync(dir, { recursive: true });
    Deno.removeSync(out, { recursive: true });
  }
});

Deno.test("watchDirs(): an overflowed kernel queue is reported as one overflow event", async () => {
  const max = Number(Deno.readTextFileSync("/proc/sys/fs/inotify/max_queued_events").trim());
  if (!(max <= 100_000)) {
    console.log(`skipped: max_queued_events is ${max}, too many files to make`);
    return;
  }
  const dir = Deno.makeTempDirSync({ prefix: "skein-inotify-" });
  const w = watchDirs(dir);
  try {
    // Nobody reads while the queue fills: one IN_CREATE per file, more than the queue holds.
    for (let i = 0; i <= max; i++) Deno.writeFileSync(`${dir}/${i}`, new Uint8Array(0));
    const tap = new Tap(w);
    const ev = await tap.until("overflow", (ev) => ev.kind === "overflow");
    assertEquals(ev.paths, []);
    assertEquals(tap.events.filter((e) => e.kind === "overflow").length, 1);
    w.close();
    await bounded("the iteration", tap.ended);
  } finally {
    w.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("watchDirs(): the iteration ends when the watched directory is deleted", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-inotify-" });
  const w = watchDirs(dir);
  const tap = new Tap(w);
  try {
    Deno.removeSync(dir);
    await bounded("the iteration", tap.ended);
    assert(tap.events.some(is("remove", dir)), JSON.stringify(tap.events));
  } finally {
    w.close();
  }
});

Deno.test("watchDirs() refuses a missing path and a FIFO (ENOTDIR, without opening it)", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-inotify-" });
  try {
    const e1 = assertThrows(() => watchDirs(`${dir}/missing`), NetlinkError, "Cannot watch");
    assertEquals(e1.code, "ENOENT");
    mkfifo(`${dir}/fifo`);
    const e2 = assertThrows(() => watchDirs([dir, `${dir}/fifo`]), NetlinkError);
    assertEquals(e2.code, "ENOTDIR");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
