/**
 * Routed-mode pods wired by a plugin older than SKEIN_CNI_ROUTE_PROTOCOL (root): their host
 * routes carry the daemon's protocol 100. Today's plugin must still CHECK them, find them in GC,
 * and DEL them. The old wiring is made by ADD plus an in-place `ip route replace ... proto 100`
 * (the route an old plugin made, byte for byte but the protocol).
 */
import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callOk, inNs, links, reservations } from "./_cni.ts";

Deno.test("cni routed mode: CHECK, GC and DEL of pods whose host routes an older plugin tagged 100", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-cni-rt-old-" });
  try {
    await withNamespaces(["host", "p1", "p2"], async (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      const conf = {
        cniVersion: "1.1.0",
        name: "rtold",
        type: "skein",
        mode: "routed",
        ipam: { type: "skein", dataDir, ranges: [[{ subnet: "10.252.1.0/24" }]] },
      };
      const added: Record<string, { r: Record<string, unknown>; veth: string; ip: string }> = {};
      for (const [id, netns] of [["r1", ns.p1!], ["r2", ns.p2!]] as const) {
        const r = (await callOk({ command: "ADD", conf, containerId: id, netns, hostNs: host }))!;
        const veth = (r.interfaces as { name: string }[])[0]!.name;
        const ip = (r.ips as { address: string }[])[0]!.address;
        // What an older plugin left: the same host route, protocol 100.
        inNs(host, ["ip", "route", "replace", ip, "dev", veth, "scope", "link", "proto", "100"]);
        added[id] = { r, veth, ip };
      }
      assertStringIncludes(
        inNs(host, ["ip", "route", "show", "proto", "100"]),
        `${added.r1!.ip.replace("/32", "")} dev ${added.r1!.veth} scope link`,
      );
      assertEquals(inNs(host, ["ip", "route", "show", "proto", "101"]).trim(), "");

      await callOk({
        command: "CHECK",
        conf: { ...conf, prevResult: added.r1!.r },
        containerId: "r1",
        netns: ns.p1,
        hostNs: host,
      });
      // GC with only r1 valid: r2's veth is found through its proto-100 host route and removed.
      await callOk({
        command: "GC",
        conf: { ...conf, "cni.dev/valid-attachments": [{ containerID: "r1", ifname: "eth0" }] },
        hostNs: host,
      });
      const names = () => links(host).map((l) => l.ifname);
      assertEquals(names().includes(added.r2!.veth), false);
      assertEquals(names().includes(added.r1!.veth), true);
      assertEquals(inNs(host, ["ip", "route", "show", added.r2!.ip]).trim(), "");

      await callOk({
        command: "DEL",
        conf: { ...conf, prevResult: added.r1!.r },
        containerId: "r1",
        netns: ns.p1,
        hostNs: host,
      });
      assertEquals(names().sort(), ["lo"]);
      assertEquals(inNs(host, ["ip", "route", "show", "proto", "100"]).trim(), "");
      assertEquals(reservations(dataDir, "rtold"), []);
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
