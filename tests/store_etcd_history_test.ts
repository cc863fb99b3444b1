/**
 * Integration: the etcd store read the way the daemon reads it (a LeaseInformer) while a real
 * etcd loses the history the store saw: its data directory wiped and etcd started again, restored
 * from an older snapshot, and restored as another cluster (a new cluster ID at the same
 * revision). etcd accepts a watch from a revision it has not reached and just waits, so each time
 * the store must notice from the answers' headers, re-list once (a resync), warn once naming both
 * revisions or cluster IDs, and then follow the new history's changes.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { EtcdClient } from "../store/_etcd_client.ts";
import { EtcdStore } from "../store/etcd.ts";
import { LeaseInformer } from "../store/informer.ts";
import { etcdAvailable, type TestEtcd, withEtcd } from "./store_etcd_server.ts";

const P = "/coreos.com/network";
const CONFIG = '{"Network":"10.248.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';

const peer = (i: number) =>
  JSON.stringify({
    PublicIP: `192.168.95.${i}`,
    BackendType: "vxlan",
    BackendData: { VtepMAC: `02:00:00:00:00:0${i}` },
    Node: `p${i}`,
  });

async function until(what: string, f: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops etcd, replaces its data (empty, or `snapshot` restored), starts it again. */
async function replaceData(
  etcd: TestEtcd,
  opts: { snapshot?: string; clusterToken?: string } = {},
): Promise<void> {
  await etcd.stop();
  await Deno.remove(etcd.dataDir, { recursive: true });
  if (opts.snapshot) {
    etcd.ctl(
      "snapshot",
      "restore",
      opts.snapshot,
      `--data-dir=${etcd.dataDir}`,
      `--name=${etcd.name}`,
      `--initial-cluster=${etcd.name}=${etcd.peerUrl}`,
      `--initial-advertise-peer-urls=${etcd.peerUrl}`,
      `--initial-cluster-token=${opts.clusterToken ?? "etcd-cluster"}`,
    );
  }
  await etcd.start();
}

Deno.test({
  name:
    "EtcdStore watch: etcd wiped, restored from an older snapshot, restored as another cluster: re-lists once each, warns with both revisions or cluster IDs, follows the new history",
  ignore: !etcdAvailable("etcd history tests"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withEtcd(async (etcd) => {
      const raw = new EtcdClient({ endpoints: [etcd.endpoint] });
      const put = (k: string, v: string) => raw.put(k, v);
      const putPeers = async (...ids: number[]) => {
        for (const i of ids) await put(`${P}/subnets/10.248.${i}.0-24`, peer(i));
      };
      const revision = async () => (await raw.range(`${P}/config`)).revision;
      await put(`${P}/config`, CONFIG);
      for (let i = 0; i < 300; i++) await put(`/junk/${i}`, "x");
      await putPeers(2, 3);
      const tmp = await Deno.makeTempDir({ prefix: "skein-etcd-history-" });
      const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
      const watched = new EtcdStore({
        endpoints: [etcd.endpoint],
        timeoutMs: 1500,
        onWarning: (msg, fields) => warnings.push({ msg, fields }),
      });
      const inf = new LeaseInformer({ store: watched, backoff: { minMs: 100, maxMs: 1000 } });
      const subnets = () => [...inf.leases().values()].map((l) => l.subnet).sort().join(" ");
      const lost = () =>
        warnings.filter((w) => /etcd (lost its history|is another cluster)/.test(w.msg));
      const stop = new AbortController();
      const run = inf.run(stop.signal);
      try {
        await until("the first list", () => inf.synced);
        assertEquals(subnets(), "10.248.2.0/24 10.248.3.0/24");
        const seen = await revision();
        assert(seen > 300, `revision ${seen}`);

        // 1. Wiped and started again: etcd is back at revision 1.
        await replaceData(etcd);
        await put(`${P}/config`, CONFIG);
        await putPeers(4, 5);
        await until("only the leases of the new etcd (4, 5)", () =>
          subnets() === "10.248.4.0/24 10.248.5.0/24");
        assertEquals(inf.relists, 1);
        assertEquals(lost().length, 1, JSON.stringify(warnings));
        const w = lost()[0]!;
        assertEquals(w.fields?.seenRevision, seen);
        assert((w.fields?.revision as number) < 10, JSON.stringify(w));
        assert(w.msg.includes(`below revision ${seen} seen before`), w.msg);
        // The watch goes on from the new list's revision.
        await putPeers(6);
        await until("6, watched in the new etcd", () =>
          subnets().includes("10.248.6.0/24"));
        assertEquals(inf.relists, 1, "a change after the re-list is a watch event");

        // 2. Restored from an older snapshot: peers 7 and 8 written after it are gone.
        etcd.ctl("snapshot", "save", `${tmp}/old.db`);
        for (let i = 0; i < 50; i++) await put(`/junk/${i}`, "y");
        await putPeers(7, 8);
        await until("7 and 8", () => subnets().includes("10.248.8.0/24"));
        await replaceData(etcd, { snapshot: `${tmp}/old.db` });
        await putPeers(9);
        await until("the snapshot's leases and 9", () =>
          subnets() === "10.248.4.0/24 10.248.5.0/24 10.248.6.0/24 10.248.9.0/24");
        assertEquals(inf.relists, 2);
        assertEquals(lost().length, 2, JSON.stringify(warnings));

        // 3. Another cluster (a restore with another cluster token) at the same revision: only the
        // cluster ID tells; its first change would otherwise be the next revision the watch waits for.
        etcd.ctl("snapshot", "save", `${tmp}/now.db`);
        const before = (await raw.range(`${P}/config`)).header;
        await replaceData(etcd, { snapshot: `${tmp}/now.db`, clusterToken: "another" });
        const after = (await raw.range(`${P}/config`)).header;
        assert(after.clusterId !== before.clusterId, "a new cluster ID");
        assertEquals(after.revision, before.revision);
        await raw.delete(`${P}/subnets/10.248.4.0-24`);
        await until("4 gone in the other cluster", () =>
          !subnets().includes("10.248.4.0/24"));
        assertEquals(lost().length, 3, JSON.stringify(warnings));
        const c = lost()[2]!;
        assertEquals(c.fields?.seenClusterId, before.clusterId);
        assertEquals(c.fields?.clusterId, after.clusterId);
        assert(c.msg.includes(`cluster ID ${after.clusterId}`), c.msg);
        assertEquals(inf.relists, 3);
        assertEquals(subnets(), "10.248.5.0/24 10.248.6.0/24 10.248.9.0/24");
      } finally {
        stop.abort();
        await run;
        await watched.close();
        await Deno.remove(tmp, { recursive: true }).catch(() => {});
      }
    }, { dir: "/dev/shm" }),
});

/**
 * A loopback proxy to `upstream` that, while `lag` > 0, lowers the header revision of the first
 * message of each new watch by `lag` (a watch created on a member behind the others).
 */
function laggingProxy(upstream: string) {
  const state = { lag: 0, watches: 0, ranges: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const r = await fetch(upstream + path, {
      method: req.method,
      body: await req.arrayBuffer(),
    });
    if (path === "/v3/kv/range") state.ranges++;
    if (path !== "/v3/watch" || !r.body) return new Response(r.body, { status: r.status });
    state.watches++;
    let first = state.lag > 0;
    const lag = state.lag;
    const body = r.body.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TransformStream<string, string>({
        transform(chunk, c) {
          if (first) {
            first = false;
            chunk = chunk.replace(
              /"revision":"(\d+)"/,
              (_, n) => `"revision":"${Number(n) - lag}"`,
            );
          }
          c.enqueue(chunk);
        },
      }),
    ).pipeThrough(new TextEncoderStream());
    return new Response(body, { status: r.status });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, state, close: () => server.shutdown() };
}

Deno.test({
  name:
    "EtcdStore watch: a watch created on a member behind the revision seen, while a list shows etcd has it: no resync, no warning, the watch goes on",
  ignore: !etcdAvailable("etcd history tests"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withEtcd(async (etcd) => {
      const raw = new EtcdClient({ endpoints: [etcd.endpoint] });
      await raw.put(`${P}/config`, CONFIG);
      for (let i = 0; i < 30; i++) await raw.put(`/junk/${i}`, "x");
      await raw.put(`${P}/subnets/10.248.2.0-24`, peer(2));
      const proxy = laggingProxy(etcd.endpoint);
      const warnings: string[] = [];
      const errors: string[] = [];
      const watched = new EtcdStore({
        endpoints: [proxy.url],
        watchRestartMs: 300,
        onWarning: (msg) => warnings.push(msg),
        onError: (e) => errors.push(e.message),
      });
      const inf = new LeaseInformer({ store: watched, backoff: { minMs: 100, maxMs: 1000 } });
      const subnets = () => [...inf.leases().values()].map((l) => l.subnet).sort().join(" ");
      const stop = new AbortController();
      const run = inf.run(stop.signal);
      try {
        await until("the first list", () => inf.synced);
        // Every watch from now on (one per watchRestartMs) is first answered 20 revisions behind.
        proxy.state.lag = 20;
        const before = { ...proxy.state };
        await until("three lagging watches", () => proxy.state.watches >= before.watches + 3);
        await raw.put(`${P}/subnets/10.248.3.0-24`, peer(3));
        await until("3 through the watch", () => subnets().includes("10.248.3.0/24"));
        // Each was checked with a list, and went on.
        assert(proxy.state.ranges >= before.ranges + 3, JSON.stringify([before, proxy.state]));
        assertEquals(inf.relists, 0);
        assertEquals(warnings, []);
        assertEquals(errors, []);
      } finally {
        stop.abort();
        await run;
        await watched.close();
        await proxy.close();
      }
    }, { dir: "/dev/shm" }),
});
