/**
 * The etcd store against a real etcd 3.4 (started here on loopback, killed in finally).
 * Run: deno test -A tests/store_etcd_test.ts
 */
import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { EtcdStore } from "../store/etcd.ts";
import { LeaseLostError } from "../store/errors.ts";
import type {
  AcquireRequest,
  Lease,
  LeaseEvent,
  NetworkConfig,
  Revision,
  WatchItem,
} from "../store/types.ts";
import { etcdAvailable, withEtcd } from "./store_etcd_server.ts";

const cfg: NetworkConfig = {
  network: "10.244.0.0/16",
  subnetLen: 24,
  backend: { type: "vxlan", vni: 1 },
};
const req = (node: string, ip: string, ttl = 60): AcquireRequest => ({
  node,
  publicIP: ip,
  backendType: "vxlan",
  backendData: { VNI: 1, VtepMAC: "0a:58:0a:f4:01:00" },
  ttlSeconds: ttl,
});
const enabled = etcdAvailable("etcd store tests");

function etcdctl(endpoint: string, ...args: string[]): string {
  const out = new Deno.Command("/usr/bin/etcdctl", {
    args: [`--endpoints=${endpoint}`, ...args],
    env: { ETCDCTL_API: "3" },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

/** Collects watch items until `pred` holds (or 10 s pass). */
async function collect(
  store: EtcdStore,
  from: Revision,
  pred: (items: WatchItem[]) => boolean,
  during: () => Promise<void>,
): Promise<WatchItem[]> {
  const ac = new AbortController();
  const items: WatchItem[] = [];
  const loop = (async () => {
    for await (const it of store.watch(from, ac.signal)) {
      items.push(it);
      if (pred(items)) break;
    }
  })();
  const timer = setTimeout(() => ac.abort(), 10_000);
  try {
    await during();
    await loop;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return items;
}

const events = (items: WatchItem[]): LeaseEvent[] =>
  items.flatMap((i) => ("events" in i ? i.events : []));

Deno.test({
  name: "EtcdStore: acquire, flannel layout, concurrent acquires, renew, restart reuse, release",
  ignore: !enabled,
  fn: () =>
    withEtcd(async (etcd) => {
      const s = new EtcdStore({ endpoints: [etcd.endpoint] });
      await s.putNetworkConfigIfAbsent(cfg);
      assertEquals(
        (await s.putNetworkConfigIfAbsent({ ...cfg, network: "10.9.0.0/16" })).network,
        "10.244.0.0/16",
      );

      // flannel's layout, readable with etcdctl.
      const conf = JSON.parse(
        etcdctl(etcd.endpoint, "get", "--print-value-only", "/coreos.com/network/config"),
      );
      assertEquals(conf, {
        Network: "10.244.0.0/16",
        SubnetLen: 24,
        Backend: { Type: "vxlan", VNI: 1 },
      });

      const stores = [
        s,
        new EtcdStore({ endpoints: [etcd.endpoint] }),
        new EtcdStore({ endpoints: [etcd.endpoint] }),
      ];
      const leases = await Promise.all(
        Array.from({ length: 15 }, (_, i) =>
          stores[i % 3]!.acquire(req(`n${i}`, `192.168.1.${i + 1}`))),
      );
      assertEquals(
        new Set(leases.map((l) =>
          l.subnet
        )).size,
        15,
      );
      assertEquals((await s.list()).leases.length, 15);

      const l0 = leases[0]!;
      const key = `/coreos.com/network/subnets/${l0.subnet.replace("/", "-")}`;
      const rec = JSON.parse(etcdctl(etcd.endpoint, "get", "--print-value-only", key));
      assertEquals(rec, {
        PublicIP: "192.168.1.1",
        BackendType: "vxlan",
        BackendData: { VNI: 1, VtepMAC: "0a:58:0a:f4:01:00" },
        Node: "n0",
      });
      const keys = etcdctl(
        etcd.endpoint,
        "get",
        "--prefix",
        "--keys-only",
        "/coreos.com/network/subnets/",
      )
        .split("\n").filter((x) => x);
      assertEquals(keys.length, 15);

      // A restarted node (new store instance) gets its subnet back.
      const again = await new EtcdStore({ endpoints: [etcd.endpoint] }).acquire(
        req("n0", "192.168.1.1"),
      );
      assertEquals(again.subnet, l0.subnet);
      const renewed = await s.renew(again, 60);
      assertEquals(renewed.subnet, l0.subnet);
      // Exact expirations come from etcd's lease TTL (60 s here), not the assumed 24 h.
      const exact = await new EtcdStore({ endpoints: [etcd.endpoint], exactExpiration: true })
        .list();
      const left = Date.parse(exact.leases.find((l) => l.node === "n0")!.expiration) - Date.now();
      assert(left > 50_000 && left <= 61_000, `expiration ${left} ms away`);

      await s.release(renewed);
      assertEquals((await s.list()).leases.length, 14);
      await assertRejects(() => s.renew(renewed, 60), LeaseLostError);
    }),
});

Deno.test({
  name: "EtcdStore: a lease that is not renewed expires; renew keeps it alive",
  ignore: !enabled,
  fn: () =>
    withEtcd(async (etcd) => {
      const s = new EtcdStore({ endpoints: [etcd.endpoint] });
      await s.putNetworkConfigIfAbsent(cfg);
      const { revision } = await s.list();
      let kept = await s.acquire(req("keep", "192.168.1.1", 2));
      const gone = await s.acquire(req("gone", "192.168.1.2", 2));
      const items = await collect(
        s,
        revision,
        (it) => events(it).some((e) => e.type === "removed"),
        async () => {
          for (let i = 0; i < 5; i++) {
            await new Promise((r) => setTimeout(r, 700));
            kept = await s.renew(kept, 2);
          }
        },
      );
      const removed = events(items).filter((e) => e.type === "removed");
      assertEquals(removed.map((e) => [e.lease.subnet, e.lease.node]), [[gone.subnet, "gone"]]);
      // Expired, not deleted: its reported expiration has passed (peers may hold its routes).
      assert(Date.parse(removed[0]!.lease.expiration) <= Date.now(), removed[0]!.lease.expiration);
      assertEquals((await s.list()).leases.map((l) => l.node), ["keep"]);
      await assertRejects(() => s.renew(gone, 2), LeaseLostError, "gone");
      // Released: the removal reports an expiration still ahead (peers drop its routes at once).
      const { revision: r2 } = await s.list();
      const released = await collect(
        s,
        r2,
        (it) => events(it).some((e) => e.type === "removed"),
        () => s.release(kept),
      );
      const rel = events(released).find((e) => e.type === "removed")!;
      assertEquals(rel.lease.node, "keep");
      assert(Date.parse(rel.lease.expiration) > Date.now(), rel.lease.expiration);
    }),
});

Deno.test({
  name:
    "EtcdStore: watch sees adds and deletes, resumes after an etcd restart, resyncs after compaction",
  ignore: !enabled,
  fn: () =>
    withEtcd(async (etcd) => {
      const s = new EtcdStore({ endpoints: [etcd.endpoint] });
      await s.putNetworkConfigIfAbsent(cfg);
      const { revision } = await s.list();
      let a: Lease | undefined;
      const errors: string[] = [];
      const s2 = new EtcdStore({
        endpoints: [etcd.endpoint],
        onError: (e) => errors.push(e.message),
      });
      const items = await collect(
        s2,
        revision,
        (it) => events(it).filter((e) => e.lease.node === "b").length >= 1,
        async () => {
          a = await s.acquire(req("a", "192.168.1.1"));
          await new Promise((r) => setTimeout(r, 300));
          await etcd.stop();
          await new Promise((r) => setTimeout(r, 300));
          await etcd.start();
          // Written while the watcher may still be reconnecting: it must not be missed.
          await s.acquire(req("b", "192.168.1.2"));
        },
      );
      assertEquals(events(items).map((e) => `${e.type} ${e.lease.node}`), ["added a", "added b"]);
      assert(errors.length >= 1, "the disconnect was reported");

      // Compaction: a watch from a compacted revision yields a full resync.
      await s.release(a!);
      const { revision: now } = await s.list();
      etcdctl(etcd.endpoint, "compact", String(now));
      const items2 = await collect(s2, revision, (it) => it.length >= 1, () => Promise.resolve());
      const first = items2[0]!;
      assert("resync" in first, JSON.stringify(first));
      assertEquals(first.resync.leases.map((l) => l.node), ["b"]);
    }),
});

Deno.test({
  name: "EtcdStore: bad records are skipped, not fatal",
  ignore: !enabled,
  fn: () =>
    withEtcd(async (etcd) => {
      const warnings: string[] = [];
      const s = new EtcdStore({
        endpoints: [etcd.endpoint],
        onWarning: (m, f) => warnings.push(`${m} ${f?.key}`),
      });
      await s.putNetworkConfigIfAbsent(cfg);
      etcdctl(etcd.endpoint, "put", "/coreos.com/network/subnets/10.244.1.0-24", "{broken");
      etcdctl(
        etcd.endpoint,
        "put",
        "/coreos.com/network/subnets/junk",
        JSON.stringify({ PublicIP: "1.2.3.4" }),
      );
      assertEquals((await s.list()).leases, []);
      assertEquals(warnings.length, 2);
      const l = await s.acquire(req("n1", "192.168.1.1"));
      assert(l.subnet !== "10.244.1.0/24", "the subnet with a broken record is not taken over");
    }),
});

Deno.test({
  name: "EtcdStore: an unreachable etcd gives a StoreError naming the endpoint",
  ignore: !enabled,
  fn: async () => {
    const s = new EtcdStore({ endpoints: ["http://127.0.0.1:1"], timeoutMs: 1000 });
    await assertRejects(() => s.list(), Error, "Cannot reach etcd at http://127.0.0.1:1");
  },
});
