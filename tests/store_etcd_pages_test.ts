/**
 * Integration: the etcd store reads `<prefix>/subnets/` in pages (a real etcd on loopback): every
 * page at the first page's revision, the same records as one big range; values of a megabyte
 * (no lease record is one) are left out while the answer streams in and reported as too large,
 * in a list and in a watch; a compaction between two pages starts the range over.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { EtcdClient, prefixEnd } from "../store/_etcd_client.ts";
import { EtcdStore } from "../store/etcd.ts";
import type { WatchItem } from "../store/types.ts";
import { etcdAvailable, withEtcd } from "./store_etcd_server.ts";

const P = "/coreos.com/network";
const S = `${P}/subnets/`;
const CONFIG = '{"Network":"10.248.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';
const record = (i: number) =>
  JSON.stringify({
    PublicIP: `192.168.95.${i}`,
    BackendType: "vxlan",
    BackendData: { VtepMAC: "02:00:00:00:00:01" },
    Node: `p${i}`,
  });
const MB = "x".repeat(1_000_000);

Deno.test({
  name:
    "EtcdStore: the subnets are listed in pages at one revision; megabyte values are left out as they stream in, in a list and in a watch",
  ignore: !etcdAvailable("etcd paging tests"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withEtcd(async (etcd) => {
      const raw = new EtcdClient({ endpoints: [etcd.endpoint] });
      await raw.put(`${P}/config`, CONFIG);
      for (let i = 1; i <= 10; i++) await raw.put(`${S}10.248.${i}.0-24`, record(i));
      for (let i = 100; i < 103; i++) await raw.put(`${S}10.248.${i}.0-24`, MB);
      const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
      const store = new EtcdStore({
        endpoints: [etcd.endpoint],
        listPageSize: 3,
        onWarning: (msg, fields) => warnings.push({ msg, fields }),
      });
      const list = await store.list();
      assertEquals(
        list.leases.map((l) => l.node).sort(),
        [
          ...Array.from({ length: 10 }, (_, i) => `p${i + 1}`),
        ].sort(),
      );
      const tooLarge = warnings.filter((w) =>
        /the value is 1000000 bytes, more than the 65536 allowed/.test(String(w.fields?.error))
      );
      assertEquals(tooLarge.map((w) => w.fields?.key).sort(), [
        `${S}10.248.100.0-24`,
        `${S}10.248.101.0-24`,
        `${S}10.248.102.0-24`,
      ]);

      // Pages of 1 and 3 hold what one range holds, at its revision.
      const whole = await raw.range(S, prefixEnd(S), { pageSize: 1000 });
      for (const pageSize of [1, 3]) {
        const paged = await raw.range(S, prefixEnd(S), { pageSize, maxValueBytes: 1000 });
        assertEquals(paged.revision, whole.revision);
        assertEquals(paged.kvs.map((k) => k.key), whole.kvs.map((k) => k.key));
        assertEquals(paged.kvs.map((k) => k.modRevision), whole.kvs.map((k) => k.modRevision));
        assertEquals(
          paged.kvs.filter((k) => k.skippedBytes !== undefined).map((
            k,
          ) => [k.value, k.skippedBytes]),
          [["", 1_000_000], ["", 1_000_000], ["", 1_000_000]],
        );
      }
      assertEquals(whole.kvs.filter((k) => k.value === MB).length, 3, "no limit: all of it");

      // A lease overwritten with a megabyte while watched: removed, reported too large.
      const ac = new AbortController();
      const items: WatchItem[] = [];
      const loop = (async () => {
        for await (const it of store.watch(list.revision, ac.signal)) items.push(it);
      })();
      try {
        warnings.length = 0;
        await raw.put(`${S}10.248.10.0-24`, MB);
        const end = Date.now() + 10_000;
        while (!items.some((i) => "events" in i) && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 50));
        }
        const evs = items.flatMap((i) => "events" in i ? i.events : []);
        assertEquals(evs.map((e) => [e.type, e.lease.subnet, e.lease.node]), [
          ["removed", "10.248.10.0/24", "p10"],
        ]);
        assert(
          warnings.some((w) => /the value is 1000000 bytes/.test(String(w.fields?.error))),
          JSON.stringify(warnings),
        );
      } finally {
        ac.abort();
        await loop;
      }
    }, { dir: "/dev/shm" }),
});

Deno.test({
  name:
    "EtcdClient.range(): a compaction between two pages starts the range over, at etcd's latest",
  ignore: !etcdAvailable("etcd paging tests"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withEtcd(async (etcd) => {
      const raw = new EtcdClient({ endpoints: [etcd.endpoint] });
      for (let i = 1; i <= 5; i++) await raw.put(`${S}10.248.${i}.0-24`, record(i));
      const c = new EtcdClient({ endpoints: [etcd.endpoint] });
      const call = c.call.bind(c);
      let pages = 0;
      c.call = async (path, body, signal, read) => {
        const j = await call(path, body, signal, read);
        if (path === "/v3/kv/range" && ++pages === 1) {
          // Between the first and the second page: a new record, then a compaction past both.
          const rev = await raw.put(`${S}10.248.6.0-24`, record(6));
          await raw.call("/v3/kv/compaction", { revision: String(rev) });
        }
        return j;
      };
      const r = await c.range(S, prefixEnd(S), { pageSize: 2 });
      assertEquals(r.kvs.length, 6, "the range started over and sees the new record");
      assertEquals(r.revision, (await raw.range(S, prefixEnd(S))).revision);
      assertEquals(pages, 1 + 3, "one page before the compaction, three after");
    }, { dir: "/dev/shm" }),
});
