import { assertEquals } from "../../testing/assert.ts";
import { fail, pass, skip } from "../check.ts";
import { foldPeerPasses } from "./vxlan.ts";

Deno.test("foldPeerPasses(): one line per check for the peers that pass, each problem kept", () => {
  const checks = [
    pass("vxlan.fdb", "n1", "n1's FDB sends aa to 10.0.0.2", { evidence: { mac: "aa" } }),
    pass("vxlan.neigh", "n1", "n1's neighbour 10.244.2.0 is aa"),
    fail("vxlan.fdb", "n1", "n1 has no FDB entry for bb"),
    pass("vxlan.neigh", "n1", "n1's neighbour 10.244.3.0 is bb"),
    pass("vxlan.fdb", "n1", "n1's FDB sends cc to 10.0.0.4"),
    pass("vxlan.neigh", "n1", "n1's neighbour 10.244.4.0 is cc"),
    skip("vxlan.direct", "n1", "direct route"),
    pass("vxlan.direct", "n1", "the one pass of its kind"),
  ];
  const got = foldPeerPasses(checks);
  assertEquals(got.map((c) => [c.status, c.summary]), [
    ["pass", "n1's FDB sends aa to 10.0.0.2 (and 1 other peer alike)"],
    ["pass", "n1's neighbour 10.244.2.0 is aa (and 2 other peers alike)"],
    ["fail", "n1 has no FDB entry for bb"],
    ["skip", "direct route"],
    ["pass", "the one pass of its kind"],
  ]);
  assertEquals(got[0]!.evidence, { mac: "aa", peers: 2 });
  assertEquals(foldPeerPasses([]), []);
});
