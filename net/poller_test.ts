import { assert, assertEquals } from "../testing/assert.ts";
import * as L from "./libc.ts";
import { Poller } from "./poller.ts";

Deno.test("Poller: a wake-up (a second waiter) is drained; the loop then parks instead of spinning", async () => {
  const p = new Poller();
  const never = L.libcPoll().eventfd(0, L.EFD_CLOEXEC | L.EFD_NONBLOCK);
  const ready = L.libcPoll().eventfd(0, L.EFD_CLOEXEC | L.EFD_NONBLOCK);
  assert(never >= 0 && ready >= 0);
  try {
    const first = p.wait(never, "read", 600);
    await new Promise((r) => setTimeout(r, 50));
    const second = p.wait(never, "read", 600); // kicks the parked poll through the eventfd
    await new Promise((r) => setTimeout(r, 300));
    assert(p.polls <= 4, `${p.polls} poll() calls in 350 ms: the loop spins`);
    L.libcPoll().write(ready, new Uint8Array(new BigUint64Array([1n]).buffer), 8n);
    assertEquals(await p.wait(ready, "read", 1000), true);
    assertEquals([await first, await second], [false, false]);
  } finally {
    L.libc().close(never);
    L.libc().close(ready);
  }
});
