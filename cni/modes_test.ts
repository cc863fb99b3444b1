import { assertEquals } from "../testing/assert.ts";
import { bridgeMac } from "./modes.ts";

Deno.test("bridgeMac(): 0a:58 and the gateway's last four bytes, IPv4 first; none without one", () => {
  assertEquals(
    bridgeMac([{ address: "10.244.3.7/24", gateway: "10.244.3.1" }]),
    "0a:58:0a:f4:03:01",
  );
  assertEquals(
    bridgeMac([
      { address: "fd00:1::7/64", gateway: "fd00:1::1" },
      { address: "10.244.3.7/24", gateway: "10.244.3.1" },
    ]),
    "0a:58:0a:f4:03:01",
  );
  assertEquals(
    bridgeMac([{ address: "fd00:1::7/64", gateway: "fd00:1::a:b01" }]),
    "0a:58:00:0a:0b:01",
  );
  assertEquals(bridgeMac([{ address: "10.244.3.7/24" }]), undefined);
  assertEquals(bridgeMac([]), undefined);
});
