/**
 * 50 real processes doing IPAM ADD at once get 50 distinct addresses per family, and 50
 * parallel DELs free everything. No root needed (temp dataDir only).
 */
import { assertEquals } from "../testing/assert.ts";
import { addresses, readNetworkDir, reservations, runSkein } from "./ipam_helpers.ts";

Deno.test("50 parallel ADD processes get 50 distinct addresses; 50 DELs free them all", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "skein-ipam-conc-" });
  try {
    const netconf = {
      cniVersion: "1.1.0",
      name: "conc",
      type: "skein",
      ipam: {
        type: "skein",
        dataDir,
        ranges: [[{ subnet: "10.77.0.0/24" }], [{ subnet: "fd00:77::/64" }]],
      },
    };
    const ids = Array.from({ length: 50 }, (_, i) => `pod${String(i).padStart(2, "0")}`);
    const results = await Promise.all(ids.map((id) => runSkein({ op: "add", id, input: netconf })));
    results.forEach((r, i) => assertEquals(r.code, 0, `ADD ${ids[i]}: ${r.stdout}${r.stderr}`));
    const got = results.map((r) => addresses(r.json));
    const v4 = got.map((a) => a[0]!);
    const v6 = got.map((a) => a[1]!);
    assertEquals(new Set(v4).size, 50);
    assertEquals(new Set(v6).size, 50);
    // The files agree with what each process was told.
    const files = reservations(dataDir, "conc");
    assertEquals(Object.keys(files).length, 100);
    got.forEach((a, i) => {
      for (const ip of a) assertEquals(files[ip], `${ids[i]}\r\neth0`);
    });
    const dels = await Promise.all(ids.map((id) => runSkein({ op: "del", id, input: netconf })));
    dels.forEach((r) => assertEquals(r.code, 0, r.stdout + r.stderr));
    assertEquals(Object.keys(readNetworkDir(dataDir, "conc")).sort(), [
      "last_reserved_ip.0",
      "last_reserved_ip.1",
      "lock",
    ]);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
