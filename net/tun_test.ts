import { assertEquals, assertThrows } from "../testing/assert.ts";
import { parseProcNetUdp, sockaddrIn } from "./tun.ts";

Deno.test("parseProcNetUdp() reads local addresses as the kernel prints them (little-endian)", () => {
  const text =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
    "  412: 0B4DA8C0:205D 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 123 2 0000000000000000 0\n" +
    "  9: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0 0\n" +
    "garbage\n";
  assertEquals(parseProcNetUdp(text), [
    { address: "192.168.77.11", port: 8285 },
    { address: "0.0.0.0", port: 68 },
  ]);
});

Deno.test("sockaddrIn() lays out family, port (big-endian) and address; refuses garbage", () => {
  assertEquals([...sockaddrIn("10.1.2.3", 8285)], [
    2,
    0,
    0x20,
    0x5d,
    10,
    1,
    2,
    3,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  assertThrows(() => sockaddrIn("10.1.2", 1), TypeError);
  assertThrows(() => sockaddrIn("10.1.2.3", 70000), TypeError);
});
