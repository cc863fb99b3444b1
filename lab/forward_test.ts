import { assertEquals, assertThrows } from "../testing/assert.ts";
import { parseHostPort } from "./forward.ts";

Deno.test("parseHostPort() reads IPv4:PORT and rejects anything else naming the flag", () => {
  assertEquals(parseHostPort("127.0.0.1:0", "--listen"), { hostname: "127.0.0.1", port: 0 });
  assertEquals(parseHostPort("192.168.77.2:6443", "--to"), {
    hostname: "192.168.77.2",
    port: 6443,
  });
  for (const bad of ["", "localhost:80", "1.2.3.4", "1.2.3.4:70000", "[::1]:80"]) {
    assertThrows(() => parseHostPort(bad, "--to"), TypeError, "--to");
  }
});
