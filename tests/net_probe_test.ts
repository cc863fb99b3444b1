/**
 * Integration (root): pingOnce() from inside a namespace: a live peer on the underlay answers,
 * an address nobody holds and a peer whose link is down do not, and nothing is sent from the
 * root namespace. Run: deno test -A tests/net_probe_test.ts
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { pingOnce } from "../net/mod.ts";
import { withNamespaces } from "./_netns.ts";
import { ip, nsNameOf } from "./net_oracle.ts";

Deno.test("pingOnce(): a live node answers, an absent or unplugged one does not", async () => {
  await withNamespaces(["a", "b"], async (ns) => {
    ip(
      ns.a!,
      "link",
      "add",
      "eth0",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      nsNameOf(ns.b!),
    );
    ip(ns.a!, "addr", "add", "192.168.78.1/24", "dev", "eth0");
    ip(ns.b!, "addr", "add", "192.168.78.2/24", "dev", "eth0");
    for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "eth0", "up");
    assertEquals(await pingOnce({ netns: ns.a, ip: "192.168.78.2" }), true);
    const t0 = performance.now();
    assertEquals(await pingOnce({ netns: ns.a, ip: "192.168.78.9", timeoutMs: 300 }), false);
    assert(performance.now() - t0 < 5000, "the timeout bounds the wait");
    ip(ns.b!, "link", "set", "eth0", "down");
    assertEquals(await pingOnce({ netns: ns.a, ip: "192.168.78.2", timeoutMs: 300 }), false);
  });
});
