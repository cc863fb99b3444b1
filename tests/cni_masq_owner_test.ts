/**
 * ipMasq for attachments whose owner does not fit an nftables comment as text: a 128-character
 * container id, a long network name, an interface name with a quote. ADD works, DEL and GC
 * remove exactly their own map elements.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callOk, inNs, reservations } from "./_cni.ts";

/** The masq4 map's elements as "address comment" lines. */
function masqElements(host: string): string[] {
  let text: string;
  try {
    text = inNs(host, ["nft", "-j", "list", "map", "inet", "skein", "masq4"]);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const item of JSON.parse(text).nftables as { map?: { elem?: unknown[] } }[]) {
    for (const el of item.map?.elem ?? []) {
      const e = (el as [{ elem: { val: string; comment?: string } }])[0].elem;
      out.push(`${e.val} ${e.comment ?? ""}`);
    }
  }
  return out.sort();
}

Deno.test("ipMasq: a 128-character container id, a long network name and a quoted ifname work; DEL and GC remove their own entries", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-masq-owner-" });
  try {
    await withNamespaces(["host", "p1", "p2", "p3"], async (ns) => {
      const host = ns.host!;
      const name = "masq-owner-" + "n".repeat(49); // 60 characters
      const conf = {
        cniVersion: "1.1.0",
        name,
        type: "skein",
        isGateway: true,
        ipMasq: true,
        ipam: { type: "skein", dataDir, subnet: "10.251.7.0/24" },
      };
      const atts = [
        { containerId: "c".repeat(128), ifName: "eth0", netns: ns.p1! },
        { containerId: "d".repeat(64), ifName: 'q"x\\y', netns: ns.p2! },
        { containerId: "keep1", ifName: "eth0", netns: ns.p3! },
      ];
      for (const a of atts) await callOk({ command: "ADD", conf, hostNs: host, ...a });
      const all = masqElements(host);
      assertEquals(all.length, 3, all.join("\n"));
      for (const e of all) assert(e.length - e.indexOf(" ") - 1 <= 128, e);
      assert(all.some((e) => e.endsWith(` skein ${name} keep1 eth0`)), all.join("\n"));
      // GC keeping only keep1: the other two attachments' entries (both hashed) go.
      await callOk({
        command: "GC",
        conf: { ...conf, "cni.dev/valid-attachments": [{ containerID: "keep1", ifname: "eth0" }] },
        hostNs: host,
      });
      assertEquals(masqElements(host).map((e) => e.split(" ").slice(1).join(" ")), [
        `skein ${name} keep1 eth0`,
      ]);
      assertEquals(reservations(dataDir, name).length, 1);
      // DEL of a hashed owner finds its entry: add it back, then delete it.
      await callOk({ command: "DEL", conf, hostNs: host, ...atts[0]! });
      await callOk({ command: "ADD", conf, hostNs: host, ...atts[0]! });
      assertEquals(masqElements(host).length, 2);
      await callOk({ command: "DEL", conf, hostNs: host, ...atts[0]! });
      await callOk({ command: "DEL", conf, hostNs: host, ...atts[2]! });
      await callOk({ command: "DEL", conf, hostNs: host, ...atts[1]! });
      assertEquals(masqElements(host), []);
      assertEquals(reservations(dataDir, name), []);
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
