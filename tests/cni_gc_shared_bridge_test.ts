/**
 * GC on a bridge two networks share (both default to cni0): a network's GC removes its own
 * leaked attachments' host veths and never the other network's pods'.
 */
import { assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callOk, links, reservations } from "./_cni.ts";

Deno.test("GC of one network on a shared bridge leaves the other network's pods alone", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-gc-shared-" });
  try {
    await withNamespaces(["host", "p1", "p2", "p3"], async (ns) => {
      const host = ns.host!;
      const net = (name: string, subnet: string) => ({
        cniVersion: "1.1.0",
        name,
        type: "skein",
        bridge: "shbr0",
        isGateway: true,
        ipam: { type: "skein", dataDir, subnet },
      });
      const a = net("shared-a", "10.251.11.0/24");
      const b = net("shared-b", "10.251.12.0/24");
      const add = (conf: unknown, containerId: string, netns: string) =>
        callOk({ command: "ADD", conf, containerId, netns, ifName: "eth0", hostNs: host });
      await add(a, "a1", ns.p1!);
      await add(b, "b1", ns.p2!);
      await add(b, "b2", ns.p3!); // leaked: its DEL never comes
      const gc = (conf: Record<string, unknown>, valid: string[]) =>
        callOk({
          command: "GC",
          conf: {
            ...conf,
            "cni.dev/valid-attachments": valid.map((id) => ({ containerID: id, ifname: "eth0" })),
          },
          hostNs: host,
        });
      await gc(b, ["b1"]);
      assertEquals(links(ns.p3!).map((l) => l.ifname), ["lo"], "b2 was not collected");
      assertEquals(links(ns.p1!).map((l) => l.ifname), ["lo", "eth0"], "b's GC took a1's veth");
      assertEquals(links(ns.p2!).map((l) => l.ifname), ["lo", "eth0"]);
      assertEquals(reservations(dataDir, "shared-a").length, 1);
      assertEquals(reservations(dataDir, "shared-b").length, 1);
      await gc(a, []);
      assertEquals(links(ns.p1!).map((l) => l.ifname), ["lo"], "a1 was not collected");
      assertEquals(links(ns.p2!).map((l) => l.ifname), ["lo", "eth0"], "a's GC took b1's veth");
      await callOk({ command: "DEL", conf: b, containerId: "b1", ifName: "eth0", hostNs: host });
      assertEquals(links(host).map((l) => l.ifname).sort(), ["lo", "shbr0"]);
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
