/**
 * skein as the IPAM of other main plugins whose own fields mean something else (macvlan's
 * "mode": "vepa", the reference bridge's "enabledad"): the real plugins run, exec skein from
 * CNI_PATH, and skein reads only its "ipam" section.
 */
import { assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { addrs, callOk, inNs, reservations } from "./_cni.ts";

// ipvlan's "mode": "l3" and the bridge's "vlan" are covered by cni/netconf_test.ts: this kernel
// takes neither an ipvlan on a veth nor a VLAN-filtering bridge.
Deno.test("skein IPAM under macvlan (vepa) and the reference bridge with enabledad", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-ipam-others-" });
  try {
    await withNamespaces(["host", "p1", "p3"], async (ns) => {
      const host = ns.host!;
      // An uplink for macvlan and ipvlan (this kernel may lack the dummy driver).
      inNs(host, ["ip", "link", "add", "upl0", "type", "veth", "peer", "name", "upl1"]);
      inNs(host, ["ip", "link", "set", "upl0", "up"]);
      const ipam = (subnet: string) => ({ type: "skein", dataDir, subnet });
      const mains: [string, Record<string, unknown>, string][] = [
        ["macvlan", { mode: "vepa", master: "upl0", ipam: ipam("10.251.41.0/24") }, ns.p1!],
        // enabledad: a reference bridge option skein refuses as the main plugin (code 2).
        ["bridge", { bridge: "vbr0", enabledad: true, ipam: ipam("10.251.43.0/24") }, ns.p3!],
      ];
      for (const [type, fields, netns] of mains) {
        const conf = { cniVersion: "1.0.0", name: `others-${type}`, type, ...fields };
        const call = { conf, containerId: "c1", netns, ifName: "eth0", hostNs: host, plugin: type };
        const r = (await callOk({ ...call, command: "ADD" }))!;
        const ip = (r.ips as { address: string }[])[0]!.address;
        assertEquals(addrs(netns, "eth0"), [ip], type);
        assertEquals(reservations(dataDir, conf.name).length, 1, type);
        await callOk({ ...call, command: "CHECK", conf: { ...conf, prevResult: r } });
        await callOk({ ...call, command: "DEL" });
        assertEquals(reservations(dataDir, conf.name), [], type);
      }
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
