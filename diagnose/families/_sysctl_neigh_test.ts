import { assertEquals, assertStringIncludes } from "../../testing/assert.ts";
import { judgeNeighTable, roomyThresholds } from "./_sysctl_neigh.ts";

const table = { family: 4 as const, name: "arp_cache", thresh1: 128, thresh2: 512, thresh3: 1024 };

Deno.test("judgeNeighTable(): room passes; full warns, and fails once the kernel refused an entry", () => {
  assertEquals(judgeNeighTable("n1", { ...table, entries: 13, tableFulls: 9 }).status, "pass");
  const full = judgeNeighTable("n1", { ...table, entries: 1024, tableFulls: 0 });
  assertEquals([full.id, full.status], ["sysctl.neigh_table", "warn"]);
  const refused = judgeNeighTable("n1", { ...table, thresh3: 4, entries: 21, tableFulls: 3 });
  assertEquals(refused.status, "fail");
  assertStringIncludes(refused.summary, "3 refused since boot");
  assertEquals(
    refused.fix,
    "sysctl -w net.ipv4.neigh.default.gc_thresh1=512 net.ipv4.neigh.default.gc_thresh2=2048 " +
      "net.ipv4.neigh.default.gc_thresh3=4096",
  );
});

Deno.test("roomyThresholds(): gc_thresh3 a power of two at least twice the entries, 1:4:8", () => {
  assertEquals(roomyThresholds(21), { t1: 512, t2: 2048, t3: 4096 });
  assertEquals(roomyThresholds(3000), { t1: 1024, t2: 4096, t3: 8192 });
});
