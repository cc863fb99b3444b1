import { assertEquals } from "../../testing/assert.ts";
import { dropReasons, tracedPackets, traceTable, traceVerdicts } from "./trace.ts";

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
