import { assertEquals } from "../testing/assert.ts";
import { hostVethName, isHostVethName } from "./veth_name.ts";

Deno.test("hostVethName() is deterministic, short and per attachment", () => {
  const a = hostVethName("abc", "eth0");
  assertEquals(a, hostVethName("abc", "eth0"));
  assertEquals(a.length <= 15, true);
  assertEquals(isHostVethName(a), true);
  assertEquals(a === hostVethName("abc", "eth1"), false);
  assertEquals(a === hostVethName("abd", "eth0"), false);
});
