import { assertEquals } from "../testing/assert.ts";
import type { Packet } from "./nft_eval.ts";
import { xtMatch, xtMatchArgs } from "./xt_match.ts";

const request: Packet = {
  hook: "forward",
  saddr: "10.244.1.2",
  daddr: "10.244.2.3",
  l4proto: "icmp",
  icmp: { type: 8, code: 0 },
};
const reply: Packet = { ...request, icmp: { type: 0, code: 0 } };

Deno.test("xtMatchArgs() reads the options of the nth -m NAME, up to the next match or the target", () => {
  const words =
    '-p icmp -m iprange --src-range 10.244.1.1-10.244.1.200 -m comment --comment "-m iprange x" ' +
    "-m icmp --icmp-type 8 -m iprange ! --dst-range 10.244.2.3-10.244.2.3 -j DROP";
  assertEquals(xtMatchArgs(words, "iprange"), ["--src-range", "10.244.1.1-10.244.1.200"]);
  assertEquals(xtMatchArgs(words, "iprange", 1), ["!", "--dst-range", "10.244.2.3-10.244.2.3"]);
  assertEquals(xtMatchArgs(words, "icmp"), ["--icmp-type", "8"]);
  assertEquals(xtMatchArgs(words, "iprange", 2), undefined);
});

Deno.test("xtMatch(): --icmp-type by number, type/code, name and any, negated; not judged without the packet's type", () => {
  const icmp = (type: string, p: Packet = request) =>
    xtMatch(`-p icmp -m icmp --icmp-type ${type} -j DROP`, "icmp", 0, p);
  assertEquals([icmp("8"), icmp("8", reply)], [true, false]);
  assertEquals([icmp("echo-request"), icmp("ping"), icmp("echo-reply", reply)], [true, true, true]);
  assertEquals([icmp("8/0"), icmp("8/1"), icmp("3/1"), icmp("host-unreachable")], [
    true,
    false,
    false,
    false,
  ]);
  assertEquals(icmp("any"), true);
  assertEquals(xtMatch("-p icmp -m icmp ! --icmp-type 8 -j DROP", "icmp", 0, request), false);
  assertEquals(xtMatch("-p icmp -m icmp ! --icmp-type 8 -j DROP", "icmp", 0, reply), true);
  const { icmp: _, ...unknownType } = request;
  assertEquals(icmp("8", unknownType), undefined);
  assertEquals(icmp("any", unknownType), true);
  assertEquals(icmp("no-such-name"), undefined);
  assertEquals(icmp("8", { ...request, l4proto: "udp", dport: 53 }), false);
  assertEquals(xtMatch(undefined, "icmp", 0, request), undefined, "no iptables words");
});

Deno.test("xtMatch(): --src-range and --dst-range, inclusive, negated, all options must hold", () => {
  const range = (opts: string, p: Packet = request) =>
    xtMatch(`-m iprange ${opts} -j DROP`, "iprange", 0, p);
  assertEquals(range("--src-range 10.244.1.1-10.244.1.200"), true);
  assertEquals(range("--src-range 10.244.1.2-10.244.1.2"), true);
  assertEquals(range("--src-range 10.244.1.3-10.244.1.200"), false);
  assertEquals(range("--dst-range 10.244.2.1-10.244.2.3"), true);
  assertEquals(range("! --src-range 10.244.1.1-10.244.1.200"), false);
  assertEquals(
    range("--src-range 10.244.1.1-10.244.1.200 ! --dst-range 10.244.9.1-10.244.9.9"),
    true,
  );
  assertEquals(
    range("--src-range 10.244.1.1-10.244.1.200 ! --dst-range 10.244.2.1-10.244.2.9"),
    false,
  );
  assertEquals(range("--src-range bad"), undefined);
  assertEquals(
    range("--src-range 10.244.9.1-10.244.9.9 --frobnicate x"),
    false,
    "one fails: false",
  );
  assertEquals(range("--src-range 10.244.1.1-10.244.1.9 --frobnicate x"), undefined);
});
