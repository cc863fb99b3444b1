import { assertEquals } from "../../testing/assert.ts";
import { conntrackStats } from "./conntrack.ts";
import { affectedKernel } from "./offload.ts";

Deno.test("conntrackStats() sums the per-CPU hex columns by name", () => {
  const text =
    `entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 0000000a 00000000 00000000  00000000 00000000 00000000 00000000
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000003 00000000  00000000 00000000 00000000 00000000
`;
  const s = conntrackStats(text);
  assertEquals([s.entries, s.insert_failed, s.drop, s.early_drop], [16, 3, 10, 3]);
});

Deno.test("affectedKernel(): kernels before 5.7 have the VXLAN checksum offload bug", () => {
  assertEquals(["4.19.0", "5.4.0-42-generic", "5.6.19", "5.7.0", "6.18.44"].map(affectedKernel), [
    true,
    true,
    true,
    false,
    false,
  ]);
});
