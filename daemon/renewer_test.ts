import { assert, assertEquals } from "../testing/assert.ts";
import { FileStore } from "../store/file.ts";
import { type RenewResult, workerRenewer } from "./renewer.ts";

async function collect(it: AsyncIterator<RenewResult>, n: number): Promise<RenewResult[]> {
  const out: RenewResult[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

Deno.test("workerRenewer(): the lease stays alive while the main thread is blocked for longer than its TTL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "skein-renewer-" });
  const store = new FileStore({ dir });
  const r = workerRenewer({ datastore: { type: "file", dir, ttl: 2 } as never });
  try {
    await store.putNetworkConfigIfAbsent({
      network: "10.244.0.0/16",
      subnetLen: 24,
      backend: { type: "host-gw" },
    });
    const lease = await store.acquire({
      node: "n1",
      publicIP: "192.168.1.10",
      backendType: "host-gw",
      ttlSeconds: 2,
    });
    const it = r.results()[Symbol.asyncIterator]();
    r.renew(lease, true);
    const [first] = await collect(it, 1); // the worker is up and renewing
    assertEquals(first?.type, "renewed");
    // The main thread does nothing but spin for 3.5 s (> TTL 2 s): no timer of its own can run.
    const until = Date.now() + 3500;
    while (Date.now() < until) { /* busy */ }
    const live = (await store.list()).leases.find((l) => l.subnet === lease.subnet);
    assert(live, "the lease expired while the main thread was blocked");
    assert(Date.parse(live.expiration) > Date.now(), "renewed by the worker");

    // The record deleted behind its back: the worker says the lease is lost and stops.
    await Deno.remove(`${dir}/subnets/${lease.subnet.replace("/", "-")}.json`);
    r.renew(lease, true);
    for (;;) {
      const [next] = await collect(it, 1);
      if (next?.type === "renewed") continue; // queued while the main thread spun
      assertEquals(next?.type, "lost");
      break;
    }
  } finally {
    await r.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("workerRenewer(): a datastore that cannot be opened is reported as failed", async () => {
  const r = workerRenewer({ datastore: { type: "nope", ttl: 10 } as never });
  try {
    const [res] = await collect(r.results()[Symbol.asyncIterator](), 1);
    assertEquals(res?.type, "failed");
  } finally {
    await r.close();
  }
});
