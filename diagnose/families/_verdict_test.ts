import { assertEquals } from "../../testing/assert.ts";
import type { Packet } from "../nft_eval.ts";
import { dropFix, verdictCheck } from "./_verdict.ts";

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

Deno.test("verdictCheck() words a netdev fwd as a redirect to its device, naming the rule as droppedBy", () => {
  const by = {
    family: "netdev",
    table: "t",
    chain: "c1",
    handle: 2,
    text: "ip saddr 10.244.1.0/24 fwd to lo",
  };
  const c = verdictCheck(
    "netfilter.netdev",
    { label: "n1", who: "n1", exec: "" },
    "icmp 10.244.1.2 -> 10.244.2.3 at ingress of eth0",
    { ...p, hook: "ingress", layer: "netdev", iifname: "eth0" },
    { verdict: "drop", by, redirectedTo: "lo", chains: ["netdev t c1"], unknown: [] },
  );
  assertEquals(c.status, "fail");
  assertEquals(
    c.summary,
    "n1's ruleset redirects icmp 10.244.1.2 -> 10.244.2.3 at ingress of eth0 to lo (fwd): it leaves by lo and does not go on",
  );
  assertEquals(c.evidence.droppedBy, "netdev t c1 handle 2: ip saddr 10.244.1.0/24 fwd to lo");
  assertEquals(c.evidence.redirectedTo, "lo");
  assertEquals(c.fix, "nft delete rule netdev t c1 handle 2  # after checking why it is there");
});

Deno.test("verdictCheck() names the ping's ICMP type in the packet it judged", () => {
  const owner = { label: "n1", who: "n1", exec: "" };
  const v = { verdict: "accept" as const, chains: ["inet t fw"], unknown: [] };
  const request = verdictCheck("netfilter.forward", owner, "the flow", {
    ...p,
    icmp: { type: 8, code: 0 },
    iifname: "cni0",
  }, v);
  assertEquals(
    request.evidence.packet,
    "forward icmp echo-request 10.244.1.2 -> 10.244.2.3 iif cni0",
  );
  assertEquals(
    verdictCheck("x", owner, "w", p, v).evidence.packet,
    "forward icmp 10.244.1.2 -> 10.244.2.3",
  );
});

Deno.test("verdictCheck() and dropFix() give the packet's known ports, a range as iptables writes it", () => {
  const owner = { label: "n1", who: "n1", exec: "" };
  const udp: Packet = { ...p, hook: "output", l4proto: "udp", sport: 8285, dport: 8285 };
  const v = { verdict: "accept" as const, chains: ["inet t out"], unknown: [] };
  assertEquals(
    verdictCheck("x", owner, "w", udp, v).evidence.packet,
    "output udp 10.244.1.2 -> 10.244.2.3 sport 8285 dport 8285",
  );
  const reply: Packet = { ...udp, l4proto: "tcp", sport: 179, dport: { min: 32768, max: 60999 } };
  assertEquals(
    verdictCheck("x", owner, "w", reply, v).evidence.packet,
    "output tcp 10.244.1.2 -> 10.244.2.3 sport 179 dport 32768-60999",
  );
  const policy = { family: "ip", table: "filter", chain: "OUTPUT", text: "policy drop" };
  assertEquals(
    dropFix("", policy, reply),
    "iptables -I OUTPUT -s 10.244.1.2 -d 10.244.2.3 -p tcp --sport 179 --dport 32768:60999 -j ACCEPT  # the chain's policy is drop",
  );
});
