import { assertEquals } from "../../testing/assert.ts";
import { parseTcpListeners, parseUdpHolders } from "./_port_holder.ts";

Deno.test("parseUdpHolders(): the sockets bound to the port, address and inode (kernel sockets have inode 0)", () => {
  const text =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
    "  101: 00000000:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 58213 2 0000000000000000 0\n" +
    "  102: 0C4DA8C0:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 0 2 0000000000000000 0\n" +
    "  103: 00000000:2065 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0\n";
  assertEquals(parseUdpHolders(text, 8472), [
    { address: "0.0.0.0", inode: 58213 },
    { address: "192.168.77.12", inode: 0 },
  ]);
  assertEquals(parseUdpHolders(text, 4789), []);
});

Deno.test("parseTcpListeners(): only listening sockets (state 0A) on the port", () => {
  const text = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:24F0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1",
    "   1: 0100007F:24F0 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 4343 1",
    "   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1",
  ].join("\n");
  assertEquals(parseTcpListeners(text, 9456), [{ address: "127.0.0.1", inode: 4242 }]);
});
