import { assertEquals } from "../../testing/assert.ts";
import { icmpErrors } from "./_ping.ts";

Deno.test("icmpErrors() reads the ICMP errors ping printed, one per hop and message", () => {
  const out = `PING 10.244.2.2 (10.244.2.2) 56(84) bytes of data.
From 10.244.1.1 icmp_seq=1 Time to live exceeded
From 10.244.1.1 icmp_seq=2 Time to live exceeded
From 192.168.77.12 icmp_seq=3 Destination Host Unreachable
From 10.244.1.1 (10.244.1.1) icmp_seq=4 Frag needed and DF set (mtu = 1400)
64 bytes from 10.244.2.2: icmp_seq=5 ttl=62 time=0.1 ms

--- 10.244.2.2 ping statistics ---
5 packets transmitted, 1 received, +4 errors, 80% packet loss, time 801ms`;
  assertEquals(icmpErrors(out), [
    { from: "10.244.1.1", text: "Time to live exceeded" },
    { from: "192.168.77.12", text: "Destination Host Unreachable" },
    { from: "10.244.1.1", text: "Frag needed and DF set (mtu = 1400)" },
  ]);
  assertEquals(icmpErrors("1 packets transmitted, 1 received"), []);
});
