/**
 * A lease writer process for tests/store_watch_race_test.ts: `ops` random creates (acquire),
 * renewals (plain, or with new attributes) and deletes (release) of its own 10 nodes
 * `w<id>-<j>` in one datastore. Every write that changes a record carries the node's next
 * `backendData.seq`, so a watcher can check per-node order. Errors (a lease lost, the store
 * directory briefly gone) are counted, not fatal. Prints `{"ops","errors"}` as JSON at the end.
 *
 * Run: deno run -A tests/store_race_worker.ts file|etcd <dir|endpoint> <id> <ops> <seed>
 *
 * @module
 */
import { EtcdStore } from "../store/etcd.ts";
import { LeaseLostError } from "../store/errors.ts";
import { FileStore } from "../store/file.ts";
import type { Lease, LeaseStore } from "../store/types.ts";

const [kind, where, id = "0", opsArg = "100", seedArg = "1"] = Deno.args;
if ((kind !== "file" && kind !== "etcd") || !where) {
  console.error("usage: store_race_worker.ts file|etcd <dir|endpoint> <id> <ops> <seed>");
  Deno.exit(2);
}
const store: LeaseStore = kind === "file"
  ? new FileStore({ dir: where })
  : new EtcdStore({ endpoints: [where] });

let seed = Number(seedArg) >>> 0;
/** mulberry32: a small seeded PRNG, so a failing run can be repeated. */
function rand(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const held = new Map<number, Lease>();
const seq = new Map<number, number>();
let errors = 0;
const ops = Number(opsArg);
for (let i = 0; i < ops; i++) {
  const j = Math.floor(rand() * 10);
  const n = (seq.get(j) ?? 0) + 1;
  seq.set(j, n);
  const l = held.get(j);
  const r = rand();
  try {
    if (!l) {
      held.set(
        j,
        await store.acquire({
          node: `w${id}-${j}`,
          publicIP: `10.${id}.0.${j + 1}`,
          backendType: "host-gw",
          backendData: { seq: n },
          ttlSeconds: 60,
        }),
      );
    } else if (r < 0.25) {
      await store.release(l);
      held.delete(j);
    } else if (r < 0.5) {
      held.set(j, await store.renew(l, 60)); // a plain renewal: not a change
    } else {
      held.set(j, await store.renew({ ...l, backendData: { seq: n } }, 60));
    }
  } catch (e) {
    errors++;
    if (e instanceof LeaseLostError) held.delete(j);
  }
}
await store.close();
console.log(JSON.stringify({ ops, errors }));
