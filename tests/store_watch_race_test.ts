/**
 * Gapless list-then-watch against real datastores (issue 15): a LeaseInformer that starts while
 * writer processes race it with 1,000 creates, renewals and deletes ends with the store's exact
 * final view, sees every node's changes in order and never twice; a watcher that misses events
 * (an inotify overflow, the store directory deleted and made again, etcd compaction) re-lists
 * and converges. For the file store and a real etcd alike.
 *
 * Run: deno test -A tests/store_watch_race_test.ts
 */
import { assert, assertEquals, assertSettlesWithin } from "../testing/assert.ts";
import { EtcdStore } from "../store/etcd.ts";
import { FileStore } from "../store/file.ts";
import { type DirEvent, type DirWatcher, watchDirs } from "../net/inotify.ts";
import { type InformerBatch, LeaseInformer } from "../store/informer.ts";
import { leaseIdentity } from "../store/_util.ts";
import type { LeaseList, LeaseStore, NetworkConfig } from "../store/types.ts";
import { etcdAvailable, withEtcd } from "./store_etcd_server.ts";

const cfg: NetworkConfig = {
  network: "10.244.0.0/16",
  subnetLen: 24,
  backend: { type: "host-gw" },
};
const WORKERS = 4;
/** Writes per writer in the race tests: 1,000 in all. */
const OPS = 250;
/** Writes per writer where a watcher misses events: enough to be missed, cheaper. */
const FEW_OPS = 100;
const WORKER = new URL("./store_race_worker.ts", import.meta.url).pathname;

/** Starts the writer processes; resolves with their summaries when all are done. */
function startWriters(kind: "file" | "etcd", where: string, ops = OPS): Promise<string[]> {
  const seed = Date.now() % 100_000;
  console.log(`writers: ${WORKERS} x ${ops} ops, seeds ${seed}..${seed + WORKERS - 1}`);
  return Promise.all(
    Array.from({ length: WORKERS }, async (_, i) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--no-prompt",
          WORKER,
          kind,
          where,
          String(i),
          String(ops),
          String(seed + i),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assert(out.success, `writer ${i} failed: ${new TextDecoder().decode(out.stderr)}`);
      return text;
    }),
  );
}

/** What the informer delivered, checked as it arrives. */
class Recorder {
  batches = 0;
  events = 0;
  problems: string[] = [];
  #lastSeq = new Map<string, number>();
  #lastByKey = new Map<string, string>();

  onChange = (b: InformerBatch) => {
    this.batches++;
    for (const e of b.events) {
      this.events++;
      const key = e.lease.subnet;
      const sig = `${e.type} ${leaseIdentity(e.lease)}`;
      if (this.#lastByKey.get(key) === sig) {
        this.problems.push(`duplicate event for ${key}: ${sig}`);
      }
      this.#lastByKey.set(key, sig);
      if (e.type !== "added") continue;
      const seq = Number(e.lease.backendData?.seq);
      const prev = this.#lastSeq.get(e.lease.node) ?? 0;
      // A node's records change through its own writes, each with a higher seq, or come back
      // unchanged (renew() restores a live lease whose record was deleted or taken over): a
      // lower seq is a change seen out of order. (A repeat is caught per key above.)
      if (seq < prev) {
        this.problems.push(`node ${e.lease.node}: seq ${seq} after ${prev} (out of order)`);
      }
      this.#lastSeq.set(e.lease.node, seq);
    }
  };
}

const view = (leases: Iterable<{ subnet: string; expiration: string }>) =>
  new Map([...leases].map((l) => [l.subnet, leaseIdentity(l)]));

/**
 * Runs an informer on `watcher` while the writers race it (it starts once a few leases exist),
 * then waits for it to show exactly what `truth` lists. `during` runs alongside the writers.
 */
async function raceInformer(opts: {
  truth: LeaseStore;
  watcher: Pick<LeaseStore, "list" | "watch">;
  writers: () => Promise<string[]>;
  during?: () => Promise<void>;
}): Promise<{ informer: LeaseInformer; rec: Recorder }> {
  const rec = new Recorder();
  const errors: string[] = [];
  const informer = new LeaseInformer({
    store: opts.watcher,
    onChange: rec.onChange,
    onError: (e) => errors.push(e.message),
    backoff: { minMs: 20, maxMs: 200 },
  });
  const ac = new AbortController();
  const writers = opts.writers();
  let run: Promise<void> | undefined;
  try {
    for (let i = 0; i < 600 && (await opts.truth.list()).leases.length < 5; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    run = informer.run(ac.signal);
    await Promise.all([
      opts.during?.(),
      writers.then((s) => console.log(`writers: ${s.join(" ")}`)),
    ]);
    const final = view((await opts.truth.list()).leases);
    let seen = new Map<string, string>();
    for (let i = 0; i < 300; i++) {
      seen = view(informer.leases().values());
      if (sameView(seen, final)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(
      `informer: ${rec.events} events in ${rec.batches} batches, ${informer.relists} re-lists, ` +
        `final view ${final.size} leases; watch errors: ${errors.length}`,
    );
    assertEquals(seen, final, "the informer's final view is the store's");
    assertEquals(rec.problems, []);
    // A stopped informer ends at once, also with its watch's read pending on a quiet stream.
    ac.abort();
    await assertSettlesWithin(run, 10_000, "the informer's run() after its abort");
  } finally {
    ac.abort();
    await run;
    await writers.catch(() => {});
  }
  return { informer, rec };
}

function sameView(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

async function withStoreDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "skein-race-" });
  try {
    await new FileStore({ dir }).putNetworkConfigIfAbsent(cfg);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("file store: an informer racing 1,000 writes from 4 processes ends with the exact final view", async () => {
  await withStoreDir(async (dir) => {
    const store = new FileStore({ dir });
    await raceInformer({ truth: store, watcher: store, writers: () => startWriters("file", dir) });
  });
});

Deno.test("file store: an informer that loses inotify events (overflow) re-reads and converges", async () => {
  await withStoreDir(async (dir) => {
    // Every event is dropped while the writers run; then only an overflow report arrives, as
    // inotify sends when its queue was full. Polls and resyncs are an hour apart, so only that
    // report can bring the changes in.
    const fake = droppingWatcher();
    const hour = 3_600_000;
    const watcher = new FileStore({
      dir,
      watchDirs: fake.watchDirs,
      pollIntervalMs: hour,
      safetyPollMs: hour,
      resyncIntervalMs: hour,
    });
    let writersDone!: () => void;
    const done = new Promise<void>((r) => (writersDone = r));
    await raceInformer({
      truth: new FileStore({ dir }),
      watcher,
      writers: () => startWriters("file", dir, FEW_OPS).finally(writersDone),
      during: async () => {
        await done;
        fake.overflow();
      },
    });
    assert(fake.dropped > 0, "events were dropped");
  });
});

/** A watchDirs stand-in over the real one that drops every event; overflow() reports one. */
function droppingWatcher() {
  let push: ((ev: DirEvent) => void) | undefined;
  const out = {
    dropped: 0,
    overflow: () => push?.({ kind: "overflow", paths: [] }),
    watchDirs: (path: string | string[], o: { recursive: boolean }): DirWatcher => {
      const real = watchDirs(path, o);
      const queue: DirEvent[] = [];
      let wake: (() => void) | undefined;
      let closed = false;
      push = (ev) => {
        queue.push(ev);
        wake?.();
      };
      (async () => {
        for await (const _ of real) out.dropped++;
        closed = true;
        wake?.();
      })();
      const events = (async function* () {
        while (!closed) {
          const ev = queue.shift();
          if (ev) yield ev;
          else await new Promise<void>((r) => (wake = r));
        }
      })();
      return { [Symbol.asyncIterator]: () => events, close: () => real.close() };
    },
  };
  return out;
}

Deno.test("file store: an informer whose store directory is deleted and made again mid-race converges", async () => {
  await withStoreDir(async (dir) => {
    const store = new FileStore({ dir });
    const { informer } = await raceInformer({
      truth: store,
      watcher: store,
      writers: () => startWriters("file", dir, FEW_OPS),
      during: async () => {
        await new Promise((r) => setTimeout(r, 100));
        // Renamed away and removed (a plain recursive remove races the writers' new files).
        await Deno.rename(`${dir}/subnets`, `${dir}/subnets.old`);
        await Deno.remove(`${dir}/subnets.old`, { recursive: true });
        await new Promise((r) => setTimeout(r, 20));
        // A writer may have made it again already (opening a FileStore makes its directory).
        await Deno.mkdir(`${dir}/subnets`, { recursive: true });
      },
    });
    console.log(`re-lists: ${informer.relists} (0 when the watch followed the new directory)`);
  });
});

const etcd = etcdAvailable("store watch race tests (etcd)");
/** etcd's data on tmpfs when there is one: 1,000 writes, each fsynced, on a busy disk take a minute. */
const ETCD_DIR = (() => {
  try {
    return Deno.statSync("/dev/shm").isDirectory ? { dir: "/dev/shm" } : {};
  } catch {
    return {};
  }
})();

Deno.test({
  name:
    "etcd store: an informer racing 1,000 writes from 4 processes ends with the exact final view",
  ignore: !etcd,
  fn: () =>
    withEtcd(async (e) => {
      const store = new EtcdStore({ endpoints: [e.endpoint] });
      await store.putNetworkConfigIfAbsent(cfg);
      await raceInformer({
        truth: store,
        watcher: store,
        writers: () => startWriters("etcd", e.endpoint),
      });
    }, ETCD_DIR),
});

Deno.test({
  name:
    "etcd store: an informer whose list revision is compacted before it watches re-lists and converges",
  ignore: !etcd,
  fn: () =>
    withEtcd(async (e) => {
      const store = new EtcdStore({ endpoints: [e.endpoint] });
      await store.putNetworkConfigIfAbsent(cfg);
      let compacted = 0;
      // The first list is held back until the writers moved on 50 revisions and etcd compacted
      // them away: the watch from that list's revision gets ErrCompacted.
      const watcher: Pick<LeaseStore, "list" | "watch"> = {
        async list(): Promise<LeaseList> {
          const l = await store.list();
          if (compacted > 0) return l;
          for (let i = 0; i < 400; i++) {
            const now = Number((await store.list()).revision);
            if (now >= Number(l.revision) + 50) {
              await store.client.call("/v3/kv/compaction", { revision: String(now) });
              compacted = now;
              break;
            }
            await new Promise((r) => setTimeout(r, 25));
          }
          return l;
        },
        watch: (r, s) => store.watch(r, s),
      };
      const { informer } = await raceInformer({
        truth: store,
        watcher,
        writers: () => startWriters("etcd", e.endpoint, FEW_OPS),
      });
      assert(compacted > 0, "etcd compacted the list's revision");
      assert(informer.relists >= 1, "the compaction made the informer re-list");
    }, ETCD_DIR),
});
