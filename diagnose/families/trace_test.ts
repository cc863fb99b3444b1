import { assertEquals } from "../../testing/assert.ts";
import { dropReasons, kfreeCheck, tracedPackets, traceTable, traceVerdicts } from "./trace.ts";

Deno.test("traceVerdicts()/tracedPackets() read nft monitor trace output, without skein's own table", () => {
  const own = traceTable("10.244.1.2", "10.244.2.2").split(" ")[2]!;
  const text =
    `trace id aa01 inet ${own} trace packet: iif "cni0" ip saddr 10.244.1.2 ip daddr 10.244.2.2
trace id aa01 inet ${own} trace rule ip saddr 10.244.1.2 ip daddr 10.244.2.2 meta nftrace set 1 (verdict continue)
trace id aa01 inet ${own} trace policy accept
trace id aa01 inet filter forward packet: iif "skein.1" oif "cni0"
trace id aa01 inet filter forward rule ip daddr 10.244.2.0/24 drop (verdict drop)
trace id bb02 inet ${own} trace packet: iif "cni0"
`;
  assertEquals(traceVerdicts(text), [
    "inet filter forward rule ip daddr 10.244.2.0/24 drop (verdict drop)",
  ]);
  assertEquals(tracedPackets(text), 2);
});

Deno.test("dropReasons() counts kfree_skb lines by reason and function", () => {
  const t =
    `            ping-1 [000] ..s1. 1.0: kfree_skb: skbaddr=0 rx_sk=0 protocol=2048 location=nft_do_chain+0x46f/0x690 reason: NETFILTER_DROP
 ksoftirqd/1-24 [001] ..s.. 2.0: kfree_skb: skbaddr=0 rx_sk=0 protocol=2048 location=nft_do_chain+0x46f/0x690 reason: NETFILTER_DROP
 ksoftirqd/1-24 [001] ..s.. 2.0: kfree_skb: skbaddr=0 rx_sk=0 protocol=2048 location=ip_forward+0x1/0x2 reason: NOT_SPECIFIED
# comment`;
  assertEquals(dropReasons(t), {
    "NETFILTER_DROP at nft_do_chain": 2,
    "NOT_SPECIFIED at ip_forward": 1,
  });
});

Deno.test("kfreeCheck(): socket-level frees elsewhere on the machine do not warn; a forwarding drop does", () => {
  const line = (loc: string, reason: string) =>
    ` ping-1 [000] ..s1. 1.0: kfree_skb: skbaddr=0 rx_sk=0 protocol=2048 location=${loc}+0x1/0x2 reason: ${reason}`;
  const noise = [line("ping_rcv", "NO_SOCKET"), line("sk_stream_kill_queues", "QUEUE_PURGE")];
  const quiet = kfreeCheck("-", noise.join("\n"));
  assertEquals(quiet.status, "pass");
  assertEquals(quiet.summary.includes("2 socket-level free(s)"), true, quiet.summary);
  const dropped = kfreeCheck("-", [...noise, line("nft_do_chain", "NETFILTER_DROP")].join("\n"));
  assertEquals(dropped.status, "warn");
  assertEquals(dropped.summary.includes("1 IPv4 packet(s) dropped"), true, dropped.summary);
  assertEquals(kfreeCheck("-", "").status, "pass");
});

Deno.test("kfreeCheck(): TCP frees are noise, a NO_SOCKET on the UDP path (a closed VXLAN port) is not", () => {
  const line = (loc: string, reason: string) =>
    ` x-1 [000] ..s1. 1.0: kfree_skb: skbaddr=0 rx_sk=0 protocol=2048 location=${loc}+0x1/0x2 reason: ${reason}`;
  assertEquals(kfreeCheck("-", line("tcp_v4_do_rcv", "TCP_ABORT_ON_DATA")).status, "pass");
  assertEquals(kfreeCheck("-", line("tcp_v4_rcv", "NOT_SPECIFIED")).status, "pass");
  assertEquals(kfreeCheck("-", line("__udp4_lib_rcv", "NO_SOCKET")).status, "warn");
});
