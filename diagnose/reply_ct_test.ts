import { assertEquals } from "../testing/assert.ts";
import { judge, type Packet, parseRuleset } from "./nft_eval.ts";
import { echoOf } from "./nft_icmp.ts";
import { judgeReply, replyState } from "./reply_ct.ts";

/** testdata/nft_reply_ct.json (capture_nft.sh) with only the rules commented one of `keep`. */
function captured(...keep: string[]) {
  const v = JSON.parse(
    Deno.readTextFileSync(new URL("./testdata/nft_reply_ct.json", import.meta.url)),
  ) as { nftables: Record<string, { comment?: string }>[] };
  return parseRuleset(JSON.stringify({
    nftables: v.nftables.filter((i) => !i.rule || keep.includes(i.rule.comment ?? "")),
  }));
}

/** n1-p1's ping to n2-p1 as n1 forwards it: in from its bridge, out by the tunnel. */
const request: Packet = {
  hook: "forward",
  saddr: "10.244.2.2",
  daddr: "10.244.1.2",
  l4proto: "icmp",
  icmp: echoOf(false),
  iifname: "cni0",
  oifname: "skein-udp",
  ct: "new",
};
/** Its reply on n1: in by the tunnel, out to the bridge. */
const reply: Packet = {
  ...request,
  saddr: request.daddr,
  daddr: request.saddr,
  icmp: echoOf(true),
  iifname: "skein-udp",
  oifname: "cni0",
  ct: "established",
};

Deno.test("judgeReply(): the audit's fault: a notracked echo request passes, its reply has no conntrack entry, is invalid and dropped, the notrack rule named", () => {
  const rs = captured("notrack", "invalid");
  const req = judge(rs, request);
  assertEquals([req.verdict, req.untrackedBy?.text], [
    "accept",
    "iifname cni0 ip saddr 10.244.2.2 notrack",
  ]);
  const { packet, verdict } = judgeReply(rs, reply, req);
  assertEquals(packet.ct, "invalid");
  assertEquals([verdict.verdict, verdict.by?.text], ["drop", "ct state invalid counter drop"]);
  assertEquals(
    [verdict.requestUntrackedBy?.chain, verdict.requestUntrackedBy?.handle],
    ["raw", req.untrackedBy?.handle],
  );
  // Without the notrack the request is tracked: the reply is established and passes.
  const tracked = judge(captured("invalid"), request);
  assertEquals(judgeReply(captured("invalid"), reply, tracked).verdict.verdict, "accept");
  assertEquals(replyState(tracked, "icmp"), undefined);
});

Deno.test("replyState(): an ICMP echo reply or a TCP SYN-ACK to an untracked request is invalid, a UDP reply new", () => {
  const rs = captured("notrack", "invalid");
  const req = judge(rs, request);
  assertEquals(
    (["icmp", "tcp", "udp"] as const).map((l4) => replyState(req, l4)),
    ["invalid", "invalid", "new"],
  );
  const udp = judgeReply(rs, { ...reply, l4proto: "udp", icmp: undefined }, req);
  assertEquals([udp.packet.ct, udp.verdict.verdict], ["new", "accept"]);
});

Deno.test("judgeReply(): the notrack is blamed only when it is why the reply is dropped", () => {
  // The reply notracked itself is untracked, not invalid.
  const all = captured("notrack-all", "invalid");
  const r = judgeReply(all, reply, judge(all, request));
  assertEquals([r.verdict.verdict, r.verdict.untrackedBy?.text], ["accept", "notrack"]);
  const dropsUntracked = captured("notrack-all", "untracked");
  const u = judgeReply(dropsUntracked, reply, judge(dropsUntracked, request));
  assertEquals([u.verdict.verdict, u.verdict.requestUntrackedBy], ["drop", undefined]);
  // A rule that drops the reply whatever its state.
  const addr = captured("notrack", "addr");
  const a = judgeReply(addr, reply, judge(addr, request));
  assertEquals([a.verdict.verdict, a.verdict.by?.text, a.verdict.requestUntrackedBy], [
    "drop",
    "ip saddr 10.244.1.2 drop",
    undefined,
  ]);
  // An invalid reply is not new.
  const isNew = captured("notrack", "new");
  assertEquals(judgeReply(isNew, reply, judge(isNew, request)).verdict.verdict, "accept");
});
