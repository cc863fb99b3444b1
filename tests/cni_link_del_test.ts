/**
 * The daemon's DEL answers once the kernel unregistered the host veth (cni/_kernel.ts
 * linkDelUnregistered): when it resolves, the name is free, the peer in the pod namespace is
 * gone, and a veth with the same name can be created at once (a runtime's next ADD of the
 * container). A missing link is `false`, as linkDelIfExistsAsync() says.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { openHandle } from "../net/mod.ts";
import { linkDelUnregistered } from "../cni/_kernel.ts";
import { withNamespaces } from "./_netns.ts";

Deno.test("linkDelUnregistered: resolves with the veth and its peer gone, the name free", async () => {
  await withNamespaces(["host", "pod"], async (ns) => {
    using host = openHandle({ netns: ns.host });
    using pod = openHandle({ netns: ns.pod });
    const br = host.linkAdd({ kind: "bridge", name: "tbr0", up: true });
    for (let i = 0; i < 5; i++) {
      host.linkAdd({
        kind: "veth",
        name: "skdeltest",
        peer: { name: "eth0", netns: ns.pod },
        master: br.index,
        up: true,
      });
      // Its own handle: the delete call goes on on it after the promise resolved.
      using del = openHandle({ netns: ns.host });
      assertEquals(await linkDelUnregistered(del, "skdeltest"), true);
      assertEquals(host.linkFind("skdeltest"), undefined);
      assertEquals(pod.linkFind("eth0"), undefined);
    }
    // The name is reusable right away, and a missing link is not an error.
    host.linkAdd({ kind: "veth", name: "skdeltest", peer: { name: "eth0", netns: ns.pod } });
    assert(host.linkFind("skdeltest") !== undefined);
    using del1 = openHandle({ netns: ns.host });
    assertEquals(await linkDelUnregistered(del1, "skdeltest"), true);
    using del2 = openHandle({ netns: ns.host });
    assertEquals(await linkDelUnregistered(del2, "skdeltest"), false);
  });
});
