/**
 * Integration: the etcd store read the way the daemon reads it (a LeaseInformer) through a hostile
 * proxy in front of a real etcd (tests/_hostile_proxy.ts): HTML, cut JSON, 503s and answers that
 * never come are clear StoreErrors naming the endpoint; a watch connection that goes half-open
 * (silent, never closed) is replaced; etcd killed and started again, and a compaction while the
 * watch was away, converge. The informer's leases are never dropped while etcd is unreadable.
 */
import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { EtcdStore } from "../store/etcd.ts";
import { StoreError } from "../store/errors.ts";
import { LeaseInformer } from "../store/informer.ts";
import type { Lease, NetworkConfig } from "../store/types.ts";
import { startHostileProxy } from "./_hostile_proxy.ts";
import { etcdAvailable, withEtcd } from "./store_etcd_server.ts";

const cfg: NetworkConfig = { network: "10.244.0.0/16", subnetLen: 24, backend: { type: "vxlan" } };

async function until(what: string, f: () => boolean, timeoutMs = 30000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const nodes = (inf: LeaseInformer) => [...inf.leases().values()].map((l) => l.node).sort();

Deno.test({
  name:
    "etcd behind a hostile proxy: garbage and hangs are clear StoreErrors, a half-open watch is replaced, restart and compaction converge, no lease dropped",
  ignore: !etcdAvailable("etcd outage tests"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withEtcd(async (etcd) => {
      const truth = new EtcdStore({ endpoints: [etcd.endpoint] });
      await truth.putNetworkConfigIfAbsent(cfg);
      const acquire = (node: string, i: number): Promise<Lease> =>
        truth.acquire({
          node,
          publicIP: `192.168.1.${i}`,
          backendType: "vxlan",
          backendData: { VtepMAC: "0a:00:00:00:00:01" },
          ttlSeconds: 600,
        });
      for (const [i, n] of ["n1", "n2", "n3"].entries()) await acquire(n, i + 1);
      const proxy = startHostileProxy({ upstream: etcd.endpoint });
      const storeErrors: string[] = [];
      const watched = new EtcdStore({
        endpoints: [proxy.url],
        timeoutMs: 1500,
        watchRestartMs: 2000,
        onError: (e) => storeErrors.push(e.message),
      });
      const informerErrors: string[] = [];
      const inf = new LeaseInformer({
        store: watched,
        onError: (e) => informerErrors.push(e.message),
        backoff: { minMs: 100, maxMs: 1000 },
      });
      const stop = new AbortController();
      let fewest = Infinity;
      const run = inf.run(stop.signal);
      const watch = setInterval(() => {
        if (inf.synced) fewest = Math.min(fewest, inf.leases().size);
      }, 20);
      try {
        await until("the first list", () => inf.synced);
        assertEquals(nodes(inf), ["n1", "n2", "n3"]);

        // Every kind of bad answer is a StoreError that says what came back, from where.
        const bad: [typeof proxy.mode, RegExp][] = [
          ["garbage", /not (a )?JSON( object)?: <html>/],
          ["truncated", /not (a )?JSON( object)?: \{/],
          ["wrong-shape", /not a range answer/],
          ["unavailable", /HTTP 503, not (a )?JSON( object)?: upstream connect error/],
          ["hang", /Cannot reach etcd at http/],
        ];
        for (const [mode, says] of bad) {
          proxy.mode = mode;
          const e = await assertRejects(() => watched.list(), StoreError);
          assert(says.test(e.message), `${mode}: ${e.message}`);
          assert(e.message.includes(proxy.url), `${mode} names the endpoint: ${e.message}`);
          await assertRejects(() => watched.getNetworkConfig(), StoreError);
        }
        // The watch is torn down while every answer is garbage: the informer keeps its leases.
        proxy.mode = "garbage";
        const errorsBefore = storeErrors.length;
        proxy.silence();
        await until("the watch to fail to resume", () => storeErrors.length > errorsBefore);
        assertEquals(nodes(inf), ["n1", "n2", "n3"]);

        // A half-open watch: the open stream goes silent for good, new requests work again.
        const watches = () => proxy.seen.filter((p) => p === "/v3/watch").length;
        const before = watches();
        proxy.mode = "pass";
        await until("a new watch through the proxy", () => watches() > before);
        await new Promise((r) => setTimeout(r, 200));
        proxy.silence();
        await acquire("n4", 4);
        await until("n4 seen although its watch went half-open", () => nodes(inf).includes("n4"));

        // Garbage inside a watch stream: that stream breaks, the next one resumes.
        proxy.inject("this is not json\n", (p) => p.startsWith("/v3/watch"));
        proxy.silence();
        await acquire("n5", 5);
        await until("n5 after a garbage watch line", () => nodes(inf).includes("n5"));
        assert(storeErrors.some((m) => m.includes("watch")), storeErrors.join("\n"));

        // etcd killed: leases kept; started again: a lease written meanwhile... after it is back.
        await etcd.stop();
        await new Promise((r) => setTimeout(r, 2500));
        assertEquals(inf.leases().size, 5, "no lease dropped while etcd is down");
        await etcd.start();
        await acquire("n6", 6);
        await until("n6 after etcd restarted", () => nodes(inf).includes("n6"));

        // A compaction while the watch is away: the resumed watch gets ErrCompacted and re-lists.
        proxy.mode = "hang";
        proxy.silence();
        const n2 = [...(await truth.list()).leases].find((l) => l.node === "n2")!;
        await truth.release(n2);
        await acquire("n7", 7);
        const rev = Number((await truth.list()).revision);
        await truth.client.call("/v3/kv/compaction", { revision: String(rev) });
        proxy.mode = "pass";
        await until(
          "n2 gone and n7 seen after the compaction",
          () => nodes(inf).join() === "n1,n3,n4,n5,n6,n7",
        );
        assert(
          storeErrors.some((m) => /compacted/.test(m)) || inf.relists > 0,
          `the compaction was noticed: ${storeErrors.join("\n")}`,
        );
        assertEquals(fewest, 3, "the informer never held fewer leases than the store");
      } finally {
        clearInterval(watch);
        stop.abort();
        await run;
        await proxy.close();
        await watched.close();
        await truth.close();
      }
    }),
});
