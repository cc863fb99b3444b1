import { assert, assertEquals } from "../testing/assert.ts";
import type { Lease } from "../store/types.ts";
import { LeaseGrace } from "./_lease_grace.ts";

function lease(n: number, expiresInMs: number): Lease {
  return {
    subnet: `10.244.${n}.0/24`,
    publicIP: `192.168.1.${10 + n}`,
    node: `n${n}`,
    backendType: "host-gw",
    backendData: {},
    expiration: new Date(Date.now() + expiresInMs).toISOString(),
  };
}

async function until(what: string, pred: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("LeaseGrace: an expired lease whose node answers is held; a released one is not", async () => {
  const released: string[] = [];
  const g = new LeaseGrace({
    graceMs: 60_000,
    probe: () => Promise.resolve(true),
    onRelease: (l, why) => released.push(`${l.subnet}: ${why}`),
    probeEveryMs: 5,
  });
  try {
    assert(g.removed(lease(2, -1000)), "expired: held");
    assert(!g.removed(lease(3, 60_000)), "released before its expiration: not held");
    await new Promise((r) => setTimeout(r, 50));
    assertEquals(g.leases().map((l) => l.subnet), ["10.244.2.0/24"]);
    assertEquals(released, []);
    g.added(lease(2, 60_000)); // the node's daemon renewed again
    assertEquals(g.leases(), []);
    await new Promise((r) => setTimeout(r, 30));
    assertEquals(released, [], "a lease back in the datastore is not a release");
  } finally {
    g.close();
  }
});

Deno.test("LeaseGrace: a node that stops answering, or the end of the grace, lets go", async () => {
  let alive = true;
  let now = Date.now();
  const released: string[] = [];
  const g = new LeaseGrace({
    graceMs: 10_000,
    probe: () => alive ? Promise.resolve(true) : Promise.reject(new Error("EPERM")),
    onRelease: (l, why) => released.push(`${l.subnet}: ${why}`),
    probeEveryMs: 5,
    now: () => now,
  });
  try {
    g.removed(lease(2, -1000));
    g.removed(lease(3, -1000));
    await new Promise((r) => setTimeout(r, 30));
    alive = false; // probes now fail (rejections count as no answer)
    await until("n2 and n3 released", () => released.length === 2);
    assertEquals(released.sort(), [
      "10.244.2.0/24: node IP 192.168.1.12 does not answer",
      "10.244.3.0/24: node IP 192.168.1.13 does not answer",
    ]);
    alive = true;
    g.removed(lease(4, -1000));
    now += 11_000;
    await until("n4 released", () => released.length === 3);
    assertEquals(released[2], "10.244.4.0/24: grace period of 10 s over");
    assertEquals(g.leases(), []);
  } finally {
    g.close();
  }
  const off = new LeaseGrace({
    graceMs: 0,
    probe: () => Promise.resolve(true),
    onRelease: () => {},
  });
  assert(!off.removed(lease(5, -1000)), "graceMs 0: flannel's behaviour");
});
