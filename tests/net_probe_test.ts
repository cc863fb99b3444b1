/**
 * Integration (root): pingOnce() from inside a namespace: a live peer on the underlay answers,
 * an address nobody holds and a peer whose link is down do not, and nothing is sent from the
 * root namespace. Run: deno test -A tests/net_probe_test.ts
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { pingOnce } from "../net/mod.ts";
import { withNamespaces } from "./_netns.ts";
import { eth0Pair, ip, ipj } from "./net_oracle.ts";

/** Waits until eth0 in `ns` is operationally up (has carrier), at most 10 s. */
async function carrier(ns: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (ipj(ns, "link", "show", "eth0")[0]?.operstate === "UP") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`eth0 in ${ns} has no carrier after 10 s`);
}

Deno.test("pingOnce(): a live node answers, an absent or unplugged one does not", async () => {
  await withNamespaces(["a", "b"], async (ns) => {
    eth0Pair(ns.a!, ns.b!);
    ip(ns.a!, "addr", "add", "192.168.78.1/24", "dev", "eth0");
    ip(ns.b!, "addr", "add", "192.168.78.2/24", "dev", "eth0");
    for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "eth0", "up");
    // The pair is live once both ends have carrier (the kernel's link watch sets it a little
    // later, later still on a loaded machine); until then the echo request is not sent.
    for (const n of [ns.a!, ns.b!]) await carrier(n);
    assertEquals(await pingOnce({ netns: ns.a, ip: "192.168.78.2" }), true);
    const t0 = performance.now();
    assertEquals(await pingOnce({ netns: ns.a, ip: "192.168.78.9", timeoutMs: 300 }), false);
    assert(performance.now() - t0 < 5000, "the timeout bounds the wait");
    ip(ns.b!, "link", "set", "eth0", "down");
    assertEquals(await pingOnce({ netns: ns.a, ip: "192.168.78.2", timeoutMs: 300 }), false);
  });
});
