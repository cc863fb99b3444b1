/**
 * Network-config keys libcni and the reference plugins read ignoring case (Go's encoding/json),
 * run for real (root): `"ipam": {"Type": "host-local", "DataDir": ...}` runs the reference
 * host-local from CNI_PATH with that data directory, and `"RuntimeConfig": {"IPRanges": ...}`
 * is where skein's IPAM allocates from, as host-local does with both.
 */
import { assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callPlugin, reservations } from "./_cni.ts";

Deno.test({
  name: "cni: ipam Type/DataDir and RuntimeConfig.IPRanges match ignoring case, as libcni",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const dataDir = Deno.makeTempDirSync({ prefix: "skein-cni-case-" });
    try {
      await withNamespaces(["host", "p1", "p2"], async (ns) => {
        const hostLocal = {
          cniVersion: "1.0.0",
          name: "casehl",
          type: "skein",
          bridge: "skc0",
          ipam: { Type: "host-local", DataDir: `${dataDir}/hl`, subnet: "10.252.7.0/24" },
        };
        const call = (command: "ADD" | "DEL", conf: unknown, id: string, netns: string) =>
          callPlugin({ command, conf, containerId: id, netns, hostNs: ns.host! });
        const add = await call("ADD", hostLocal, "c1", ns.p1!);
        // Before: code 7, "ipam.type: must name the IPAM plugin".
        assertEquals(add.code, 0, add.stdout + add.stderr);
        assertEquals(
          (add.json!.ips as { address: string }[]).map((i) => i.address),
          ["10.252.7.2/24"],
        );
        assertEquals(reservations(`${dataDir}/hl`, "casehl"), ["10.252.7.2"], "host-local's file");
        assertEquals((await call("DEL", hostLocal, "c1", ns.p1!)).code, 0);
        assertEquals(reservations(`${dataDir}/hl`, "casehl"), []);

        const ranges = {
          cniVersion: "1.1.0",
          name: "casesk",
          type: "skein",
          bridge: "skc1",
          RuntimeConfig: { IPRanges: [[{ subnet: "10.252.9.0/24" }]] },
          ipam: { type: "skein", dataDir: `${dataDir}/sk`, subnet: "10.252.8.0/24" },
        };
        const add2 = await call("ADD", ranges, "c2", ns.p2!);
        assertEquals(add2.code, 0, add2.stdout + add2.stderr);
        // Before: 10.252.8.2 only (the runtime's ranges were ignored).
        assertEquals(
          (add2.json!.ips as { address: string }[]).map((i) => i.address),
          ["10.252.9.2/24", "10.252.8.2/24"],
        );
        assertEquals((await call("DEL", ranges, "c2", ns.p2!)).code, 0);
        assertEquals(reservations(`${dataDir}/sk`, "casesk"), []);
      });
    } finally {
      Deno.removeSync(dataDir, { recursive: true });
    }
  },
});
