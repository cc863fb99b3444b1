/**
 * Bridge mode end to end (root): skein runs as a real process inside a "host" namespace with
 * a runtime's minimal environment; pods are namespaces. Dual-stack ADD in two result versions,
 * pings, ipMasq rules, CHECK catching drift, GC of a leak, DEL idempotent and complete.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { addrs, callOk, callPlugin, inNs, links, ping, reservations, sh } from "./_cni.ts";

Deno.test("cni bridge mode: dual-stack ADD, ping, ipMasq, CHECK drift, GC, DEL", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-cni-br-" });
  try {
    await withNamespaces(["host", "p1", "p2", "p3"], async (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      const conf = (v: string) => ({
        cniVersion: v,
        name: "brnet",
        type: "skein",
        bridge: "cni0",
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: true,
        mtu: 1400,
        hairpinMode: true,
        promiscMode: true,
        ipam: {
          type: "skein",
          dataDir,
          ranges: [[{ subnet: "10.250.1.0/24" }], [{ subnet: "fd00:250:1::/64" }]],
        },
      });
      // --- ADD, 1.0.0 result format
      const r1 = (await callOk({
        command: "ADD",
        conf: conf("1.0.0"),
        containerId: "c1",
        netns: ns.p1,
        hostNs: host,
      }))!;
      assertEquals(r1.cniVersion, "1.0.0");
      const ifs1 = r1.interfaces as { name: string; mac?: string; sandbox?: string }[];
      assertEquals(ifs1.length, 3);
      assertEquals(ifs1[0]!.name, "cni0");
      assertEquals(ifs1[2], { name: "eth0", mac: ifs1[2]!.mac, sandbox: ns.p1 });
      const ips1 = r1.ips as {
        address: string;
        gateway: string;
        interface: number;
        version?: string;
      }[];
      assertEquals(ips1.map((i) => [i.address, i.gateway, i.interface, i.version]), [
        ["10.250.1.2/24", "10.250.1.1", 2, undefined],
        ["fd00:250:1::2/64", "fd00:250:1::1", 2, undefined],
      ]);
      // --- ADD, 0.3.1 result format (IP "version" fields)
      // CNI_ARGS IP= and runtimeConfig.mac, as kubelet/podman pass them
      const r2 = (await callOk({
        command: "ADD",
        conf: { ...conf("0.3.1"), runtimeConfig: { mac: "0a:58:0a:fa:01:07" } },
        containerId: "c2",
        netns: ns.p2,
        hostNs: host,
        cniArgs: "IgnoreUnknown=1;IP=10.250.1.7;K8S_POD_NAME=web-1",
      }))!;
      assertEquals((r2.ips as { address: string }[])[0]!.address, "10.250.1.7/24");
      assertEquals((r2.interfaces as { mac: string }[])[2]!.mac, "0a:58:0a:fa:01:07");
      assertEquals(r2.cniVersion, "0.3.1");
      assertEquals((r2.ips as { version: string }[]).map((i) => i.version), ["4", "6"]);
      // --- the kernel, through iproute2 as the oracle
      assertEquals(addrs(host, "cni0").sort(), ["10.250.1.1/24", "fd00:250:1::1/64"]);
      // The bridge's MAC is its own (0a:58 + the gateway), not borrowed from a port.
      const brMac = () => links(host).find((l) => l.ifname === "cni0")!.address;
      assertEquals(brMac(), "0a:58:0a:fa:01:01");
      const hostVeth = ifs1[1]!.name;
      const hl = links(host).find((l) => l.ifname === hostVeth)!;
      assertEquals([hl.master, hl.mtu], ["cni0", 1400]);
      assertEquals(addrs(ns.p1!, "eth0"), ["10.250.1.2/24", "fd00:250:1::2/64"]);
      assertStringIncludes(inNs(ns.p1!, ["ip", "route", "show", "default"]), "via 10.250.1.1");
      assertStringIncludes(
        inNs(host, ["bridge", "-d", "link", "show", "dev", hostVeth]),
        "hairpin on",
      );
      assertEquals(inNs(host, ["sysctl", "-n", "net.ipv4.ip_forward"]).trim(), "1");
      assertStringIncludes(inNs(host, ["ip", "-d", "link", "show", "cni0"]), "promiscuity 1");
      // --- pods reach each other and the gateway
      assert(ping(ns.p1!, "10.250.1.7"), "p1 -> p2 v4");
      assert(
        ping(ns.p1!, (r2.ips as { address: string }[])[1]!.address.split("/")[0]!),
        "p1 -> p2 v6",
      );
      assert(ping(ns.p2!, "10.250.1.1"), "p2 -> gateway v4");
      assert(ping(ns.p2!, "fd00:250:1::1"), "p2 -> gateway v6");
      // --- ipMasq: one element per pod address, subnet excluded
      const nft = inNs(host, ["nft", "list", "table", "inet", "skein"]);
      assertStringIncludes(nft, '10.250.1.2 comment "skein brnet c1 eth0"');
      assertStringIncludes(nft, "ip daddr 10.250.1.0/24 return");
      assertStringIncludes(nft, "ip6 daddr fd00:250:1::/64 return");
      // --- CHECK passes, then catches drift
      const withPrev = { ...conf("1.0.0"), prevResult: r1 };
      await callOk({
        command: "CHECK",
        conf: withPrev,
        containerId: "c1",
        netns: ns.p1,
        hostNs: host,
      });
      inNs(ns.p1!, ["ip", "-6", "route", "del", "default"]);
      let c = await callPlugin({
        command: "CHECK",
        conf: withPrev,
        containerId: "c1",
        netns: ns.p1,
        hostNs: host,
      });
      assertEquals(c.code, 1, c.stdout);
      assertStringIncludes(String(c.json?.msg), "route ::/0");
      inNs(ns.p1!, ["ip", "-6", "route", "add", "default", "via", "fd00:250:1::1", "dev", "eth0"]);
      inNs(ns.p1!, ["ip", "addr", "del", "10.250.1.2/24", "dev", "eth0"]);
      c = await callPlugin({
        command: "CHECK",
        conf: withPrev,
        containerId: "c1",
        netns: ns.p1,
        hostNs: host,
      });
      assertEquals(c.code, 1);
      assertStringIncludes(String(c.json?.msg), "address 10.250.1.2/24 is missing");
      // --- GC (1.1): c3 is a leak (not in valid attachments). p3 comes with IPv6 disabled on
      // new links; ADD turns it on for eth0, as the reference plugins do.
      inNs(ns.p3!, ["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
      const r3 = (await callOk({
        command: "ADD",
        conf: conf("1.1.0"),
        containerId: "c3",
        netns: ns.p3,
        hostNs: host,
      }))!;
      assertEquals((r3.ips as unknown[]).length, 2);
      assertEquals(addrs(ns.p3!, "eth0").length, 2);
      assertEquals(reservations(dataDir, "brnet").length, 6);
      await callOk({
        command: "GC",
        conf: {
          ...conf("1.1.0"),
          "cni.dev/valid-attachments": [{ containerID: "c1", ifname: "eth0" }, {
            containerID: "c2",
            ifname: "eth0",
          }],
        },
        hostNs: host,
      });
      assertEquals(reservations(dataDir, "brnet").length, 4);
      assertEquals(links(ns.p3!).map((l) => l.ifname), ["lo"]);
      assert(!inNs(host, ["nft", "list", "table", "inet", "skein"]).includes("c3"));
      // --- DEL: everything goes; twice is fine; a vanished netns is fine
      await callOk({
        command: "DEL",
        conf: { ...conf("1.0.0"), prevResult: r1 },
        containerId: "c1",
        netns: ns.p1,
        hostNs: host,
      });
      assertEquals(links(host).some((l) => l.ifname === hostVeth), false);
      assertEquals(links(ns.p1!).map((l) => l.ifname), ["lo"]);
      assertEquals(brMac(), "0a:58:0a:fa:01:01", "the bridge's MAC stays as pods go");
      await callOk({
        command: "DEL",
        conf: conf("1.0.0"),
        containerId: "c1",
        netns: ns.p1,
        hostNs: host,
      });
      await callOk({
        command: "DEL",
        conf: conf("0.3.1"),
        containerId: "c2",
        netns: "/run/netns/gone-for-good",
        hostNs: host,
      });
      await callOk({
        command: "DEL",
        conf: conf("1.0.0"),
        containerId: "never-added",
        hostNs: host,
      });
      assertEquals(reservations(dataDir, "brnet"), []);
      assertEquals(links(host).map((l) => l.ifname).sort(), ["cni0", "lo"]);
      const left = inNs(host, ["nft", "list", "map", "inet", "skein", "masq4"]);
      assert(!left.includes("10.250.1."), left);
      sh(["true"]);
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
