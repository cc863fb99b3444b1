/**
 * The spec layer through a real process (root for the namespaces): every bad input gives its
 * error code on stdout with a non-zero exit and changes nothing; VERSION, loopback, STATUS.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callOk, callPlugin, inNs, links, reservations } from "./_cni.ts";

Deno.test("cni errors: bad inputs give their codes and change nothing; VERSION, loopback, STATUS work", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-cni-err-" });
  try {
    await withNamespaces(["host", "pod", "pod2"], async (ns) => {
      const host = ns.host!;
      const good = {
        cniVersion: "1.0.0",
        name: "errnet",
        type: "skein",
        ipam: { type: "skein", dataDir, subnet: "10.252.0.0/30" },
      };
      const base = { command: "ADD" as const, containerId: "e1", netns: ns.pod, hostNs: host };
      const cases: [string, Parameters<typeof callPlugin>[0], number, string][] = [
        ["malformed JSON", { ...base, conf: '{"cniVersion": "1.0.0", "name": ' }, 6, "unmarshal"],
        ["missing CNI_NETNS", { ...base, conf: good, netns: undefined }, 4, "CNI_NETNS"],
        ["missing CNI_PATH", { ...base, conf: good, env: { CNI_PATH: undefined } }, 4, "CNI_PATH"],
        ["unknown CNI_COMMAND", { ...base, conf: good, env: { CNI_COMMAND: "BOGUS" } }, 4, "BOGUS"],
        ["bad CNI_IFNAME", { ...base, conf: good, ifName: "a/b" }, 4, "CNI_IFNAME"],
        ["bad CNI_CONTAINERID", { ...base, conf: good, containerId: "-x y" }, 4, "containerID"],
        ["unknown CNI_ARGS", { ...base, conf: good, cniArgs: "FOO=bar" }, 4, "CNI_ARGS"],
        [
          "unsupported version",
          { ...base, conf: { ...good, cniVersion: "0.2.0" } },
          1,
          "incompatible",
        ],
        [
          "CHECK on 0.3.1",
          { ...base, command: "CHECK", conf: { ...good, cniVersion: "0.3.1" } },
          1,
          "CHECK",
        ],
        ["GC on 1.0.0", { ...base, command: "GC", conf: good }, 1, "GC"],
        ["bad mtu", { ...base, conf: { ...good, mtu: "big" } }, 7, "mtu"],
        ["bad mode", { ...base, conf: { ...good, mode: "ipvlan" } }, 7, "mode"],
        ["no ipam", { ...base, conf: { ...good, ipam: undefined } }, 7, "ipam"],
        ["unsupported field", { ...base, conf: { ...good, vlan: 42 } }, 2, "vlan"],
        [
          "nonexistent netns",
          { ...base, conf: good, netns: "/run/netns/skein-does-not-exist" },
          4,
          "netns",
        ],
        [
          "netns is the plugin's own",
          { ...base, conf: good, netns: host },
          4,
          "should not be the same",
        ],
        ["CHECK without prevResult", { ...base, command: "CHECK", conf: good }, 7, "prevResult"],
      ];
      const results = await Promise.all(cases.map(([, o]) => callPlugin(o)));
      cases.forEach(([what, , code, text], i) => {
        const r = results[i]!;
        assertEquals(r.code, 1, `${what}: exit code (stdout ${r.stdout})`);
        assertEquals(r.json?.code, code, `${what}: error code (stdout ${r.stdout})`);
        assertStringIncludes(JSON.stringify(r.json), text, what);
        assert(typeof r.json?.msg === "string", what);
      });
      assertEquals(links(host).map((l) => l.ifname), ["lo"], "failed calls created no links");
      assertEquals(links(ns.pod!).map((l) => l.ifname), ["lo"]);
      assertEquals(reservations(dataDir, "errnet"), []);
      // Exhausted range (10.252.0.0/30 has one address after the gateway): code 11, rolled back.
      const ok = (await callOk({ ...base, conf: { ...good, mode: "routed" } }))!;
      assertEquals((ok.ips as { address: string }[])[0]!.address, "10.252.0.2/32");
      const full = await callPlugin({
        ...base,
        containerId: "e2",
        netns: ns.pod2,
        conf: { ...good, mode: "routed" },
      });
      assertEquals(full.json?.code, 11, full.stdout);
      assertEquals(links(ns.pod2!).map((l) => l.ifname), ["lo"]);
      assertEquals(links(host).length, 2);
      // A second ADD of a live attachment fails and must not release its address.
      const again = await callPlugin({ ...base, conf: { ...good, mode: "routed" } });
      assertEquals(again.code, 1, again.stdout);
      assertStringIncludes(String(again.json?.msg), "already exists");
      assertEquals(reservations(dataDir, "errnet"), ["10.252.0.2"]);
      await callOk({ ...base, command: "DEL", conf: { ...good, mode: "routed" } });
      // A failure after the veth exists (an IPAM route via an off-link gateway) rolls back
      // everything: no host veth, nothing in the pod, the address released, and the bridge this
      // ADD created (with its gateway address) removed.
      const offlink = {
        ...good,
        ipam: { ...good.ipam, routes: [{ dst: "192.168.77.0/24", gw: "172.31.0.1" }] },
      };
      const rb = await callPlugin({ ...base, containerId: "e3", netns: ns.pod2, conf: offlink });
      assertEquals(rb.code, 1, rb.stdout);
      assertStringIncludes(String(rb.json?.msg), "cannot add route 192.168.77.0/24 via 172.31.0.1");
      assertEquals(links(host).map((l) => l.ifname), ["lo"]);
      assertEquals(links(ns.pod2!).map((l) => l.ifname), ["lo"]);
      assertEquals(reservations(dataDir, "errnet"), []);
      // A bridge that was there before the failed ADD stays.
      inNs(host, ["ip", "link", "add", "cni0", "type", "bridge"]);
      const kept = await callPlugin({ ...base, containerId: "e4", netns: ns.pod2, conf: offlink });
      assertEquals(kept.code, 1, kept.stdout);
      assertEquals(links(host).map((l) => l.ifname).sort(), ["cni0", "lo"]);
      inNs(host, ["ip", "link", "del", "cni0"]);
      // VERSION: cheapest path, answers without a config too.
      const v = await callOk({ command: "VERSION", conf: { cniVersion: "0.4.0" }, hostNs: host });
      assertEquals(v, {
        cniVersion: "0.4.0",
        supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
      });
      // STATUS (1.1) succeeds while addresses are available.
      await callOk({ command: "STATUS", conf: { ...good, cniVersion: "1.1.0" }, hostNs: host });
      // loopback mode.
      const lo = { cniVersion: "1.1.0", name: "lo", type: "skein", mode: "loopback" };
      const lr = (await callOk({
        command: "ADD",
        conf: lo,
        containerId: "l1",
        netns: ns.pod2,
        ifName: "lo",
        hostNs: host,
      }))!;
      assertEquals((lr.interfaces as { name: string }[])[0]!.name, "lo");
      assertStringIncludes(inNs(ns.pod2!, ["ip", "link", "show", "lo"]), "UP");
      await callOk({
        command: "CHECK",
        conf: { ...lo, prevResult: lr },
        containerId: "l1",
        netns: ns.pod2,
        ifName: "lo",
        hostNs: host,
      });
      await callOk({
        command: "DEL",
        conf: lo,
        containerId: "l1",
        netns: ns.pod2,
        ifName: "lo",
        hostNs: host,
      });
      assertEquals(links(host).map((l) => l.ifname), ["lo"]);
      assertEquals(reservations(dataDir, "errnet"), []);
      // Whatever CNI_IFNAME says, loopback mode configures lo (the reference loopback plugin).
      const le = (await callOk({
        command: "ADD",
        conf: lo,
        containerId: "l2",
        netns: ns.pod2,
        ifName: "eth0",
        hostNs: host,
      }))!;
      assertEquals((le.interfaces as { name: string }[])[0]!.name, "lo");
      await callOk({
        command: "DEL",
        conf: lo,
        containerId: "l2",
        netns: ns.pod2,
        ifName: "eth0",
        hostNs: host,
      });
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
