import { assert, assertEquals } from "../testing/assert.ts";
import { type InformerBatch, LeaseInformer } from "./informer.ts";
import { asRevision, type Lease, type LeaseList, type WatchItem } from "./types.ts";

const lease = (i: number, ip = `192.168.1.${i}`, exp = "2030-01-01T00:00:00.000Z"): Lease => ({
  subnet: `10.244.${i}.0/24`,
  publicIP: ip,
  node: `n${i}`,
  backendType: "host-gw",
  expiration: exp,
});
const rev = (n: number) => asRevision(String(n));

/**
 * A store that answers lists and watches from scripts: each list() takes the next list, each
 * watch() plays the next script (items, then an error or an end) and records where it started.
 */
function scripted(lists: LeaseList[], watches: (WatchItem | Error | "end" | "hang")[][]) {
  const from: string[] = [];
  return {
    from,
    store: {
      list: () => {
        const l = lists.shift();
        return l ? Promise.resolve(l) : Promise.reject(new Error("no more lists"));
      },
      async *watch(r: string, signal: AbortSignal): AsyncIterable<WatchItem> {
        from.push(r);
        for (const step of watches.shift() ?? ["hang"]) {
          await new Promise((res) => setTimeout(res, 1));
          if (step === "end" || signal.aborted) return;
          if (step === "hang") {
            await new Promise((res) => signal.addEventListener("abort", res, { once: true }));
            return;
          }
          if (step instanceof Error) throw step;
          yield step;
        }
      },
    },
  };
}

async function runUntil(inf: LeaseInformer, done: () => boolean): Promise<void> {
  const ac = new AbortController();
  const run = inf.run(ac.signal);
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  ac.abort();
  await run;
  assert(done(), "the informer did not get there in 2.5 s");
}

const flat = (bs: InformerBatch[]) =>
  bs.map((b) =>
    `${b.source}@${b.revision}:` + b.events.map((e) => `${e.type} ${e.lease.node}`).join(",")
  );

Deno.test("LeaseInformer: lists, then watches from exactly that revision", async () => {
  const s = scripted([{ leases: [lease(1)], revision: rev(7) }], [[
    { events: [{ type: "added", lease: lease(2) }], revision: rev(8) },
    "hang",
  ]]);
  const batches: InformerBatch[] = [];
  const inf = new LeaseInformer({ store: s.store, onChange: (b) => batches.push(b) });
  assertEquals(inf.synced, false);
  await runUntil(inf, () => batches.length === 2);
  assertEquals(s.from, ["7"]);
  assertEquals(flat(batches), ["list@7:added n1", "watch@8:added n2"]);
  assertEquals([...inf.leases().keys()], ["10.244.1.0-24", "10.244.2.0-24"]);
  assertEquals([inf.synced, inf.revision, inf.relists], [true, rev(8), 0]);
});

Deno.test("LeaseInformer: a repeated add, a renewal and a removal of an unknown lease are not events", async () => {
  const s = scripted([{ leases: [lease(1)], revision: rev(1) }], [[
    { events: [{ type: "added", lease: lease(1) }], revision: rev(2) },
    {
      events: [{ type: "added", lease: lease(1, undefined, "2031-01-01T00:00:00.000Z") }],
      revision: rev(3),
    },
    { events: [{ type: "removed", lease: lease(5) }], revision: rev(4) },
    { events: [{ type: "added", lease: lease(1, "10.9.9.9") }], revision: rev(5) },
    "hang",
  ]]);
  const batches: InformerBatch[] = [];
  const inf = new LeaseInformer({ store: s.store, onChange: (b) => batches.push(b) });
  await runUntil(inf, () => inf.revision === rev(5));
  assertEquals(flat(batches), ["list@1:added n1", "watch@5:added n1"]);
  assertEquals(inf.leases().get("10.244.1.0-24")?.publicIP, "10.9.9.9");
});

Deno.test("LeaseInformer: a watch error re-lists and reports only what changed", async () => {
  const s = scripted(
    [
      { leases: [lease(1), lease(2)], revision: rev(1) },
      { leases: [lease(2), lease(3)], revision: rev(9) },
    ],
    [[new Error("connection reset")], ["hang"]],
  );
  const batches: InformerBatch[] = [];
  const errors: string[] = [];
  const inf = new LeaseInformer({
    store: s.store,
    onChange: (b) => batches.push(b),
    onError: (e) => errors.push(e.message),
    backoff: { minMs: 1, maxMs: 1 },
  });
  await runUntil(inf, () => batches.length === 2);
  assertEquals(errors, ["connection reset"]);
  assertEquals(s.from, ["1", "9"]);
  assertEquals(flat(batches), ["list@1:added n1,added n2", "list@9:added n3,removed n1"]);
  assertEquals(inf.relists, 1);
});

Deno.test("LeaseInformer: a watch that ends, and a resync from the store, re-list", async () => {
  const s = scripted(
    [
      { leases: [lease(1)], revision: rev(1) },
      { leases: [lease(1), lease(2)], revision: rev(4) },
    ],
    [["end"], [{ resync: { leases: [lease(2)], revision: rev(6) } }, "hang"]],
  );
  const batches: InformerBatch[] = [];
  const errors: string[] = [];
  const inf = new LeaseInformer({
    store: s.store,
    onChange: (b) => batches.push(b),
    onError: (e) => errors.push(e.message),
    backoff: { minMs: 1, maxMs: 1 },
  });
  await runUntil(inf, () => batches.length === 3);
  assertEquals(errors, ["the watch ended"]);
  assertEquals(flat(batches), ["list@1:added n1", "list@4:added n2", "list@6:removed n1"]);
  assertEquals(inf.relists, 2);
});

Deno.test("LeaseInformer: a failing list is retried with backoff until it works", async () => {
  let fails = 3;
  const inner = scripted([{ leases: [lease(1)], revision: rev(1) }], [["hang"]]);
  const waits: number[] = [];
  const inf = new LeaseInformer({
    store: {
      list: () => fails-- > 0 ? Promise.reject(new Error("down")) : inner.store.list(),
      watch: inner.store.watch,
    },
    onError: (_e, ms) => waits.push(ms),
    backoff: { minMs: 1, maxMs: 3 },
  });
  await runUntil(inf, () => inf.synced);
  assertEquals(waits, [1, 2, 3]);
  assertEquals(inf.leases().size, 1);
});

Deno.test("LeaseInformer: a removal carries the store's last record (its current expiration), else the cached one", async () => {
  const renewed = lease(1, undefined, "2031-06-01T00:00:00.000Z");
  const s = scripted([{ leases: [lease(1), lease(2)], revision: rev(1) }], [[
    { events: [{ type: "removed", lease: renewed }], revision: rev(2) },
    {
      events: [{
        type: "removed",
        lease: { subnet: "10.244.2.0/24", publicIP: "", node: "", backendType: "", expiration: "" },
      }],
      revision: rev(3),
    },
    "hang",
  ]]);
  const removed: Lease[] = [];
  const inf = new LeaseInformer({
    store: s.store,
    onChange: (b) => b.events.forEach((e) => e.type === "removed" && removed.push(e.lease)),
  });
  await runUntil(inf, () => removed.length === 2);
  assertEquals(removed, [renewed, lease(2)]);
});

Deno.test("LeaseInformer: a lease whose backendData alone changed (a new VtepMAC) is an event", async () => {
  const vx = (mac: string, exp = "2030-01-01T00:00:00.000Z"): Lease => ({
    ...lease(1, undefined, exp),
    backendType: "vxlan",
    backendData: { VtepMAC: mac },
  });
  const s = scripted([{ leases: [vx("0a:00:00:00:00:01")], revision: rev(1) }], [[
    { events: [{ type: "added", lease: vx("0a:00:00:00:00:02") }], revision: rev(2) },
    {
      events: [{ type: "added", lease: vx("0a:00:00:00:00:02", "2031-01-01T00:00:00.000Z") }],
      revision: rev(3),
    },
    "hang",
  ]]);
  const batches: InformerBatch[] = [];
  const inf = new LeaseInformer({ store: s.store, onChange: (b) => batches.push(b) });
  await runUntil(inf, () => inf.revision === rev(3));
  assertEquals(flat(batches), ["list@1:added n1", "watch@2:added n1"]);
});
