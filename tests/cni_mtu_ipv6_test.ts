/**
 * An MTU below IPv6's 1280 with IPv6 addresses from IPAM: the kernel turns IPv6 off on such a
 * link, so the call must fail with code 7 before the bridge or a veth exists, and release the
 * reservation.
 */
import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callOk, callPlugin, inNs, links, reservations } from "./_cni.ts";

Deno.test("mtu below 1280 with IPv6 addresses: code 7, no bridge, no veth, no reservation", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-mtu6-" });
  try {
    await withNamespaces(["host", "pod"], async (ns) => {
      for (const mode of ["bridge", "routed"]) {
        const conf = {
          cniVersion: "1.0.0",
          name: `mtu6-${mode}`,
          type: "skein",
          mode,
          bridge: "mtu6br",
          isGateway: true,
          mtu: 1000,
          ipam: { type: "skein", dataDir, ranges: [[{ subnet: "fd00:251:6::/64" }]] },
        };
        const call = { conf, containerId: "c1", netns: ns.pod!, ifName: "eth0", hostNs: ns.host! };
        const r = await callPlugin({ ...call, command: "ADD" });
        assertEquals([r.code, r.json?.code], [1, 7], `${mode}: ${r.stdout}`);
        assertStringIncludes(String(r.json?.msg), "mtu 1000", r.stdout);
        assertEquals(links(ns.host!).map((l) => l.ifname), ["lo"], mode);
        assertEquals(links(ns.pod!).map((l) => l.ifname), ["lo"], mode);
        assertEquals(reservations(dataDir, conf.name), [], mode);
        // IPv4 only, the same MTU works.
        const v4 = { ...conf, ipam: { type: "skein", dataDir, subnet: "10.251.6.0/24" } };
        await callOk({ ...call, command: "ADD", conf: v4 });
        await callOk({ ...call, command: "DEL", conf: v4 });
        if (mode === "bridge") inNs(ns.host!, ["ip", "link", "del", "mtu6br"]);
      }
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
