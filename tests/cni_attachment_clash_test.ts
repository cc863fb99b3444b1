/**
 * Two networks, one container id and ifname: the host veth name is derived from (container id,
 * ifname) alone, so the second network's ADD must fail without touching the first network's
 * attachment, and the runtime's DEL that follows the failed ADD must leave it alone too. The
 * same for a second ADD of the same network into another namespace, as far as the interface
 * goes.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callOk, callPlugin, inNs, links, reservations } from "./_cni.ts";

Deno.test("ADD of a container id and ifname already attached on another network fails and changes nothing; its DEL leaves the other network's attachment", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-clash-" });
  try {
    await withNamespaces(["host", "pa", "pb", "pr"], async (ns) => {
      const host = ns.host!;
      const net = (name: string, subnet: string, extra: Record<string, unknown>) => ({
        cniVersion: "1.1.0",
        name,
        type: "skein",
        isGateway: true,
        ipam: { type: "skein", dataDir, subnet },
        ...extra,
      });
      const a = net("clash-a", "10.251.3.0/24", { bridge: "clasha" });
      const others = [
        { conf: net("clash-b", "10.251.2.0/24", { bridge: "clashb" }), netns: ns.pb! },
        { conf: net("clash-r", "10.251.1.0/24", { mode: "routed" }), netns: ns.pr! },
      ];
      const att = { containerId: "c1", ifName: "eth0", hostNs: host };
      const live = await callOk({ ...att, command: "ADD", conf: a, netns: ns.pa! });
      const state = () =>
        JSON.stringify([
          links(host).map((l) => [l.ifname, l.master, l.address]),
          links(ns.pa!).map((l) => [l.ifname, l.address]),
          inNs(ns.pa!, ["ip", "-j", "addr", "show", "dev", "eth0"]).replace(/_life_time":\d+/g, ""),
          reservations(dataDir, "clash-a"),
        ]);
      const before = state();
      for (const o of others) {
        const r = await callPlugin({ ...att, command: "ADD", conf: o.conf, netns: o.netns });
        assertEquals(r.code, 1, `${o.conf.name}: ${r.stdout}`);
        assertStringIncludes(String(r.json?.msg), "already exists", r.stdout);
        assertEquals(links(o.netns).map((l) => l.ifname), ["lo"], o.conf.name);
        assertEquals(reservations(dataDir, o.conf.name), [], o.conf.name);
        // What a runtime does after a failed ADD.
        await callOk({ ...att, command: "DEL", conf: o.conf, netns: o.netns });
        assertEquals(state(), before, `${o.conf.name}'s ADD and DEL changed clash-a's attachment`);
        await callOk({ ...att, command: "CHECK", conf: { ...a, prevResult: live }, netns: ns.pa! });
      }
      // The same network into another namespace: IPAM refuses the duplicate; the runtime's DEL
      // then releases the address (the attachment is named by container id and ifname, as with
      // host-local) but leaves the interface, whose veth peer is not in that DEL's CNI_NETNS.
      const again = await callPlugin({ ...att, command: "ADD", conf: a, netns: ns.pb! });
      assertEquals(again.code, 1, again.stdout);
      await callOk({ ...att, command: "DEL", conf: a, netns: ns.pb! });
      assertEquals(links(ns.pa!).map((l) => l.ifname), ["lo", "eth0"], "the DEL took pa's eth0");
      await callOk({ ...att, command: "DEL", conf: a, netns: ns.pa! });
      assertEquals(links(ns.pa!).map((l) => l.ifname), ["lo"]);
      assert(!links(host).some((l) => l.ifname.startsWith("sk")), "clash-a's DEL left its veth");
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});

Deno.test("DEL of a live attachment pointed at another pod's namespace cuts neither pod's interface", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-wrong-pod-" });
  try {
    await withNamespaces(["host", "p1", "p2"], async (ns) => {
      const conf = {
        cniVersion: "1.1.0",
        name: "wrong-pod",
        type: "skein",
        isGateway: true,
        ipam: { type: "skein", dataDir, subnet: "10.251.4.0/24" },
      };
      const at = { conf, ifName: "eth0", hostNs: ns.host! };
      await callOk({ ...at, command: "ADD", containerId: "c1", netns: ns.p1! });
      const c2 = await callOk({ ...at, command: "ADD", containerId: "c2", netns: ns.p2! });
      // c1's DEL, but CNI_NETNS names c2's pod: c1's address goes (the attachment is named by
      // container id and ifname), no interface does.
      await callOk({ ...at, command: "DEL", containerId: "c1", netns: ns.p2! });
      assertEquals(links(ns.p2!).map((l) => l.ifname), ["lo", "eth0"], "c2's eth0 was cut");
      assertEquals(links(ns.p1!).map((l) => l.ifname), ["lo", "eth0"], "c1's eth0 was cut");
      await callOk({
        ...at,
        command: "CHECK",
        containerId: "c2",
        netns: ns.p2!,
        conf: { ...conf, prevResult: c2 },
      });
      await callOk({ ...at, command: "DEL", containerId: "c1", netns: ns.p1! });
      assertEquals(links(ns.p1!).map((l) => l.ifname), ["lo"]);
      await callOk({ ...at, command: "DEL", containerId: "c2", netns: ns.p2! });
      assertEquals(reservations(dataDir, "wrong-pod"), []);
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
