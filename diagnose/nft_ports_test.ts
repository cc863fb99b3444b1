import { assertEquals } from "../testing/assert.ts";
import { judge, type Packet, parseIptablesSave, parseRuleset } from "./nft_eval.ts";
import {
  parsePortRange,
  portIn,
  portListHolds,
  portOptionHolds,
  type PortRange,
  portText,
  rangeMember,
} from "./nft_ports.ts";
import { judgeLegacy, parseLegacySave } from "./xt_legacy.ts";

const testdata = (name: string) =>
  Deno.readTextFileSync(new URL(`./testdata/${name}`, import.meta.url));

/**
 * A ruleset nft wrote (testdata/NAME.json: `bash diagnose/testdata/capture_nft.sh NAME`) with
 * only the rules commented `keep`.
 */
function captured(name: string, keep: string): string {
  const v = JSON.parse(testdata(`${name}.json`)) as {
    nftables: Record<string, { comment?: string }>[];
  };
  return JSON.stringify({
    nftables: v.nftables.filter((i) => !i.rule || i.rule.comment === keep),
  });
}

/** The udp backend's packet leaving n1 for n2: its socket is bound to 8285 at both ends. */
const udp: Packet = {
  hook: "output",
  saddr: "192.168.77.11",
  daddr: "192.168.77.12",
  l4proto: "udp",
  sport: 8285,
  dport: 8285,
  oifname: "eth0",
};
/** VXLAN's: to 8472, from a port hashed from the inner flow (not known). */
const vxlan: Packet = { ...udp, dport: 8472, sport: undefined };
const EPHEMERAL: PortRange = { min: 32768, max: 60999 };
/** A BGP listener's reply to a dialer's ephemeral port. */
const bgpReply: Packet = { ...udp, l4proto: "tcp", sport: 179, dport: EPHEMERAL };
/** The dialer's SYN, from an ephemeral port. */
const bgpSyn: Packet = { ...udp, l4proto: "tcp", sport: EPHEMERAL, dport: 179 };
const icmp: Packet = { ...udp, l4proto: "icmp", sport: undefined, dport: undefined };

/** A packet's verdict under one rule of testdata/nft_ports.nft: "not judged" when it depends on one. */
function verdict(rule: string, p: Packet): string {
  const v = judge(parseRuleset(captured("nft_ports", rule)), p);
  if (v.verdict === "drop") return "drop";
  return v.unknown.length ? "not judged" : "accept";
}

const other = (p: Packet, x: Partial<Packet>): Packet => ({ ...p, ...x });

Deno.test("judge(): the audit's drops of the udp backend's source port 8285 drop its packets; VXLAN's source port is not judged", () => {
  for (const rule of ["th", "udp", "th-set", "th-bare"]) {
    assertEquals(
      [udp, other(udp, { sport: 9999 }), vxlan, icmp].map((p) => verdict(rule, p)),
      ["drop", "accept", "not judged", "accept"],
      rule,
    );
  }
  const v = judge(parseRuleset(captured("nft_ports", "th")), udp);
  assertEquals(v.by?.text, "udp sport 8285 counter drop"); // nft's own words for it
  const u = judge(parseRuleset(captured("nft_ports", "udp")), vxlan);
  assertEquals(u.unknown.map((r) => [r.text, r.mayDrop]), [["udp sport 8285 drop", true]]);
  assertEquals([verdict("tcp", bgpReply), verdict("tcp", udp)], ["drop", "accept"]);
});

Deno.test("judge(): source port sets, ranges, negation, verdict maps and concatenations", () => {
  const sport = (n: number) => other(udp, { sport: n });
  const cases: [string, Packet[], string[]][] = [
    ["not", [udp, sport(9999), vxlan], ["accept", "drop", "not judged"]],
    ["anon-set", [udp, sport(8472), sport(9999), vxlan], ["drop", "drop", "accept", "not judged"]],
    ["named-set", [udp, sport(8472), sport(9999), vxlan], ["drop", "drop", "accept", "not judged"]],
    ["not-named-set", [udp, sport(9999)], ["accept", "drop"]],
    ["range", [udp, sport(7999), sport(9000)], ["drop", "accept", "drop"]],
    ["interval", [sport(1500), udp, sport(3000)], ["drop", "drop", "accept"]],
    ["vmap", [udp, sport(9999), vxlan], ["drop", "accept", "not judged"]],
    ["named-vmap", [udp, other(bgpReply, {}), vxlan], ["drop", "accept", "not judged"]],
    ["both-ports", [udp, other(udp, { dport: 8472 })], ["drop", "accept"]],
    ["l4-concat", [bgpReply, udp], ["drop", "accept"]],
  ];
  for (const [rule, packets, want] of cases) {
    assertEquals(packets.map((p) => verdict(rule, p)), want, rule);
  }
  // A concatenation with the address: the address alone can rule a packet out.
  const n2 = other(udp, { saddr: "192.168.77.12" });
  for (const rule of ["concat", "named-concat"]) {
    assertEquals(
      [udp, n2, vxlan, other(vxlan, { saddr: "192.168.77.12" })].map((p) => verdict(rule, p)),
      ["drop", "accept", "not judged", "accept"],
      rule,
    );
  }
  const m = judge(parseRuleset(captured("nft_ports", "named-vmap")), udp).by;
  assertEquals(m?.element, "portv { 8285 }");
});

Deno.test("judge(): a port known only as a range (a client's ephemeral port) is judged when the rule's ports hold all of it or none", () => {
  const range = (min: number, max: number) => other(bgpReply, { dport: { min, max } });
  const cases: [string, Packet[], string[]][] = [
    ["dport", [bgpReply, bgpSyn], ["accept", "drop"]],
    ["dport-not", [bgpReply, bgpSyn], ["drop", "accept"]],
    ["ephemeral", [bgpReply, range(1024, 65535)], ["drop", "not judged"]],
    ["covering", [bgpReply], ["drop"]],
    ["one-ephemeral", [bgpReply, bgpSyn], ["not judged", "accept"]],
    ["part-set", [bgpReply, range(1024, 1100)], ["not judged", "accept"]],
    ["tcp", [bgpSyn], ["accept"]],
  ];
  for (const [rule, packets, want] of cases) {
    assertEquals(packets.map((p) => verdict(rule, p)), want, rule);
  }
});

Deno.test("judge(): iptables-nft's --sport (nft's own match) and multiport's --sports/--dports/--ports (read from iptables-nft-save)", () => {
  const save = parseIptablesSave(testdata("nft_xt_ports.save"));
  /** User chain `name` of the capture as the output hook's. */
  const asOutput = (name: string) => {
    const v = JSON.parse(testdata("nft_xt_ports.json")) as {
      nftables: { chain?: Record<string, unknown> }[];
    };
    for (const i of v.nftables) {
      if (i.chain?.name === name) {
        Object.assign(i.chain, { type: "filter", hook: "output", prio: 0, policy: "accept" });
      }
    }
    return parseRuleset(JSON.stringify(v), save);
  };
  const verdicts = (name: string, ...packets: Packet[]) =>
    packets.map((p) => {
      const v = judge(asOutput(name), p);
      return v.verdict === "drop" ? "drop" : v.unknown.length ? "not judged" : "accept";
    });
  const sport = (n: number) => other(udp, { sport: n });
  assertEquals(verdicts("SPORT", udp, sport(9999), vxlan), ["drop", "accept", "not judged"]);
  assertEquals(verdicts("SPORT-RANGE", udp, sport(7999)), ["drop", "accept"]);
  assertEquals(verdicts("MULTI-S", udp, sport(8472), sport(9999), vxlan), [
    "drop",
    "drop",
    "accept",
    "not judged",
  ]);
  assertEquals(
    verdicts("MULTI-D", bgpSyn, other(bgpSyn, { dport: 1500 }), bgpReply),
    ["accept", "drop", "accept"],
  );
  assertEquals(
    verdicts("MULTI-ANY", udp, other(udp, { sport: 1 }), other(udp, { dport: 1 }), vxlan),
    ["drop", "drop", "drop", "not judged"],
  );
  assertEquals(verdicts("MULTI-NOT", udp, sport(9999), vxlan), ["accept", "drop", "not judged"]);
  const v = judge(asOutput("MULTI-S"), udp);
  assertEquals(
    v.by?.text,
    "l4proto udp xt match multiport counter drop (iptables: -p udp -m multiport --sports 8285,8472 -j DROP)",
  );
});

Deno.test("judgeLegacy(): --sport, --dport ranges and multiport's lists (iptables-save's words); a port not known leaves the rule not judged", () => {
  const t = parseLegacySave(testdata("nft_xt_ports.save"));
  const inOutput = (chain: string, p: Packet) => {
    t.rules.set("filter OUTPUT", t.rules.get(`filter ${chain}`)!);
    const v = judgeLegacy(t, p);
    return v.verdict === "drop" ? "drop" : v.unknown.length ? "not judged" : "accept";
  };
  const sport = (n: number) => other(udp, { sport: n });
  const cases: [string, Packet[], string[]][] = [
    ["SPORT", [udp, sport(9999), vxlan, icmp], ["drop", "accept", "not judged", "accept"]],
    ["SPORT-RANGE", [udp, sport(7999)], ["drop", "accept"]],
    ["MULTI-S", [udp, sport(8472), sport(9999), vxlan], ["drop", "drop", "accept", "not judged"]],
    ["MULTI-D", [bgpSyn, other(bgpSyn, { dport: 1500 }), bgpReply], ["accept", "drop", "accept"]],
    ["MULTI-ANY", [udp, other(udp, { sport: 1 }), vxlan], ["drop", "drop", "not judged"]],
    ["MULTI-NOT", [udp, sport(9999), vxlan], ["accept", "drop", "not judged"]],
  ];
  for (const [chain, packets, want] of cases) {
    assertEquals(packets.map((p) => inOutput(chain, p)), want, chain);
  }
});

Deno.test("portIn(), rangeMember(), portListHolds(): a range is judged only when wholly inside or outside", () => {
  assertEquals([portIn(80, 80, 80), portIn(81, 80, 80), portIn(undefined, 1, 9)], [
    true,
    false,
    undefined,
  ]);
  assertEquals(
    [portIn(EPHEMERAL, 1024, 65535), portIn(EPHEMERAL, 179, 179), portIn(EPHEMERAL, 40000, 40000)],
    [true, false, undefined],
  );
  assertEquals(
    [rangeMember(179, EPHEMERAL), rangeMember({ range: [1, 65535] }, EPHEMERAL)],
    [false, true],
  );
  assertEquals([rangeMember(40000, EPHEMERAL), rangeMember("ssh", EPHEMERAL)], [
    "unknown",
    "unknown",
  ]);
  assertEquals(portListHolds("179,1000:2000", 1500), true);
  assertEquals(portListHolds("179,1000:2000", 8285), false);
  assertEquals(portListHolds(":1023", EPHEMERAL), false);
  assertEquals(portListHolds("1024:", EPHEMERAL), true);
  assertEquals(portListHolds("22,40000", EPHEMERAL), undefined);
  assertEquals(portListHolds("ssh", 22), undefined);
  assertEquals(portOptionHolds("--sport", "8285", icmp), false, "ICMP has no ports");
  assertEquals(portOptionHolds("--ports", "8285", vxlan), undefined);
  assertEquals(portOptionHolds("--ports", "8472", vxlan), true);
});

Deno.test("parsePortRange() reads ip_local_port_range; portText() words a port", () => {
  assertEquals(parsePortRange("32768\t60999\n"), { min: 32768, max: 60999 });
  assertEquals([parsePortRange("9 1"), parsePortRange(undefined), parsePortRange("x")], [
    undefined,
    undefined,
    undefined,
  ]);
  assertEquals([portText(179), portText(EPHEMERAL)], ["179", "32768-60999"]);
});
