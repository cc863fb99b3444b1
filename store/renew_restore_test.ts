/**
 * renew() of a live lease whose record was overwritten (for another node, or with garbage) puts
 * the holder's record back and warns; a lease past its expiration (minus a margin) is lost as
 * before. The file store here; tests/reliability_race_test.ts runs the same against etcd.
 */
import { assertEquals, assertRejects } from "../testing/assert.ts";
import { FileStore } from "./file.ts";
import { LeaseLostError } from "./errors.ts";
import { RESTORED_WARNING } from "./flannel.ts";

const cfg = { network: "10.244.0.0/16", subnetLen: 24, backend: { type: "host-gw" } };
const req = { node: "n1", publicIP: "192.168.1.1", backendType: "host-gw", ttlSeconds: 60 };

Deno.test("FileStore.renew(): a live lease's record overwritten by another node or garbage is restored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "skein-store-restore-" });
  try {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const warnings: string[] = [];
    const s = new FileStore({ dir, now: () => now, onWarning: (m) => warnings.push(m) });
    await s.putNetworkConfigIfAbsent(cfg);
    const l = await s.acquire(req);
    const file = `${dir}/subnets/${l.subnet.replace("/", "-")}.json`;
    const good = JSON.parse(Deno.readTextFileSync(file));
    for (const bogus of [JSON.stringify({ ...good, Node: "evil" }), "{garbage"]) {
      Deno.writeTextFileSync(file, bogus);
      const r = await s.renew(l, 60);
      assertEquals(r.subnet, l.subnet);
      assertEquals(JSON.parse(Deno.readTextFileSync(file)).Node, "n1");
      assertEquals((await s.list()).leases.map((x) => [x.subnet, x.node]), [[l.subnet, "n1"]]);
    }
    assertEquals(warnings.filter((w) => w === RESTORED_WARNING).length, 2);
    // Within the margin of its expiration, the lease is lost instead (the claim may be real).
    Deno.writeTextFileSync(file, JSON.stringify({ ...good, Node: "n2" }));
    now += 56_000;
    await assertRejects(() => s.renew(l, 60), LeaseLostError, 'belongs to node "n2"');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
