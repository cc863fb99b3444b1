import { assertEquals, assertThrows } from "../testing/assert.ts";
import { nsenterArgs } from "./nsenter.ts";

Deno.test("nsenterArgs() accepts a path, a pid or a name", () => {
  assertEquals(nsenterArgs(), []);
  assertEquals(nsenterArgs("/run/netns/a"), ["nsenter", "--net=/run/netns/a"]);
  assertEquals(nsenterArgs(42), ["nsenter", "--net=/proc/42/ns/net"]);
  assertEquals(nsenterArgs("node1"), ["nsenter", "--net=/run/netns/node1"]);
  assertThrows(() => nsenterArgs(".."), TypeError);
});
