import { assertEquals } from "../testing/assert.ts";
import { ECHO_REPLY, ECHO_REQUEST, echoOf, icmpValue } from "./nft_icmp.ts";

Deno.test("icmpValue() gives nft's names for the type and code, the number where nft has none", () => {
  assertEquals(icmpValue("type", ECHO_REQUEST), "echo-request");
  assertEquals(icmpValue("type", ECHO_REPLY), "echo-reply");
  assertEquals(icmpValue("code", ECHO_REPLY), "net-unreachable");
  assertEquals(icmpValue("type", { type: 200, code: 7 }), 200);
  assertEquals(icmpValue("code", { type: 200, code: 7 }), 7);
  assertEquals(icmpValue("id", ECHO_REQUEST), "unknown");
  assertEquals(icmpValue("type", undefined), "unknown");
});

Deno.test("echoOf() is the request forward and the reply in reverse, a copy each time", () => {
  assertEquals([echoOf(false), echoOf(true)], [{ type: 8, code: 0 }, { type: 0, code: 0 }]);
  const a = echoOf(false);
  a.type = 3;
  assertEquals(ECHO_REQUEST.type, 8);
});
