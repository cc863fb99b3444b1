/**
 * Routed mode end to end (root): /32 and /128 pod addresses behind 169.254.1.1 / fe80::1,
 * host routes tagged with the CNI plugin's protocol (101), pod-to-pod and host-to-pod pings, CHECK catching a
 * deleted host route, DEL removing veth, routes and reservations.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { addrs, callOk, callPlugin, inNs, links, ping, reservations } from "./_cni.ts";

Deno.test("cni routed mode: dual-stack ADD, ping, CHECK drift, DEL", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-cni-rt-" });
  try {
    await withNamespaces(["host", "p1", "p2"], async (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      // A node always has an address of its own; the host -> pod ping uses it as source.
      inNs(host, ["ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1"]);
      inNs(host, ["ip", "addr", "add", "192.168.251.10/24", "dev", "uplink0"]);
      inNs(host, ["ip", "link", "set", "uplink0", "up"]);
      const conf = {
        cniVersion: "1.0.0",
        name: "rtnet",
        type: "skein",
        mode: "routed",
        ipam: {
          type: "skein",
          dataDir,
          ranges: [[{ subnet: "10.251.1.0/24" }], [{ subnet: "fd00:251:1::/64" }]],
        },
      };
      const r1 =
        (await callOk({ command: "ADD", conf, containerId: "r1", netns: ns.p1, hostNs: host }))!;
      const r2 =
        (await callOk({ command: "ADD", conf, containerId: "r2", netns: ns.p2, hostNs: host }))!;
      assertEquals(
        (r1.ips as { address: string; gateway: string }[]).map((i) => [i.address, i.gateway]),
        [
          ["10.251.1.2/32", "169.254.1.1"],
          ["fd00:251:1::2/128", "fe80::1"],
        ],
      );
      const hostVeth = (r1.interfaces as { name: string }[])[0]!.name;
      assertEquals(links(host).some((l) => l.ifname === "cni0"), false);
      assertEquals(addrs(ns.p1!, "eth0"), ["10.251.1.2/32", "fd00:251:1::2/128"]);
      assertStringIncludes(inNs(ns.p1!, ["ip", "route"]), "default via 169.254.1.1 dev eth0");
      assertStringIncludes(inNs(ns.p1!, ["ip", "-6", "route"]), "default via fe80::1 dev eth0");
      assertStringIncludes(
        inNs(host, ["ip", "route", "show", "proto", "101"]),
        `10.251.1.2 dev ${hostVeth} scope link`,
      );
      // 100 is the daemon's: the plugin's routes never carry it.
      assertEquals(inNs(host, ["ip", "route", "show", "proto", "100"]).trim(), "");
      assertEquals(inNs(host, ["sysctl", "-n", `net.ipv4.conf.${hostVeth}.proxy_arp`]).trim(), "1");
      assert(ping(ns.p1!, "10.251.1.3"), "p1 -> p2 v4");
      assert(ping(ns.p2!, "fd00:251:1::2"), "p2 -> p1 v6");
      assert(ping(host, "10.251.1.2"), "host -> p1 v4");
      await callOk({
        command: "CHECK",
        conf: { ...conf, prevResult: r2 },
        containerId: "r2",
        netns: ns.p2,
        hostNs: host,
      });
      const hostVeth2 = (r2.interfaces as { name: string }[])[0]!.name;
      inNs(host, ["ip", "route", "del", "10.251.1.3/32", "dev", hostVeth2]);
      const c = await callPlugin({
        command: "CHECK",
        conf: { ...conf, prevResult: r2 },
        containerId: "r2",
        netns: ns.p2,
        hostNs: host,
      });
      assertEquals(c.code, 1);
      assertStringIncludes(String(c.json?.msg), "host route 10.251.1.3/32");
      // GC (1.1) with r2 no longer valid: its reservation, veth and host route go; r1 stays.
      await callOk({
        command: "GC",
        conf: {
          ...conf,
          cniVersion: "1.1.0",
          "cni.dev/valid-attachments": [{ containerID: "r1", ifname: "eth0" }],
        },
        hostNs: host,
      });
      assertEquals(links(host).some((l) => l.ifname === hostVeth2), false);
      assertEquals(links(host).some((l) => l.ifname === hostVeth), true);
      assertEquals(reservations(dataDir, "rtnet"), ["10.251.1.2", "fd00:251:1::2"]);
      for (const [id, p, r] of [["r1", ns.p1!, r1], ["r2", ns.p2!, r2]] as const) {
        await callOk({
          command: "DEL",
          conf: { ...conf, prevResult: r },
          containerId: id,
          netns: p,
          hostNs: host,
        });
      }
      assertEquals(links(host).map((l) => l.ifname).sort(), ["lo", "uplink0", "uplink1"]);
      assertEquals(inNs(host, ["ip", "route", "show", "proto", "101"]).trim(), "");
      assertEquals(reservations(dataDir, "rtnet"), []);
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
