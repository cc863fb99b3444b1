/**
 * Chaining with Debian's reference plugins (root): skein first, then portmap, tuning and
 * bandwidth, run the way libcni runs a conflist; and the reference `bridge` using skein as
 * its IPAM plugin. (Debian's plugins speak CNI up to 1.0.0.)
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import {
  addList,
  type Attachment,
  callOk,
  checkList,
  delList,
  inNs,
  links,
  ping,
  reservations,
} from "./_cni.ts";

Deno.test("cni chain: skein + portmap + tuning + bandwidth; reference bridge with skein IPAM", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-cni-chain-" });
  try {
    await withNamespaces(["host", "p1", "p2"], async (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      const list = {
        cniVersion: "1.0.0",
        name: "chain",
        plugins: [
          {
            type: "skein",
            bridge: "cni0",
            isDefaultGateway: true,
            ipMasq: true,
            ipam: { type: "skein", dataDir, subnet: "10.253.1.0/24" },
          },
          { type: "portmap", capabilities: { portMappings: true }, snat: true },
          { type: "tuning", sysctl: { "net.ipv4.conf.eth0.accept_redirects": "0" } },
          { type: "bandwidth", capabilities: { bandwidth: true } },
        ],
      };
      const att: Attachment = {
        hostNs: host,
        netns: ns.p1!,
        containerId: "ch1",
        ifName: "eth0",
        cniArgs: "IgnoreUnknown=1;K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=default",
        capabilities: {
          portMappings: [{ hostPort: 18080, containerPort: 80, protocol: "tcp" }],
          bandwidth: {
            ingressRate: 1000000,
            ingressBurst: 100000,
            egressRate: 1000000,
            egressBurst: 100000,
          },
        },
      };
      const res = await addList(list, att);
      assertEquals((res.ips as { address: string }[])[0]!.address, "10.253.1.2/24");
      assertEquals(
        inNs(ns.p1!, ["sysctl", "-n", "net.ipv4.conf.eth0.accept_redirects"]).trim(),
        "0",
      );
      const hostVeth = (res.interfaces as { name: string; sandbox?: string }[]).find((i) =>
        !i.sandbox && i.name !== "cni0"
      )!.name;
      assertStringIncludes(inNs(host, ["tc", "qdisc", "show", "dev", hostVeth]), "tbf");
      const rules = inNs(host, ["iptables-save"]);
      assertStringIncludes(rules, "18080");
      assert(ping(ns.p1!, "10.253.1.1"), "pod -> gateway");
      // Debian's portmap 1.1.1 fails its own CHECK (it looks up the v4 rules in the ip6tables
      // chain: "could not check ipv6 dnat"), so CHECK runs over every plugin but portmap.
      await checkList(list, att, { skip: ["portmap"] });
      await delList(list, att);
      assertEquals(
        links(host).some((l) =>
          l.ifname === hostVeth
        ),
        false,
      );
      assert(!inNs(host, ["iptables-save"]).includes("18080"), "portmap rules removed");
      assertEquals(reservations(dataDir, "chain"), []);

      // skein delegating to the reference host-local IPAM (exec'd from CNI_PATH).
      const hlConf = {
        cniVersion: "0.4.0",
        name: "hl",
        type: "skein",
        mode: "routed",
        ipam: { type: "host-local", dataDir, subnet: "10.253.3.0/24" },
      };
      const hr = (await callOk({
        command: "ADD",
        conf: hlConf,
        containerId: "hl1",
        netns: ns.p2,
        hostNs: host,
      }))!;
      assertEquals((hr.ips as { address: string; version: string }[])[0], {
        version: "4",
        interface: 1,
        address: "10.253.3.2/32",
        gateway: "169.254.1.1",
      } as never);
      assertEquals(reservations(dataDir, "hl"), ["10.253.3.2"]);
      await callOk({
        command: "CHECK",
        conf: { ...hlConf, prevResult: hr },
        containerId: "hl1",
        netns: ns.p2,
        hostNs: host,
      });
      await callOk({
        command: "DEL",
        conf: { ...hlConf, prevResult: hr },
        containerId: "hl1",
        netns: ns.p2,
        hostNs: host,
      });
      assertEquals(reservations(dataDir, "hl"), []);
      assertEquals(links(ns.p2!).map((l) => l.ifname), ["lo"]);

      // The reference bridge, with skein as its IPAM plugin.
      const refConf = {
        cniVersion: "1.0.0",
        name: "refbr",
        type: "bridge",
        bridge: "cnir0",
        isGateway: true,
        ipam: { type: "skein", dataDir, ranges: [[{ subnet: "10.253.2.0/24" }]] },
      };
      const rr = (await callOk({
        command: "ADD",
        conf: refConf,
        containerId: "rb1",
        netns: ns.p2,
        hostNs: host,
        plugin: "bridge",
      }))!;
      assertEquals((rr.ips as { address: string }[])[0]!.address, "10.253.2.2/24");
      assertEquals(reservations(dataDir, "refbr"), ["10.253.2.2"]);
      assert(ping(ns.p2!, "10.253.2.1"), "reference bridge pod -> gateway");
      await callOk({
        command: "CHECK",
        conf: { ...refConf, prevResult: rr },
        containerId: "rb1",
        netns: ns.p2,
        hostNs: host,
        plugin: "bridge",
      });
      await callOk({
        command: "DEL",
        conf: { ...refConf, prevResult: rr },
        containerId: "rb1",
        netns: ns.p2,
        hostNs: host,
        plugin: "bridge",
      });
      assertEquals(reservations(dataDir, "refbr"), []);
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
