import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { FileStore } from "./file.ts";
import { LeaseLostError, StoreError, SubnetExhaustedError } from "./errors.ts";
import {
  type AcquireRequest,
  asRevision,
  type NetworkConfig,
  type Revision,
  type WatchItem,
} from "./types.ts";

const cfg: NetworkConfig = {
  network: "10.244.0.0/16",
  subnetLen: 24,
  backend: { type: "host-gw" },
};
const req = (node: string, ip = "192.168.1.10"): AcquireRequest => ({
  node,
  publicIP: ip,
  backendType: "host-gw",
  ttlSeconds: 60,
});

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "skein-store-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("FileStore: the config is put once; the first one wins", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir });
    assertEquals(await s.getNetworkConfig(), undefined);
    assertEquals((await s.putNetworkConfigIfAbsent(cfg)).network, "10.244.0.0/16");
    const again = await s.putNetworkConfigIfAbsent({ ...cfg, network: "10.99.0.0/16" });
    assertEquals(again.network, "10.244.0.0/16");
    assertEquals(
      JSON.parse(await Deno.readTextFile(`${dir}/config.json`)).Network,
      "10.244.0.0/16",
    );
  });
});

Deno.test("FileStore: acquire() without a config fails and writes nothing", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir });
    await assertRejects(() => s.acquire(req("n1")), StoreError, "No network config");
    assertEquals([...Deno.readDirSync(`${dir}/subnets`)].length, 0);
  });
});

Deno.test("FileStore: two stores on one dir, 20 concurrent acquires get 20 distinct subnets", async () => {
  await withDir(async (dir) => {
    const a = new FileStore({ dir });
    const b = new FileStore({ dir });
    await a.putNetworkConfigIfAbsent(cfg);
    const leases = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => (i % 2 ? a : b).acquire(req(`n${i}`, `192.168.1.${i + 1}`)),
      ),
    );
    assertEquals(new Set(leases.map((l) => l.subnet)).size, 20);
    assertEquals((await a.list()).leases.length, 20);
  });
});

Deno.test("FileStore: two processes racing on one dir get distinct subnets", async () => {
  await withDir(async (dir) => {
    await new FileStore({ dir }).putNetworkConfigIfAbsent(cfg);
    const code = `
      import { FileStore } from ${JSON.stringify(new URL("./file.ts", import.meta.url).href)};
      const s = new FileStore({ dir: Deno.args[0] });
      const out = await Promise.all([0,1,2,3,4].map((i) => s.acquire({ node: Deno.args[1] + i, publicIP: "10.0.0." + (i+1), backendType: "host-gw", ttlSeconds: 60 })));
      console.log(JSON.stringify(out.map((l) => l.subnet)));`;
    const procs = ["p", "q", "r"].map((p) =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", code, dir, p],
        stdout: "piped",
        stderr: "piped",
      }).output()
    );
    const outs = await Promise.all(procs);
    const subnets = outs.flatMap((o) => {
      assert(o.success, new TextDecoder().decode(o.stderr));
      return JSON.parse(new TextDecoder().decode(o.stdout)) as string[];
    });
    assertEquals(subnets.length, 15);
    assertEquals(new Set(subnets).size, 15);
  });
});

Deno.test("FileStore: a restarted node gets its previous subnet back", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir });
    await s.putNetworkConfigIfAbsent(cfg);
    await s.acquire(req("n0", "192.168.1.1"));
    const first = await s.acquire(req("n1"));
    const again = await new FileStore({ dir }).acquire({ ...req("n1"), backendData: { x: 1 } });
    assertEquals(again.subnet, first.subnet);
    assertEquals(again.backendData, { x: 1 });
    assertEquals((await s.list()).leases.length, 2);
  });
});

Deno.test("FileStore: an expired lease is invisible and its subnet is handed out again when no other is free", async () => {
  await withDir(async (dir) => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const s = new FileStore({ dir, now: () => now });
    await s.putNetworkConfigIfAbsent({ ...cfg, subnetMax: "10.244.1.0" }); // one subnet
    const l1 = await s.acquire(req("n1", "192.168.1.1"));
    now += 61_000;
    assertEquals((await s.list()).leases, []);
    const l2 = await s.acquire(req("n2", "192.168.1.2"));
    assertEquals(l2.subnet, l1.subnet);
    await assertRejects(() => s.renew(l1, 60), LeaseLostError, 'belongs to node "n2"');
  });
});

Deno.test("FileStore: a node back after its TTL, its lease file gone, gets its subnet back; others get unused ones first", async () => {
  await withDir(async (dir) => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const s = new FileStore({ dir, now: () => now });
    await s.putNetworkConfigIfAbsent(cfg);
    const a = await s.acquire(req("a", "192.168.1.1"));
    const b = await s.acquire(req("b", "192.168.1.2"));
    now += 61_000; // both expired: the nodes were down (or the clock jumped) past the TTL
    // Before: c's acquire deleted every expired record and took the lowest subnet, a's.
    const c = await s.acquire(req("c", "192.168.1.3"));
    assert(c.subnet !== a.subnet && c.subnet !== b.subnet, c.subnet);
    // a comes back without a previousSubnet (its subnet.json is on a tmpfs /run, gone).
    assertEquals((await s.acquire(req("a", "192.168.1.1"))).subnet, a.subnet);
    // The subnet named by the lease file still comes first.
    const bAgain = await s.acquire({ ...req("b", "192.168.1.2"), previousSubnet: "10.244.9.0/24" });
    assertEquals(bAgain.subnet, "10.244.9.0/24");
    // b's expired record is gone with that (a node holds one lease).
    assertEquals(
      [...Deno.readDirSync(`${dir}/subnets`)].map((e) => e.name).filter((n) => n.endsWith(".json"))
        .sort(),
      ["10.244.1.0-24.json", "10.244.3.0-24.json", "10.244.9.0-24.json"],
    );
  });
});

Deno.test("FileStore: renew() extends the expiration; a released lease cannot be renewed", async () => {
  await withDir(async (dir) => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const s = new FileStore({ dir, now: () => now });
    await s.putNetworkConfigIfAbsent(cfg);
    const l = await s.acquire(req("n1"));
    now += 50_000;
    const r = await s.renew(l, 60);
    assertEquals(r.expiration, "2030-01-01T00:01:50.000Z");
    now += 30_000;
    assertEquals((await s.list()).leases.map((x) => x.subnet), [l.subnet]);
    await s.release(r);
    assertEquals((await s.list()).leases, []);
    await assertRejects(() => s.renew(r, 60), LeaseLostError, "gone");
  });
});

Deno.test("FileStore: corrupt records are skipped with one warning each", async () => {
  await withDir(async (dir) => {
    const warnings: string[] = [];
    const s = new FileStore({ dir, onWarning: (m, f) => warnings.push(`${m} ${f?.file}`) });
    await s.putNetworkConfigIfAbsent(cfg);
    await Deno.writeTextFile(`${dir}/subnets/10.244.1.0-24.json`, "{not json");
    await Deno.writeTextFile(
      `${dir}/subnets/10.244.2.0-24.json`,
      JSON.stringify({ PublicIP: "x", Expiration: "2099-01-01T00:00:00Z" }),
    );
    await Deno.writeTextFile(
      `${dir}/subnets/bogus.json`,
      JSON.stringify({ PublicIP: "1.2.3.4", Expiration: "2099-01-01T00:00:00Z" }),
    );
    await Deno.writeTextFile(
      `${dir}/subnets/10.244.3.0-24.json`,
      JSON.stringify({ PublicIP: "1.2.3.4" }),
    );
    assertEquals((await s.list()).leases, []);
    await s.list();
    assertEquals(warnings.length, 4);
    // A subnet with an unreadable record is not handed out (it may be someone's lease).
    const l = await s.acquire(req("n1"));
    assertEquals(l.subnet, "10.244.4.0/24");
    assertEquals(await Deno.readTextFile(`${dir}/subnets/10.244.1.0-24.json`), "{not json");
  });
});

Deno.test("FileStore: the IPv6 subnet of an unreadable dual-stack record is not handed out", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir, onWarning: () => {} });
    await s.putNetworkConfigIfAbsent({ ...cfg, network6: "fd00:10:244::/56" });
    // Garbage under a dual-stack key: both of its subnets may belong to a node.
    await Deno.writeTextFile(`${dir}/subnets/10.244.1.0-24&fd00:10:244:1::-64.json`, "{garbage");
    const l = await s.acquire({ ...req("n1"), publicIP6: "fd00::10" });
    assert(l.subnet6 !== undefined, "a dual-stack lease");
    assert(l.subnet !== "10.244.1.0/24", `got ${l.subnet}`);
    assert(l.subnet6 !== "fd00:10:244:1::/64", `got ${l.subnet6}, held by the unreadable record`);
  });
});

Deno.test("FileStore: acquire() throws SubnetExhaustedError when the range is full", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir });
    await s.putNetworkConfigIfAbsent({ ...cfg, subnetMax: "10.244.2.0" });
    await s.acquire(req("n1", "10.0.0.1"));
    await s.acquire(req("n2", "10.0.0.2"));
    await assertRejects(() => s.acquire(req("n3", "10.0.0.3")), SubnetExhaustedError);
  });
});

Deno.test("FileStore: watch() reports added, changed and removed leases", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir, pollIntervalMs: 20 });
    await s.putNetworkConfigIfAbsent(cfg);
    const { revision } = await s.list();
    const ac = new AbortController();
    const items: WatchItem[] = [];
    const done = (async () => {
      for await (const it of s.watch(revision, ac.signal)) items.push(it);
    })();
    const wait = async (n: number) => {
      for (let i = 0; i < 200 && items.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await new Promise((r) => setTimeout(r, 50));
    const l = await s.acquire(req("n1"));
    await wait(1);
    await new Promise((r) => setTimeout(r, 5));
    const renewed = await s.renew(l, 60); // reported, with the new expiration
    await wait(2);
    await s.acquire({ ...req("n1"), backendData: { v: 2 } });
    await wait(3);
    await s.release(l);
    await wait(4);
    ac.abort();
    await done;
    const flat = items.map((
      it,
    ) => ("events" in it
      ? it.events.map((e) => `${e.type} ${e.lease.subnet}`).join(",")
      : "resync")
    );
    assertEquals(flat, [
      "added 10.244.1.0/24",
      "added 10.244.1.0/24",
      "added 10.244.1.0/24",
      "removed 10.244.1.0/24",
    ]);
    const second = items[1]!;
    assert("events" in second);
    assertEquals(second.events[0]!.lease, renewed);
  });
});

Deno.test("FileStore: watch() from a stale revision starts with a resync", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir, pollIntervalMs: 20 });
    await s.putNetworkConfigIfAbsent(cfg);
    await s.acquire(req("n1"));
    const ac = new AbortController();
    for await (const it of s.watch(asRevision("0"), ac.signal)) {
      assert("resync" in it);
      assertEquals(it.resync.leases.length, 1);
      ac.abort();
    }
  });
});

/** Collects watch() items until `stop` aborts; `until(n)` waits (at most 5 s) for n items. */
function collect(s: FileStore, from: Revision) {
  const ac = new AbortController();
  const items: WatchItem[] = [];
  const done = (async () => {
    for await (const it of s.watch(from, ac.signal)) items.push(it);
  })();
  return {
    items,
    async until(n: number) {
      for (let i = 0; i < 500 && items.length < n; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      ac.abort();
      await done;
    },
  };
}

const flatItems = (items: WatchItem[]) =>
  items.map((it) =>
    "events" in it ? it.events.map((e) => `${e.type} ${e.lease.subnet}`).join(",") : "resync"
  );

Deno.test("FileStore: watch() is woken by file events, not its (hour-long) poll", async () => {
  await withDir(async (dir) => {
    const slow = { pollIntervalMs: 3_600_000, safetyPollMs: 3_600_000 };
    const s = new FileStore({ dir, ...slow });
    await s.putNetworkConfigIfAbsent(cfg);
    const w = collect(s, (await s.list()).revision);
    try {
      await new Promise((r) => setTimeout(r, 50));
      const writer = new FileStore({ dir }); // another writer, same directory
      const l = await writer.acquire(req("n1"));
      await w.until(1);
      await writer.release(l);
      await w.until(2);
    } finally {
      await w.stop();
    }
    assertEquals(flatItems(w.items), ["added 10.244.1.0/24", "removed 10.244.1.0/24"]);
  });
});

Deno.test("FileStore: watch() sees a lease file replaced by hand (rename into place, no revision bump)", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir, pollIntervalMs: 3_600_000, safetyPollMs: 3_600_000 });
    await s.putNetworkConfigIfAbsent(cfg);
    const l = await s.acquire(req("n1"));
    const w = collect(s, (await s.list()).revision);
    try {
      await new Promise((r) => setTimeout(r, 50));
      const file = `${dir}/subnets/10.244.1.0-24.json`;
      const rec = JSON.parse(await Deno.readTextFile(file));
      rec.PublicIP = "192.168.1.99";
      await Deno.writeTextFile(`${dir}/subnets/.edit.tmp`, JSON.stringify(rec));
      await Deno.rename(`${dir}/subnets/.edit.tmp`, file);
      await w.until(1);
      await Deno.remove(file);
      await w.until(2);
    } finally {
      await w.stop();
    }
    assertEquals(flatItems(w.items), ["added 10.244.1.0/24", "removed 10.244.1.0/24"]);
    assertEquals(l.publicIP, "192.168.1.10");
  });
});

Deno.test("FileStore: watch() ignores the lock file, temporary files and its own reads", async () => {
  await withDir(async (dir) => {
    let lists = 0;
    class Counting extends FileStore {
      override list() {
        lists++;
        return super.list();
      }
    }
    const s = new Counting({ dir, pollIntervalMs: 3_600_000, safetyPollMs: 3_600_000 });
    await s.putNetworkConfigIfAbsent(cfg);
    await s.acquire(req("n1"));
    const w = collect(s, (await s.list()).revision);
    try {
      await new Promise((r) => setTimeout(r, 50));
      const before = lists;
      for (let i = 0; i < 10; i++) {
        const f = await Deno.open(`${dir}/lock`, { create: true, write: true });
        await f.lock(true);
        f.close();
        await Deno.writeTextFile(`${dir}/subnets/.x${i}.tmp`, "{}");
        await Deno.remove(`${dir}/subnets/.x${i}.tmp`);
        await Deno.readTextFile(`${dir}/revision`);
        await Deno.readTextFile(`${dir}/subnets/10.244.1.0-24.json`);
      }
      await new Promise((r) => setTimeout(r, 200));
      assertEquals(lists - before, 0);
      await s.renew((await s.list()).leases[0]!, 60); // a real change still wakes it
      const after = lists;
      for (let i = 0; i < 500 && lists === after; i++) await new Promise((r) => setTimeout(r, 10));
      assert(lists > after, "a renewal bumps the revision: watch() re-lists");
    } finally {
      await w.stop();
    }
    // The renewal is reported (its new expiration); LeaseInformer counts it as no change.
    assertEquals(flatItems(w.items), ["added 10.244.1.0/24"]);
  });
});

Deno.test("FileStore: a FIFO planted in the store directory does not wedge watch(): later changes still wake it", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir, pollIntervalMs: 3_600_000, safetyPollMs: 3_600_000 });
    await s.putNetworkConfigIfAbsent(cfg);
    const w = collect(s, (await s.list()).revision);
    try {
      await new Promise((r) => setTimeout(r, 50)); // the watch is running
      // Before (Deno.watchFs): its thread opened the FIFO and waited for a writer; no event came
      // after it (only the hour-long poll was left), and closing it froze the process.
      mkfifo(`${dir}/planted`);
      mkfifo(`${dir}/subnets/planted`);
      const writer = new FileStore({ dir });
      const l = await writer.acquire(req("n1"));
      await w.until(1);
      await writer.release(l);
      await w.until(2);
    } finally {
      await w.stop();
    }
    assertEquals(flatItems(w.items), ["added 10.244.1.0/24", "removed 10.244.1.0/24"]);
  });
});

Deno.test("FileStore: with fsEvents off, watch() still sees changes by polling", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir, pollIntervalMs: 20, fsEvents: false });
    await s.putNetworkConfigIfAbsent(cfg);
    const w = collect(s, (await s.list()).revision);
    try {
      const l = await s.acquire(req("n1"));
      await w.until(1);
      await s.release(l);
      await w.until(2);
    } finally {
      await w.stop();
    }
    assertEquals(flatItems(w.items), ["added 10.244.1.0/24", "removed 10.244.1.0/24"]);
  });
});

Deno.test("FileStore: watch() ends cleanly when its consumer stops early (watcher closed)", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir });
    await s.putNetworkConfigIfAbsent(cfg);
    await s.acquire(req("n1"));
    const ac = new AbortController();
    for await (const it of s.watch(asRevision("0"), ac.signal)) {
      assert("resync" in it);
      break; // return() on the generator: its finally closes the inotify watcher
    }
    // The test sanitizers fail this test if the watcher or its reader task leaked.
  });
});

Deno.test("FileStore: watch() loses nothing in a burst of writes from another process", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir, pollIntervalMs: 3_600_000, safetyPollMs: 3_600_000 });
    await s.putNetworkConfigIfAbsent(cfg);
    const w = collect(s, (await s.list()).revision);
    const view = new Map<string, string>();
    try {
      await new Promise((r) => setTimeout(r, 50));
      const code = `
        import { FileStore } from ${JSON.stringify(new URL("./file.ts", import.meta.url).href)};
        const s = new FileStore({ dir: Deno.args[0] });
        const ls = [];
        for (let i = 0; i < 60; i++) ls.push(await s.acquire({ node: "b" + i, publicIP: "10.0.1." + (i + 1), backendType: "host-gw", ttlSeconds: 60 }));
        for (const l of ls.filter((_, i) => i % 3 === 0)) await s.release(l);`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", code, dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      const want = (await s.list()).leases;
      assertEquals(want.length, 40);
      const apply = () => {
        view.clear();
        for (const it of w.items) {
          if ("resync" in it) continue;
          for (const e of it.events) {
            if (e.type === "added") view.set(e.lease.subnet, e.lease.node);
            else view.delete(e.lease.subnet);
          }
        }
      };
      const wanted = want.map((l) => [l.subnet, l.node] as [string, string]).sort();
      for (let i = 0; i < 500; i++) {
        apply();
        if (JSON.stringify([...view].sort()) === JSON.stringify(wanted)) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      assertEquals([...view].sort(), wanted);
    } finally {
      await w.stop();
    }
  });
});

Deno.test("FileStore: list() sees a lease file rewritten by hand (decoded records are reused only while unchanged)", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir });
    const exp = new Date(Date.now() + 3600_000).toISOString();
    const file = `${dir}/subnets/10.244.7.0-24.json`;
    const write = (ip: string) =>
      Deno.writeTextFileSync(
        file,
        JSON.stringify({ Subnet: "10.244.7.0/24", PublicIP: ip, Node: "n7", Expiration: exp }) +
          "\n",
      );
    write("192.168.1.7");
    const first = (await s.list()).leases;
    assertEquals(first.map((l) => l.publicIP), ["192.168.1.7"]);
    assert((await s.list()).leases[0] === first[0], "an unchanged file gives the same record");
    write("192.168.1.8");
    assertEquals((await s.list()).leases.map((l) => l.publicIP), ["192.168.1.8"]);
    Deno.writeTextFileSync(file, "{not json");
    assertEquals((await s.list()).leases, []);
    write("192.168.1.8");
    assertEquals((await s.list()).leases.map((l) => l.publicIP), ["192.168.1.8"]);
    Deno.removeSync(file);
    assertEquals((await s.list()).leases, []);
  });
});

Deno.test("FileStore: a lease written between list() and watch() without its revision bump yet is delivered (issue 15)", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir, pollIntervalMs: 20 });
    await s.putNetworkConfigIfAbsent(cfg);
    await s.acquire(req("n1"));
    const { revision, leases } = await s.list();
    assertEquals(leases.length, 1);
    // A writer in another process: its lease file is in place, its revision bump not yet.
    const rev = await Deno.readTextFile(`${dir}/revision`);
    const other = new FileStore({ dir: `${dir}` });
    await other.acquire(req("n2", "192.168.1.11"));
    await Deno.writeTextFile(`${dir}/revision`, rev);
    const w = collect(s, revision);
    try {
      await new Promise((r) => setTimeout(r, 100)); // the watch's first read sees the file
      await Deno.writeTextFile(`${dir}/revision`, `${Number(rev) + 1}\n`); // the bump lands
      await w.until(1);
    } finally {
      await w.stop();
    }
    assertEquals(flatItems(w.items), ["added 10.244.2.0/24"]);
  });
});

Deno.test("FileStore: a lease that expires between list() and watch() is reported removed", async () => {
  await withDir(async (dir) => {
    let now = Date.now();
    const s = new FileStore({ dir, pollIntervalMs: 20, now: () => now });
    await s.putNetworkConfigIfAbsent(cfg);
    await s.acquire({ ...req("n1"), ttlSeconds: 5 });
    const { revision, leases } = await s.list();
    assertEquals(leases.length, 1);
    now += 10_000;
    const w = collect(s, revision);
    try {
      await w.until(1);
    } finally {
      await w.stop();
    }
    assertEquals(flatItems(w.items), ["removed 10.244.1.0/24"]);
  });
});

Deno.test("FileStore: watch() follows the directory when it is deleted and made again", async () => {
  await withDir(async (dir) => {
    const slow = { pollIntervalMs: 3_600_000, safetyPollMs: 200 };
    const s = new FileStore({ dir, ...slow });
    await s.putNetworkConfigIfAbsent(cfg);
    await s.acquire(req("n1"));
    const w = collect(s, (await s.list()).revision);
    try {
      await new Promise((r) => setTimeout(r, 50));
      // In one go (the watch cannot run in between): it never sees the directory missing.
      Deno.removeSync(`${dir}/subnets`, { recursive: true });
      Deno.mkdirSync(`${dir}/subnets`);
      await w.until(1);
      const writer = new FileStore({ dir });
      await writer.acquire(req("n2", "192.168.1.11"));
      await w.until(2);
    } finally {
      await w.stop();
    }
    assertEquals(flatItems(w.items), ["removed 10.244.1.0/24", "added 10.244.1.0/24"]);
  });
});

Deno.test("FileStore: watch() throws StoreError when the directory is gone", async () => {
  await withDir(async (dir) => {
    const s = new FileStore({ dir, pollIntervalMs: 20 });
    await s.putNetworkConfigIfAbsent(cfg);
    const { revision } = await s.list();
    await Deno.remove(`${dir}/subnets`, { recursive: true });
    await assertRejects(
      async () => {
        for await (const _ of s.watch(revision, AbortSignal.timeout(5000))) { /* none */ }
      },
      StoreError,
      "Cannot use lease directory",
    );
  });
});

/** mkfifo PATH (no Deno API makes a FIFO). */
function mkfifo(path: string): void {
  const r = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  if (!r.success) throw new Error(`mkfifo ${path} failed`);
}

Deno.test("FileStore: a FIFO planted as the revision, config or a lease record never blocks an operation", async () => {
  await withDir(async (dir) => {
    const warnings: string[] = [];
    const s = new FileStore({ dir, onWarning: (m, f) => warnings.push(`${m}: ${f?.error}`) });
    await s.putNetworkConfigIfAbsent(cfg);
    const a = await s.acquire(req("a", "10.0.0.1"));
    // Each of these reads used to open the FIFO and wait for a writer, forever (a synchronous
    // read: the whole daemon stopped).
    Deno.removeSync(`${dir}/revision`);
    mkfifo(`${dir}/revision`);
    assertEquals((await s.list()).leases.map((l) => l.subnet), [a.subnet]);
    await s.renew(a, 60); // the bump replaces the FIFO with a counter again
    assert(Deno.statSync(`${dir}/revision`).isFile);

    Deno.removeSync(`${dir}/subnets/10.244.1.0-24.json`);
    mkfifo(`${dir}/subnets/10.244.1.0-24.json`);
    assertEquals((await s.list()).leases, []);
    assert(warnings.some((w) => w.includes("FIFO")), warnings.join("\n"));
    // The still-live lease is restored over the FIFO by its node's renewal.
    const renewed = await s.renew(a, 60);
    assertEquals((await s.list()).leases.map((l) => l.subnet), [renewed.subnet]);

    Deno.removeSync(`${dir}/config.json`);
    mkfifo(`${dir}/config.json`);
    const e = await assertRejects(() => s.acquire(req("b", "10.0.0.2")), StoreError);
    assert(e.message.includes("config.json") && e.message.includes("FIFO"), e.message);
  });
});

Deno.test("FileStore: a subnet whose record name is a directory, FIFO or oversized file is never handed out", async () => {
  await withDir(async (dir) => {
    const warnings: string[] = [];
    const s = new FileStore({ dir, onWarning: (m, f) => warnings.push(`${m}: ${f?.error}`) });
    await s.putNetworkConfigIfAbsent(cfg);
    Deno.mkdirSync(`${dir}/subnets/10.244.1.0-24.json`);
    mkfifo(`${dir}/subnets/10.244.2.0-24.json`);
    Deno.writeTextFileSync(`${dir}/subnets/10.244.3.0-24.json`, " ".repeat(1 << 20));
    Deno.symlinkSync("/dev/zero", `${dir}/subnets/10.244.4.0-24.json`);
    // Before: the directory's subnet was chosen, the rename over it failed, and every retry
    // chose it again; the FIFO's subnet was handed out too.
    const l = await s.acquire(req("n1"));
    assertEquals(l.subnet, "10.244.5.0/24");
    assertEquals(warnings.length, 4, warnings.join("\n"));
    await s.list();
    assertEquals(warnings.length, 4, "one warning per record until it changes");
  });
});

Deno.test({
  name: "FileStore: a FIFO planted as the lock file does not block the store",
  // Before, the write-only open waited for a reader for good (the timeout below fires).
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withDir(async (dir) => {
      const s = new FileStore({ dir });
      await s.putNetworkConfigIfAbsent(cfg);
      Deno.removeSync(`${dir}/lock`);
      mkfifo(`${dir}/lock`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const l = await Promise.race([
        s.acquire(req("n1")),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("acquire() blocked on the lock")), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      assertEquals(l.subnet, "10.244.1.0/24");
      assertEquals((await s.renew(l, 60)).subnet, l.subnet);
    });
  },
});
