/**
 * Garbage values in a real etcd (started on loopback, killed in finally): list() and watch()
 * skip and report bad records without throwing; acquire() never overwrites a subnet whose
 * record it cannot read and never hands one subnet to two nodes; a garbage network config is a
 * StoreError, not a crash.
 */
import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { EtcdStore } from "../store/etcd.ts";
import { StoreError } from "../store/errors.ts";
import { subnetKey } from "../store/flannel.ts";
import type { NetworkConfig, WatchItem } from "../store/types.ts";
import { etcdAvailable, withEtcd } from "./store_etcd_server.ts";

const cfg: NetworkConfig = { network: "10.244.0.0/28", subnetLen: 30, backend: { type: "vxlan" } };
const P = "/coreos.com/network/subnets/";
const good = (node: string, ip: string) =>
  JSON.stringify({
    PublicIP: ip,
    BackendType: "vxlan",
    BackendData: { VtepMAC: "0a:58:0a:f4:01:00" },
    Node: node,
  });

/** `etcdctl put KEY` with the value on stdin (so any bytes, NUL included, can be stored). */
async function put(endpoint: string, key: string, value: string | Uint8Array): Promise<void> {
  const child = new Deno.Command("/usr/bin/etcdctl", {
    args: [`--endpoints=${endpoint}`, "put", key],
    env: { ETCDCTL_API: "3" },
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(typeof value === "string" ? new TextEncoder().encode(value) : value);
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

function get(endpoint: string, key: string): string {
  const out = new Deno.Command("/usr/bin/etcdctl", {
    args: [`--endpoints=${endpoint}`, "get", "--print-value-only", key],
    env: { ETCDCTL_API: "3" },
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  return new TextDecoder().decode(out.stdout).trim();
}

/** Values no writer should produce, each under a subnet key of the network. */
const GARBAGE: [string, string][] = [
  ["10.244.0.4-30", "{garbage"],
  ["10.244.0.8-30", "[1,2,3]"],
  ["10.244.0.12-30", JSON.stringify({ PublicIP: 7, Node: ["x"] })],
  ["not-a-subnet", good("junk", "192.168.1.9")],
  ["10.244.0.300-30", good("junk", "192.168.1.9")],
  ["10.244.0.0-30/extra", good("junk", "192.168.1.9")],
];

Deno.test({
  name: "EtcdStore: garbage values are skipped by list/watch and never overwritten by acquire",
  ignore: !etcdAvailable("hostile etcd tests"),
  fn: () =>
    withEtcd(async (etcd) => {
      const warnings: string[] = [];
      const s = new EtcdStore({
        endpoints: [etcd.endpoint],
        onWarning: (msg, f) => warnings.push(`${msg} ${JSON.stringify(f)}`),
      });
      // A garbage config first: a StoreError naming the key, not a crash.
      await put(etcd.endpoint, "/coreos.com/network/config", new Uint8Array([0, 0xff, 0xfe, 0x7b]));
      await assertRejects(() => s.getNetworkConfig(), StoreError, "/coreos.com/network/config");
      await put(etcd.endpoint, "/coreos.com/network/config", JSON.stringify({ Network: 5 }));
      await assertRejects(() => s.getNetworkConfig(), StoreError);
      await put(
        etcd.endpoint,
        "/coreos.com/network/config",
        JSON.stringify({ Network: cfg.network, SubnetLen: 30, Backend: { Type: "vxlan" } }),
      );
      for (const [k, v] of GARBAGE) await put(etcd.endpoint, P + k, v);
      const { leases, revision } = await s.list();
      assertEquals(leases, []);
      assert(warnings.length >= 3, `bad records reported: ${warnings.join("; ")}`);
      // /28 in /30s: 10.244.0.0 (skipped by default as the first) .4 .8 .12 — the three others
      // hold garbage. acquire() must not overwrite them: it has nothing left to give.
      const full = await assertRejects(() =>
        s.acquire({
          node: "n1",
          publicIP: "192.168.1.1",
          backendType: "vxlan",
          ttlSeconds: 60,
        })
      );
      assert(!/config/.test((full as Error).message), (full as Error).message);
      console.log("acquire with only garbage-held subnets:", (full as Error).message);
      assertEquals(get(etcd.endpoint, P + "10.244.0.4-30"), "{garbage");
      assertEquals(get(etcd.endpoint, P + "10.244.0.8-30"), "[1,2,3]");
      // watch(): garbage put while watching is reported as a removal of that key (list() skips
      // it too, so a watcher that held a good record there drops it), a good record still arrives.
      const ac = new AbortController();
      const items: WatchItem[] = [];
      const loop = (async () => {
        for await (const it of s.watch(revision, ac.signal)) {
          items.push(it);
          if ("events" in it && it.events.some((e) => e.lease.node === "n9")) break;
        }
      })();
      const timer = setTimeout(() => ac.abort(), 10_000);
      await put(etcd.endpoint, P + "10.244.0.4-30", new Uint8Array([1, 2, 0xff, 0]));
      await put(etcd.endpoint, P + "10.244.0.12-30", good("n9", "192.168.1.99"));
      await loop;
      clearTimeout(timer);
      ac.abort();
      const evs = items.flatMap((i) => ("events" in i ? i.events : []));
      assertEquals(evs.map((e) => [e.type, e.lease.subnet, e.lease.node]), [
        ["removed", "10.244.0.4/30", ""],
        ["added", "10.244.0.12/30", "n9"],
      ]);
      await s.close();
    }),
});

Deno.test({
  name:
    "EtcdStore: acquire() leaves subnets with unreadable records out of its choice (one claim, no lost races)",
  ignore: !etcdAvailable("hostile etcd tests"),
  fn: () =>
    withEtcd(async (etcd) => {
      const s = new EtcdStore({ endpoints: [etcd.endpoint] });
      await s.putNetworkConfigIfAbsent({
        network: "10.244.0.0/16",
        subnetLen: 24,
        backend: { type: "vxlan" },
      });
      // Garbage in every /24 but 10.244.77.0/24 (10.244.0.0/24 is never handed out).
      const keys: string[] = [];
      for (let i = 1; i < 256; i++) if (i !== 77) keys.push(`${P}10.244.${i}.0-24`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((k) => s.client.put(k, "{garbage")));
      }
      let claims = 0;
      const putIf = s.client.putIf.bind(s.client);
      s.client.putIf = (...a: Parameters<typeof putIf>) => {
        claims++;
        return putIf(...a);
      };
      const l = await s.acquire({
        node: "n1",
        publicIP: "192.168.1.1",
        backendType: "vxlan",
        ttlSeconds: 60,
      });
      assertEquals(l.subnet, "10.244.77.0/24");
      assertEquals(claims, 1, "no compare-and-put lost on a subnet held by garbage");
      assertEquals(get(etcd.endpoint, `${P}10.244.78.0-24`), "{garbage");
      // Full now (only garbage left): exhausted at once, nothing overwritten.
      claims = 0;
      await assertRejects(
        () =>
          s.acquire({ node: "n2", publicIP: "192.168.1.2", backendType: "vxlan", ttlSeconds: 60 }),
        Error,
        "No free /24 subnet left",
      );
      assertEquals(claims, 0);

      // Dual stack: the IPv6 subnet of an unreadable record is not handed out either (its key
      // names both subnets; a new record under another IPv4 subnet would duplicate the IPv6 one).
      const s6 = new EtcdStore({ endpoints: [etcd.endpoint], prefix: "/skein-v6" });
      await s6.putNetworkConfigIfAbsent({
        network: "10.245.0.0/16",
        subnetLen: 24,
        network6: "fd00:10::/62",
        subnetLen6: 64,
        backend: { type: "vxlan" },
      });
      const held = ["fd00:10::/64", "fd00:10:0:1::/64", "fd00:10:0:2::/64"];
      for (const [i, v6] of held.entries()) {
        await s6.client.put(`/skein-v6/subnets/${subnetKey(`10.245.${i + 1}.0/24`, v6)}`, "[]");
      }
      for (let n = 0; n < 3; n++) {
        const d = await s6.acquire({
          node: "d1",
          publicIP: "192.168.1.1",
          backendType: "vxlan",
          ttlSeconds: 60,
        });
        assertEquals(d.subnet6, "fd00:10:0:3::/64");
        assert(!["10.245.1.0/24", "10.245.2.0/24", "10.245.3.0/24"].includes(d.subnet));
        await s6.release(d);
      }
      await s.close();
      await s6.close();
    }),
});
