/**
 * Two nodes racing for the last free subnet of a tiny network on a real etcd (issue 13 item 3):
 * never one subnet for two nodes. First 20 rounds of two independent etcd clients acquiring at
 * the same moment, then two real `skein daemon` processes started together: one gets the subnet
 * and becomes ready, the other keeps asking (503), and etcd holds no duplicate. Root needed for
 * the daemons' namespaces.
 */
import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { EtcdStore } from "../store/etcd.ts";
import { LeaseLostError } from "../store/errors.ts";
import { RESTORED_WARNING } from "../store/flannel.ts";
import type { Lease } from "../store/types.ts";
import { etcdAvailable, withEtcd } from "./store_etcd_server.ts";
import { withNamespaces } from "./_netns.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
// 10.249.0.0/22 in /24s: the allocator hands out .1, .2 and .3 (flannel skips the first).
const NET = { network: "10.249.0.0/22", subnetLen: 24, backend: { type: "host-gw" } };

async function fillAllButOne(store: EtcdStore): Promise<Set<string>> {
  await store.putNetworkConfigIfAbsent(NET);
  const taken = new Set<string>();
  for (const node of ["pre-1", "pre-2"]) {
    const l = await store.acquire({
      node,
      publicIP: "192.168.80.9",
      backendType: "host-gw",
      ttlSeconds: 600,
    });
    taken.add(l.subnet);
  }
  return taken;
}

function assertUnique(leases: Lease[]): void {
  const subnets = leases.map((l) => l.subnet);
  assertEquals(new Set(subnets).size, subnets.length, `duplicate subnets: ${subnets.join(", ")}`);
}

Deno.test({
  name: "two etcd clients racing for the last free subnet: one wins, never a duplicate (20 rounds)",
  ignore: !etcdAvailable("the subnet race"),
  fn: () =>
    withEtcd(async (etcd) => {
      for (let round = 0; round < 20; round++) {
        const prefix = `/skein-race/${round}`;
        const [a, b] = [0, 1].map(() => new EtcdStore({ endpoints: [etcd.endpoint], prefix }));
        try {
          const taken = await fillAllButOne(a!);
          const results = await Promise.allSettled(
            [a!, b!].map((s, i) =>
              s.acquire({
                node: `race-${i}`,
                publicIP: `192.168.80.${10 + i}`,
                backendType: "host-gw",
                ttlSeconds: 600,
              })
            ),
          );
          const won = results.filter((r) => r.status === "fulfilled") as PromiseFulfilledResult<
            Lease
          >[];
          assertEquals(won.length, 1, `round ${round}: ${JSON.stringify(results)}`);
          assert(!taken.has(won[0]!.value.subnet), "the winner got the free subnet");
          const all = (await a!.list()).leases;
          assertEquals(all.length, 3, `round ${round}`);
          assertUnique(all);
        } finally {
          await a!.close();
          await b!.close();
        }
      }
    }),
});

function ip(ns: string, ...args: string[]): void {
  const out = new Deno.Command("ip", {
    args: ["-n", ns.replace("/run/netns/", ""), ...args],
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function status(port: number): Promise<number> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
    await r.body?.cancel();
    return r.status;
  } catch {
    return 0;
  }
}

Deno.test({
  name: "two skein daemons started together for the last free subnet: one ready, no duplicate",
  ignore: Deno.uid() !== 0 || !etcdAvailable("the daemon subnet race"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withEtcd((etcd) =>
      withNamespaces(["a", "b"], async (ns) => {
        const dir = await Deno.makeTempDir({ prefix: "skein-race-it-" });
        const prefix = "/skein-race/daemons";
        const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix });
        const daemons: Deno.ChildProcess[] = [];
        try {
          ip(ns.a!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.b!);
          ip(ns.a!, "addr", "add", "192.168.80.1/24", "dev", "eth0");
          ip(ns.b!, "addr", "add", "192.168.80.2/24", "dev", "eth0");
          for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "eth0", "up");
          const taken = await fillAllButOne(store);
          const ports: number[] = [];
          for (const [node, n] of [["node-a", ns.a!], ["node-b", ns.b!]] as const) {
            const port = freePort();
            ports.push(port);
            const cfg = `${dir}/${node}.yaml`;
            Deno.writeTextFileSync(
              cfg,
              `name: ${node}\nnetwork: ${NET.network}\nsubnetLen: 24\nbackend: {type: host-gw}\n` +
                `datastore: {type: etcd, endpoints: [${etcd.endpoint}], prefix: ${prefix}, ttl: 60}\n` +
                `iface: eth0\nnetns: ${n}\nlisten: 127.0.0.1:${port}\n` +
                `leaseFile: ${dir}/${node}/subnet.json\nsubnetEnv: ${dir}/${node}/subnet.env\n` +
                `stateDir: ${dir}/${node}/state\n`,
            );
          }
          for (const node of ["node-a", "node-b"]) {
            daemons.push(
              new Deno.Command(Deno.execPath(), {
                args: [
                  "run",
                  "-A",
                  "--no-prompt",
                  MAIN,
                  "daemon",
                  "--config",
                  `${dir}/${node}.yaml`,
                ],
                stdout: "null",
                stderr: "null",
              }).spawn(),
            );
          }
          const end = Date.now() + 30_000;
          let ready: number[] = [];
          while (Date.now() < end) {
            ready = [];
            for (const p of ports) ready.push(await status(p));
            if (ready.includes(200)) break;
            await new Promise((r) => setTimeout(r, 250));
          }
          // Give the loser time to try again (and fail again).
          await new Promise((r) => setTimeout(r, 4_000));
          ready = [];
          for (const p of ports) ready.push(await status(p));
          assertEquals(ready.filter((s) => s === 200).length, 1, `readyz: ${ready}`);
          assertEquals(ready.filter((s) => s === 503).length, 1, `readyz: ${ready}`);
          const all = (await store.list()).leases;
          assertEquals(all.length, 3, JSON.stringify(all));
          assertUnique(all);
          const winner = all.find((l) => l.node.startsWith("node-"))!;
          assert(!taken.has(winner.subnet));
        } finally {
          for (const d of daemons) {
            try {
              d.kill("SIGTERM");
            } catch { /* exited */ }
            await d.status;
          }
          await store.close();
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        }
      })
    ),
});

Deno.test({
  name:
    "EtcdStore.renew(): a live lease's record claimed by another node is restored; a dead one is lost",
  ignore: !etcdAvailable("renew restoring a record"),
  fn: () =>
    withEtcd(async (etcd) => {
      const warnings: string[] = [];
      const s = new EtcdStore({
        endpoints: [etcd.endpoint],
        prefix: "/skein-restore",
        onWarning: (m) => warnings.push(m),
      });
      try {
        await s.putNetworkConfigIfAbsent(NET);
        const l = await s.acquire({
          node: "n1",
          publicIP: "192.168.80.1",
          backendType: "host-gw",
          ttlSeconds: 60,
        });
        const key = `/skein-restore/subnets/${l.subnet.replace("/", "-")}`;
        const put = (value: string) =>
          s.client.putIf([], { key, value, lease: "0" }).then(() => undefined);
        for (const bogus of [JSON.stringify({ PublicIP: "192.168.80.66", Node: "evil" }), "{x"]) {
          await put(bogus);
          const r = await s.renew(l, 60);
          assertEquals(r.subnet, l.subnet);
          const all = (await s.list()).leases;
          assertEquals(all.map((x) => [x.subnet, x.node, x.publicIP]), [[
            l.subnet,
            "n1",
            "192.168.80.1",
          ]]);
        }
        assertEquals(warnings.filter((w) => w === RESTORED_WARNING).length, 2);
        await put(JSON.stringify({ PublicIP: "192.168.80.66", Node: "n2" }));
        const old = { ...l, expiration: new Date(Date.now() + 2_000).toISOString() };
        await assertRejects(() => s.renew(old, 60), LeaseLostError, 'belongs to node "n2"');
      } finally {
        await s.close();
      }
    }),
});
