import { assertEquals } from "../../testing/assert.ts";
import { conntrackStats, tableCheck } from "./conntrack.ts";
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

Deno.test("tableCheck(): full fails, 90 % warns, below passes", () => {
  assertEquals(
    [[262144, 262144], [240000, 262144], [10, 262144]].map(([c, m]) =>
      tableCheck("n1", c!, m!, "fix").status
    ),
    ["fail", "warn", "pass"],
  );
  assertEquals(tableCheck("n1", 5, 5, "sysctl -w x").fix, "sysctl -w x");
});
