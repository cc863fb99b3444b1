import { assertEquals } from "../../testing/assert.ts";
import type { Packet } from "../nft_eval.ts";
import { dropFix } from "./_verdict.ts";

const p: Packet = { hook: "forward", saddr: "10.244.1.2", daddr: "10.244.2.3", l4proto: "icmp" };

Deno.test("dropFix() deletes the rule by handle, or the named map's element that dropped the packet", () => {
  const rule = { family: "inet", table: "t", chain: "fw", handle: 11, text: "ip saddr vmap @m" };
  assertEquals(
    dropFix("ip netns exec n1 ", rule, p),
    "ip netns exec n1 nft delete rule inet t fw handle 11  # after checking why it is there",
  );
  assertEquals(
    dropFix("", { ...rule, element: "m { 10.244.1.2 }" }, p),
    "nft delete element inet t m { 10.244.1.2 }  # after checking why it is there (looked up by inet t fw handle 11)",
  );
});
