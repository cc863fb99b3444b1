import { assertEquals } from "../testing/assert.ts";
import {
  ebArpMatch,
  ebIpMatch,
  judge,
  type Packet,
  parseIptablesSave,
  parseNetdevDevices,
  parseRuleset,
  ruleCounters,
  ruleText,
  xtSetMark,
} from "./nft_eval.ts";

const pkt: Packet = {
  hook: "forward",
  saddr: "10.244.1.2",
  daddr: "10.244.2.3",
  l4proto: "icmp",
  iifname: "cni0",
  oifname: "skein.1",
};

function rs(...items: unknown[]): string {
  return JSON.stringify({ nftables: [{ metainfo: {} }, ...items] });
}
const chain = (name: string, extra: Record<string, unknown> = {}) => ({
  chain: { family: "inet", table: "t", name, handle: 1, ...extra },
});
const rule = (ch: string, handle: number, expr: unknown[]) => ({
  rule: { family: "inet", table: "t", chain: ch, handle, expr },
});
const base = { type: "filter", hook: "forward", prio: 0, policy: "accept" };
const daddr = (right: unknown) => ({
  match: { op: "==", left: { payload: { protocol: "ip", field: "daddr" } }, right },
});

/**
 * A ruleset nft wrote (testdata/NAME.json: `bash diagnose/testdata/capture_nft.sh NAME` loads
 * NAME.nft in a scratch namespace) with only the rules commented one of `keep`, and every rule
 * without a comment (the chains they jump to). `nft -j list ruleset`'s text, for parseRuleset().
 */
function captured(name: string, ...keep: string[]): string {
  const v = JSON.parse(
    Deno.readTextFileSync(new URL(`./testdata/${name}.json`, import.meta.url)),
  ) as { nftables: Record<string, { comment?: string }>[] };
  return JSON.stringify({
    nftables: v.nftables.filter((i) =>
      !i.rule || i.rule.comment === undefined || keep.includes(i.rule.comment)
    ),
  });
}

Deno.test("judge(): an empty ruleset accepts", () => {
  assertEquals(judge(parseRuleset(rs()), pkt).verdict, "accept");
});

Deno.test("judge(): a drop rule on the destination prefix drops, with the rule as evidence", () => {
  const v = judge(
    parseRuleset(
      rs(
        chain("fwd", base),
        rule("fwd", 4, [daddr({ prefix: { addr: "10.244.2.0", len: 24 } }), { counter: {} }, {
          drop: null,
        }]),
      ),
    ),
    pkt,
  );
  assertEquals(v.verdict, "drop");
  assertEquals([v.by?.table, v.by?.chain, v.by?.handle], ["t", "fwd", 4]);
  // Another destination passes.
  assertEquals(
    judge(
      parseRuleset(rs(chain("fwd", base), rule("fwd", 4, [daddr("10.9.9.9"), { drop: null }]))),
      pkt,
    ).verdict,
    "accept",
  );
});

Deno.test("judge(): policy drop, an accept before it, jump/return and named sets", () => {
  const drop = { ...base, policy: "drop" };
  assertEquals(judge(parseRuleset(rs(chain("fwd", drop))), pkt).by?.text, "policy drop");
  const accepted = parseRuleset(rs(
    chain("fwd", drop),
    {
      set: {
        family: "inet",
        table: "t",
        name: "pods",
        type: "ipv4_addr",
        elem: [{ prefix: { addr: "10.244.0.0", len: 16 } }],
      },
    },
    chain("sub"),
    rule("sub", 7, [{ match: { op: "==", left: { meta: { key: "iifname" } }, right: "eth*" } }, {
      accept: null,
    }]),
    rule("sub", 8, [{ return: null }]),
    rule("fwd", 5, [{ jump: { target: "sub" } }]),
    rule("fwd", 6, [daddr("@pods"), { accept: null }]),
  ));
  assertEquals(judge(accepted, pkt).verdict, "accept");
  assertEquals(judge(accepted, { ...pkt, daddr: "192.168.1.1" }).verdict, "drop");
});

Deno.test("judge(): udp dport matches only udp packets; ct state sees a new flow; unknown matches are listed", () => {
  const r = parseRuleset(rs(
    chain("in", { ...base, hook: "input" }),
    rule("in", 2, [{
      match: { op: "in", left: { ct: { key: "state" } }, right: ["established", "related"] },
    }, { accept: null }]),
    rule("in", 3, [{ xt: { type: "match", name: "conntrack" } }, { drop: null }]),
    rule("in", 4, [{
      match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 8472 },
    }, { drop: null }]),
  ));
  const udp: Packet = {
    hook: "input",
    saddr: "192.168.77.11",
    daddr: "192.168.77.12",
    l4proto: "udp",
    dport: 8472,
  };
  const v = judge(r, udp);
  assertEquals([v.verdict, v.by?.handle], ["drop", 4]);
  assertEquals(v.unknown.map((u) => u.handle), [3]);
  assertEquals(judge(r, { ...udp, dport: 4789 }).verdict, "accept");
  assertEquals(judge(r, { ...udp, l4proto: "tcp" }).verdict, "accept");
});

Deno.test("ruleText() prints rules in nft syntax", () => {
  assertEquals(
    ruleText([
      daddr({ prefix: { addr: "10.244.2.0", len: 24 } }),
      { match: { op: "!=", left: { meta: { key: "iifname" } }, right: "eth0" } },
      {
        match: {
          op: "in",
          left: { ct: { key: "state" } },
          right: { set: ["established", "related"] },
        },
      },
      { counter: { packets: 1, bytes: 2 } },
      { drop: null },
    ]),
    "ip daddr 10.244.2.0/24 iifname != eth0 ct state { established, related } counter drop",
  );
});

Deno.test("judge(): a nat statement ends its chain and is reported; a return before it skips it", () => {
  const post = { type: "nat", hook: "postrouting", prio: 100, policy: "accept" };
  const p: Packet = { ...pkt, hook: "postrouting" };
  const saddr = (right: unknown) => ({
    match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right },
  });
  const cluster = { prefix: { addr: "10.244.0.0", len: 16 } };
  // flannel's rules: pod -> pod returns first, so only traffic leaving the cluster is rewritten.
  const flannel = parseRuleset(rs(
    chain("post", post),
    rule("post", 2, [saddr(cluster), daddr(cluster), { return: null }]),
    rule("post", 3, [saddr(cluster), { masquerade: { flags: ["fully-random"] } }]),
  ));
  assertEquals(judge(flannel, p).nat, undefined);
  assertEquals(judge(flannel, { ...p, daddr: "8.8.8.8" }).nat?.statement, "masquerade");
  // A masquerade of the whole pod network: pod -> pod traffic loses its source address.
  const v = judge(
    parseRuleset(rs(
      chain("post", post),
      rule("post", 5, [saddr(cluster), { masquerade: null }]),
      rule("post", 6, [{ drop: null }]),
    )),
    p,
  );
  assertEquals([v.verdict, v.nat?.statement, v.nat?.handle], ["accept", "masquerade", 5]);
});

Deno.test("judge(): a masquerade behind a rule it cannot judge is uncertain (kube-proxy's KUBE-POSTROUTING)", () => {
  const post = { type: "nat", hook: "postrouting", prio: 100, policy: "accept" };
  const markNot = {
    match: { op: "!=", left: { "&": [{ meta: { key: "mark" } }, 16384] }, right: 16384 },
  };
  const v = judge(
    parseRuleset(rs(
      chain("post", post),
      rule("post", 2, [markNot, { counter: null }, { return: null }]),
      rule("post", 3, [{ counter: null }, { xt: { type: "target", name: "MARK" } }]),
      rule("post", 4, [{ xt: { type: "match", name: "comment" } }, {
        xt: { type: "target", name: "MASQUERADE" },
      }]),
    )),
    { ...pkt, hook: "postrouting" },
  );
  assertEquals([v.nat?.statement, v.nat?.handle, v.nat?.uncertain], ["masquerade", 4, true]);
  assertEquals(v.unknown.map((u) => [u.handle, u.mayDrop]), [[2, false]]);
});

Deno.test("judge(): a rule it cannot judge may drop only when it drops, rejects, or jumps to a chain that would drop this packet", () => {
  const mark = { match: { op: "==", left: { meta: { key: "mark" } }, right: 16384 } };
  const v = judge(
    parseRuleset(rs(
      chain("fwd", base),
      chain("services"), // kube-proxy's KUBE-SERVICES: rejects one service IP, not this flow
      chain("deny"),
      rule("services", 9, [daddr("10.96.0.10"), { reject: null }]),
      rule("deny", 10, [{ drop: null }]),
      rule("fwd", 2, [mark, { accept: null }]),
      rule("fwd", 3, [mark, { jump: { target: "services" } }]),
      rule("fwd", 4, [mark, { jump: { target: "deny" } }]),
      rule("fwd", 5, [mark, { drop: null }]),
      rule("fwd", 6, [mark, { counter: null }]),
    )),
    pkt,
  );
  assertEquals(v.verdict, "accept");
  assertEquals(v.unknown.map((u) => `${u.handle} ${u.mayDrop}`), [
    "2 false",
    "3 false",
    "4 true",
    "5 true",
    "6 false",
  ]);
});

Deno.test("judge(): xt conntrack/state matches are read from iptables-save's words for the rule", () => {
  const save = parseIptablesSave(`# Generated by iptables-nft-save
*filter
:FORWARD ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
-A FORWARD -j KUBE-FORWARD
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment "x" -j DROP
COMMIT
`);
  assertEquals(save.get("filter KUBE-FORWARD")?.length, 2);
  const ipChain = (name: string, extra: Record<string, unknown> = {}) => ({
    chain: { family: "ip", table: "filter", name, handle: 1, ...extra },
  });
  const ipRule = (ch: string, handle: number, expr: unknown[]) => ({
    rule: { family: "ip", table: "filter", chain: ch, handle, expr },
  });
  const ct = { xt: { type: "match", name: "conntrack" } };
  const text = rs(
    ipChain("FORWARD", base),
    ipChain("KUBE-FORWARD"),
    ipRule("FORWARD", 2, [{ jump: { target: "KUBE-FORWARD" } }]),
    ipRule("KUBE-FORWARD", 3, [ct, { drop: null }]),
    ipRule("KUBE-FORWARD", 4, [ct, { xt: { type: "match", name: "comment" } }, { drop: null }]),
  );
  // Without iptables' words the INVALID drop cannot be judged; with them a new flow passes the
  // INVALID rule and is dropped by the "not RELATED,ESTABLISHED" one; a reply passes both.
  assertEquals(judge(parseRuleset(text), pkt).unknown.map((u) => u.handle), [3, 4]);
  const v = judge(parseRuleset(text, save), pkt);
  assertEquals([v.verdict, v.by?.handle, v.unknown.length], ["drop", 4, 0]);
  assertEquals(judge(parseRuleset(text, save), { ...pkt, ct: "established" }).verdict, "accept");
});

Deno.test("judge(): a packet crosses prerouting before input or forward, postrouting after", () => {
  const raw = { type: "filter", hook: "prerouting", prio: -300, policy: "accept" };
  const post = { type: "filter", hook: "postrouting", prio: 0, policy: "accept" };
  const dropTo = (ch: string) =>
    rule(ch, 7, [daddr({ prefix: { addr: "10.244.2.0", len: 24 } }), { drop: null }]);
  const pre = parseRuleset(rs(chain("pre", raw), dropTo("pre")));
  for (const hook of ["input", "forward", "prerouting"] as const) {
    const v = judge(pre, { ...pkt, hook });
    assertEquals([v.verdict, v.by?.chain], ["drop", "pre"], hook);
  }
  assertEquals(judge(pre, { ...pkt, hook: "output" }).verdict, "accept", "output skips it");
  const after = parseRuleset(rs(chain("post", post), dropTo("post")));
  for (const hook of ["forward", "output", "postrouting"] as const) {
    assertEquals(judge(after, { ...pkt, hook }).verdict, "drop", hook);
  }
  assertEquals(judge(after, { ...pkt, hook: "input" }).verdict, "accept", "input skips it");
  // The chains judged are listed in path order.
  const both = parseRuleset(rs(chain("pre", raw), chain("fwd", base), chain("post", post)));
  assertEquals(judge(both, pkt).chains, ["inet t pre", "inet t fwd", "inet t post"]);
});

Deno.test("judge(): in prerouting the output interface is not known yet", () => {
  const raw = { type: "filter", hook: "prerouting", prio: -300, policy: "accept" };
  const oif = (op: string) => ({
    match: { op, left: { meta: { key: "oifname" } }, right: "skein.1" },
  });
  const eq = parseRuleset(rs(chain("pre", raw), rule("pre", 2, [oif("=="), { drop: null }])));
  assertEquals(judge(eq, pkt).verdict, "accept");
  const ne = parseRuleset(rs(chain("pre", raw), rule("pre", 2, [oif("!="), { drop: null }])));
  assertEquals(judge(ne, pkt).verdict, "drop", 'oifname != "skein.1" holds for an empty name');
});

Deno.test("judge(): a bridged frame meets the bridge tables only, ebtables' IPv4 match by its words", () => {
  const bchain = (name: string, hook: string) => ({
    chain: {
      family: "bridge",
      table: "filter",
      name,
      handle: 1,
      type: "filter",
      hook,
      prio: -200,
      policy: "accept",
    },
  });
  const brule = (ch: string, handle: number, expr: unknown[]) => ({
    rule: { family: "bridge", table: "filter", chain: ch, handle, expr },
  });
  const etherIp = {
    match: { op: "==", left: { payload: { protocol: "ether", field: "type" } }, right: "ip" },
  };
  const text = rs(
    bchain("FORWARD", "forward"),
    brule("FORWARD", 3, [etherIp, { xt: { type: "match", name: "ip" } }, { drop: null }]),
  );
  const frame: Packet = {
    ...pkt,
    layer: "bridge",
    iifname: "veth1",
    oifname: "veth2",
    bridge: "cni0",
  };
  // Without ebtables' words the match cannot be judged: a rule that may drop.
  const unknown = judge(parseRuleset(text), frame);
  assertEquals([unknown.verdict, unknown.unknown[0]?.mayDrop], ["accept", true]);
  const save = parseIptablesSave(
    `*filter\n:FORWARD ACCEPT\n-A FORWARD -p IPv4 --ip-src 10.244.1.2 -j DROP\n`,
  );
  const v = judge(parseRuleset(text, undefined, save), frame);
  assertEquals([v.verdict, v.by?.handle], ["drop", 3]);
  assertEquals(v.by?.text.includes("(ebtables: -p IPv4 --ip-src 10.244.1.2 -j DROP)"), true);
  // Another source passes; the routed packet never meets a bridge table.
  assertEquals(
    judge(parseRuleset(text, undefined, save), { ...frame, saddr: "10.244.1.9" }).verdict,
    "accept",
  );
  assertEquals(judge(parseRuleset(text, undefined, save), pkt).verdict, "accept");
});

Deno.test("ebIpMatch(): --ip-src/--ip-dst with prefixes and !, --ip-proto, --ip-dport ranges", () => {
  const p: Packet = { ...pkt, layer: "bridge", l4proto: "udp", dport: 53 };
  assertEquals(ebIpMatch("-p IPv4 --ip-src 10.244.1.0/24 -j DROP", p), true);
  assertEquals(ebIpMatch("-p IPv4 --ip-dst ! 10.244.2.0/24 -j DROP", p), false);
  assertEquals(ebIpMatch("-p IPv4 ! --ip-dst 10.9.0.0/16 -j DROP", p), true);
  assertEquals(ebIpMatch("-p IPv4 --ip-proto udp --ip-dport 50:60 -j DROP", p), true);
  assertEquals(ebIpMatch("-p IPv4 --ip-proto 6 -j DROP", p), false);
  assertEquals(ebIpMatch("-p IPv4 --ip-proto udp --ip-dport 54 -j DROP", p), false);
  assertEquals(ebIpMatch("-p IPv4 --ip-tos 0x10 -j DROP", p), undefined, "not judged");
  assertEquals(ebIpMatch("-p IPv4 --ip-src 10.0.0.0/255.0.0.0 -j DROP", p), undefined);
  assertEquals(ebIpMatch(undefined, p), undefined);
});

Deno.test("judge(): an ARP frame meets EtherType and interface matches, no IP or conntrack one", () => {
  const bchain = {
    chain: {
      family: "bridge",
      table: "filter",
      name: "INPUT",
      handle: 1,
      type: "filter",
      hook: "input",
      prio: -200,
      policy: "accept",
    },
  };
  const brule = (handle: number, expr: unknown[]) => ({
    rule: { family: "bridge", table: "filter", chain: "INPUT", handle, expr },
  });
  const ether = (right: string) => ({
    match: { op: "==", left: { payload: { protocol: "ether", field: "type" } }, right },
  });
  const arp: Packet = { ...pkt, hook: "input", layer: "bridge", iifname: "veth1", arp: true };
  const ip = { ...arp, arp: false };
  const byIp = parseRuleset(rs(bchain, brule(2, [daddr("10.244.2.3"), { drop: null }])));
  assertEquals([judge(byIp, arp).verdict, judge(byIp, ip).verdict], ["accept", "drop"]);
  const byType = parseRuleset(rs(bchain, brule(2, [ether("arp"), { drop: null }])));
  assertEquals([judge(byType, arp).verdict, judge(byType, ip).verdict], ["drop", "accept"]);
  const iif = { match: { op: "==", left: { meta: { key: "iifname" } }, right: "veth*" } };
  const byPort = parseRuleset(rs(bchain, brule(2, [iif, { drop: null }])));
  assertEquals(judge(byPort, arp).verdict, "drop");
  assertEquals(ebIpMatch("-p IPv4 --ip-src 10.244.1.2 -j DROP", arp), false);
});

Deno.test("judge(): an ARP packet of layer arp meets the arp tables, sender and target as addresses", () => {
  const achain = (name: string, hook: string, policy = "accept") => ({
    chain: {
      family: "arp",
      table: "filter",
      name,
      handle: 1,
      type: "filter",
      hook,
      prio: 0,
      policy,
    },
  });
  const arule = (ch: string, handle: number, expr: unknown[]) => ({
    rule: { family: "arp", table: "filter", chain: ch, handle, expr },
  });
  const arpField = (field: string, right: unknown) => ({
    match: { op: "==", left: { payload: { protocol: "arp", field } }, right },
  });
  // arptables -A INPUT -i cni0 -s 10.244.1.2 -j DROP, as arptables-nft writes it.
  const rules = parseRuleset(rs(
    achain("INPUT", "input"),
    arule("INPUT", 2, [
      { match: { op: "==", left: { meta: { key: "iifname" } }, right: "cni0" } },
      arpField("htype", 1),
      arpField("hlen", 6),
      arpField("plen", 4),
      arpField("saddr ip", "10.244.1.2"),
      { drop: null },
    ]),
  ));
  const arp: Packet = {
    hook: "input",
    layer: "arp",
    l4proto: "icmp",
    saddr: "10.244.1.2",
    daddr: "10.244.1.1",
    iifname: "cni0",
  };
  assertEquals(judge(rules, arp).verdict, "drop");
  assertEquals(judge(rules, { ...arp, saddr: "10.244.1.3" }).verdict, "accept");
  assertEquals(
    judge(rules, { ...arp, layer: "ip" }).verdict,
    "accept",
    "IP never meets arp tables",
  );
  const op = parseRuleset(
    rs(
      achain("INPUT", "input"),
      arule("INPUT", 2, [arpField("operation", "request"), { drop: null }]),
    ),
  );
  assertEquals(judge(op, arp).unknown[0]?.mayDrop, true, "request or reply: not judged");
  assertEquals(
    judge(parseRuleset(rs(achain("OUTPUT", "output", "drop"))), { ...arp, hook: "output" }).by
      ?.text,
    "policy drop",
  );
});

Deno.test("ebArpMatch(): --arp-ip-src/--arp-ip-dst against an ARP frame's sender and target", () => {
  const arp: Packet = {
    ...pkt,
    hook: "input",
    layer: "bridge",
    arp: true,
    saddr: "10.244.1.2",
    daddr: "10.244.1.1",
  };
  assertEquals(ebArpMatch("-p ARP --arp-ip-dst 10.244.1.1 -j DROP", arp), true);
  assertEquals(ebArpMatch("-p ARP --arp-ip-dst 10.244.2.1 -j DROP", arp), false);
  assertEquals(ebArpMatch("-p ARP --arp-ip-src ! 10.244.1.0/24 -j DROP", arp), false);
  assertEquals(ebArpMatch("-p ARP --arp-op Request -j DROP", arp), undefined, "not judged");
  assertEquals(ebArpMatch("-p ARP --arp-ip-dst 10.244.1.1 -j DROP", { ...arp, arp: false }), false);
});

Deno.test("judge(): a notrack before conntrack leaves the flow untracked: an established-only chain drops it, naming the notrack", () => {
  const raw = { type: "filter", hook: "prerouting", prio: -300, policy: "accept" };
  const ctIn = (states: string[]) => ({
    match: { op: "in", left: { ct: { key: "state" } }, right: { set: states } },
  });
  const fw = [
    chain("fw", { ...base, policy: "drop" }),
    rule("fw", 5, [ctIn(["established", "related"]), { accept: null }]),
    rule("fw", 6, [ctIn(["new"]), { accept: null }]),
  ];
  const notrack = rule("raw", 2, [daddr({ prefix: { addr: "10.244.2.0", len: 24 } }), {
    notrack: null,
  }]);
  // Without the notrack the new flow and its reply are accepted.
  assertEquals(judge(parseRuleset(rs(...fw)), pkt).verdict, "accept");
  const v = judge(parseRuleset(rs(chain("raw", raw), notrack, ...fw)), pkt);
  assertEquals([v.verdict, v.by?.text, v.untrackedBy?.handle], ["drop", "policy drop", 2]);
  assertEquals(
    judge(parseRuleset(rs(chain("raw", raw), notrack, ...fw)), { ...pkt, ct: "established" })
      .verdict,
    "drop",
  );
  // After conntrack (priority -200 and later) a notrack changes nothing.
  const late = judge(parseRuleset(rs(chain("raw", { ...raw, prio: -150 }), notrack, ...fw)), pkt);
  assertEquals([late.verdict, late.untrackedBy], ["accept", undefined]);
  // A chain that accepts untracked traffic passes it.
  const untracked = judge(
    parseRuleset(rs(
      chain("raw", raw),
      notrack,
      ...fw,
      rule("fw", 7, [ctIn(["untracked"]), { accept: null }]),
    )),
    pkt,
  );
  assertEquals(untracked.verdict, "accept");
});

Deno.test("judge(): iptables' -j CT --notrack (xt target CT) untracks too", () => {
  const save = parseIptablesSave(
    "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -s 10.244.1.0/24 -j CT --notrack\nCOMMIT\n",
  );
  const text = rs(
    {
      chain: {
        family: "ip",
        table: "raw",
        name: "PREROUTING",
        handle: 1,
        type: "filter",
        hook: "prerouting",
        prio: -300,
        policy: "accept",
      },
    },
    {
      rule: {
        family: "ip",
        table: "raw",
        chain: "PREROUTING",
        handle: 2,
        expr: [{ counter: {} }, { xt: { type: "target", name: "CT" } }],
      },
    },
    chain("fw", { ...base, policy: "drop" }),
    rule("fw", 5, [{
      match: { op: "in", left: { ct: { key: "state" } }, right: { set: ["new", "established"] } },
    }, { accept: null }]),
  );
  const v = judge(parseRuleset(text, save), pkt);
  assertEquals([v.verdict, v.untrackedBy?.chain, v.untrackedBy?.handle], ["drop", "PREROUTING", 2]);
});

Deno.test("parseNetdevDevices() reads netdev chains' devices from nft's text; judge() runs them at their device's hook only", () => {
  const text = `table inet filter {
	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
table netdev t {
	chain ing {
		type filter hook ingress device "eth0" priority filter; policy accept;
		udp dport 8472 drop
	}
	chain eg {
		type filter hook egress devices = { eth0, "skein.1" } priority filter; policy drop;
	}
}
`;
  const devs = parseNetdevDevices(text);
  assertEquals([...devs.entries()], [["t ing", ["eth0"]], ["t eg", ["eth0", "skein.1"]]]);
  const nd = (name: string, extra: Record<string, unknown>) => ({
    chain: { family: "netdev", table: "t", name, handle: 1, type: "filter", prio: 0, ...extra },
  });
  const ruleset = parseRuleset(
    rs(
      nd("ing", { hook: "ingress", policy: "accept" }),
      nd("eg", { hook: "egress", policy: "drop" }),
      {
        rule: {
          family: "netdev",
          table: "t",
          chain: "ing",
          handle: 2,
          expr: [{
            match: {
              op: "==",
              left: { payload: { protocol: "udp", field: "dport" } },
              right: 8472,
            },
          }, { drop: null }],
        },
      },
    ),
    undefined,
    undefined,
    devs,
  );
  const vx: Packet = {
    hook: "ingress",
    layer: "netdev",
    saddr: "192.168.77.11",
    daddr: "192.168.77.12",
    l4proto: "udp",
    dport: 8472,
    iifname: "eth0",
  };
  assertEquals([judge(ruleset, vx).verdict, judge(ruleset, vx).by?.handle], ["drop", 2]);
  assertEquals(judge(ruleset, { ...vx, iifname: "cni0" }).verdict, "accept");
  const { iifname: _i, ...out } = vx;
  assertEquals(
    judge(ruleset, { ...out, hook: "egress", oifname: "skein.1" }).by?.text,
    "policy drop",
  );
  assertEquals(judge(ruleset, { ...out, hook: "egress", oifname: "cni0" }).verdict, "accept");
  // The ip family's packets never meet netdev chains.
  assertEquals(judge(ruleset, { ...pkt, oifname: "eth0" }).verdict, "accept");
});

Deno.test("judge(): a bridge rule rewriting the destination MAC (nft's ether daddr set, ebtables' dnat) is reported as nat", () => {
  const br = (name: string, extra: Record<string, unknown>) => ({
    chain: { family: "bridge", table: "t", name, handle: 1, ...extra },
  });
  const frame: Packet = {
    ...pkt,
    layer: "bridge",
    bridge: "cni0",
    iifname: "veth1",
    oifname: "veth2",
  };
  const set = {
    mangle: { key: { payload: { protocol: "ether", field: "daddr" } }, value: "02:00:00:00:00:01" },
  };
  const v = judge(
    parseRuleset(rs(
      br("p", { type: "filter", hook: "prerouting", prio: -300, policy: "accept" }),
      {
        rule: {
          family: "bridge",
          table: "t",
          chain: "p",
          handle: 2,
          expr: [daddr("10.244.2.3"), set],
        },
      },
    )),
    frame,
  );
  assertEquals([v.verdict, v.nat?.statement, v.nat?.handle], ["accept", "ether daddr set", 2]);
  assertEquals(ruleText([set]), "ether daddr set 02:00:00:00:00:01");
  const x = judge(
    parseRuleset(rs(
      br("PREROUTING", { type: "filter", hook: "prerouting", prio: -300, policy: "accept" }),
      {
        rule: {
          family: "bridge",
          table: "t",
          chain: "PREROUTING",
          handle: 3,
          expr: [{ xt: { type: "target", name: "dnat" } }],
        },
      },
    )),
    frame,
  );
  assertEquals(x.nat?.statement, "dnat");
});

Deno.test("judge(): a packet queued to userspace (NFQUEUE, nft queue) is dropped when no program is bound, unless bypass", () => {
  const save = parseIptablesSave(
    "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j NFQUEUE --queue-num 5\nCOMMIT\n",
  );
  const ipt = rs(
    { chain: { family: "ip", table: "filter", name: "FORWARD", handle: 1, ...base } },
    {
      rule: {
        family: "ip",
        table: "filter",
        chain: "FORWARD",
        handle: 2,
        expr: [{ counter: {} }, { xt: { type: "target", name: "NFQUEUE" } }],
      },
    },
  );
  const unbound = judge(parseRuleset(ipt, save), pkt);
  assertEquals([unbound.verdict, unbound.by?.handle], ["drop", 2]);
  // A program bound to queue 5 decides: accepted here, listed as a rule that may drop.
  const withProgram = parseRuleset(ipt, save);
  withProgram.boundQueues = new Set([5]);
  const bound = judge(withProgram, pkt);
  assertEquals([bound.verdict, bound.unknown.map((u) => u.mayDrop)], ["accept", [true]]);
  // nft's own queue statement, with bypass: accepted when nobody listens.
  const nft = (flags?: string) =>
    rs(chain("f", base), rule("f", 3, [{ queue: { num: 4, ...(flags ? { flags } : {}) } }]));
  assertEquals(judge(parseRuleset(nft("bypass")), pkt).verdict, "accept");
  assertEquals(judge(parseRuleset(nft()), pkt).verdict, "drop");
});

Deno.test("judge(): a meta mark set in prerouting on the flow is named (markedBy); one in forward, or on another flow, is not", () => {
  const pre = { type: "filter", hook: "prerouting", prio: -150, policy: "accept" };
  const setMark = (ch: string) =>
    rule(ch, 3, [daddr({ prefix: { addr: "10.244.2.0", len: 24 } }), {
      mangle: { key: { meta: { key: "mark" } }, value: 16 },
    }]);
  const v = judge(parseRuleset(rs(chain("mangle", pre), setMark("mangle"))), pkt);
  assertEquals(v.verdict, "accept");
  assertEquals([v.markedBy?.chain, v.markedBy?.handle, v.markedBy?.mark], ["mangle", 3, 16]);
  // After the routing decision (forward) a mark does not change the route.
  assertEquals(
    judge(parseRuleset(rs(chain("fwd", base), setMark("fwd"))), pkt).markedBy,
    undefined,
  );
  // Another destination is not marked.
  assertEquals(
    judge(parseRuleset(rs(chain("mangle", pre), setMark("mangle"))), { ...pkt, daddr: "10.9.9.9" })
      .markedBy,
    undefined,
  );
});

Deno.test("judge(): a mark restored from conntrack (meta mark set ct mark, CONNMARK --restore-mark) is named as restored", () => {
  const pre = { type: "filter", hook: "prerouting", prio: -150, policy: "accept" };
  const restore = rule("mangle", 2, [{
    mangle: { key: { meta: { key: "mark" } }, value: { ct: { key: "mark" } } },
  }]);
  const v = judge(parseRuleset(rs(chain("mangle", pre), restore)), pkt).markedBy;
  assertEquals([v?.handle, v?.restored, v?.mark], [2, true, undefined]);
  assertEquals(v?.text, "meta mark set ct mark");
  // iptables-nft's CONNMARK --restore-mark, and MARK --set-xmark with its constant.
  const save = parseIptablesSave(
    "*mangle\n:PREROUTING ACCEPT [0:0]\n" +
      "-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff\n" +
      "COMMIT\n",
  );
  const xt = (name: string) =>
    rs(
      { chain: { family: "ip", table: "mangle", name: "PREROUTING", handle: 1, ...pre } },
      {
        rule: {
          family: "ip",
          table: "mangle",
          chain: "PREROUTING",
          handle: 2,
          expr: [{ counter: {} }, { xt: { type: "target", name } }],
        },
      },
    );
  const x = judge(parseRuleset(xt("CONNMARK"), save), pkt).markedBy;
  assertEquals([x?.table, x?.handle, x?.restored], ["mangle", 2, true]);
  const m = judge(
    parseRuleset(
      xt("MARK"),
      parseIptablesSave(
        "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-xmark 0x10/0xffffffff\nCOMMIT\n",
      ),
    ),
    pkt,
  ).markedBy;
  assertEquals([m?.mark, m?.restored], [16, undefined]);
});

Deno.test("xtSetMark() reads a whole-mark constant of --set-xmark/--set-mark, not a partial mask", () => {
  assertEquals(xtSetMark("-j MARK --set-xmark 0x10/0xffffffff"), 16);
  assertEquals(xtSetMark("-j CONNMARK --set-mark 32"), 32);
  assertEquals(xtSetMark("-j MARK --set-xmark 0x4000/0x4000"), undefined);
  assertEquals(xtSetMark("-j CONNMARK --restore-mark"), undefined);
  assertEquals(xtSetMark(undefined), undefined);
});

Deno.test("judge(): concatenated lookups (ip saddr . ip daddr, ip daddr . tcp dport) in anonymous and named sets, prefixes and ranges inside", () => {
  const judged = (rule: string, p: Packet) => judge(parseRuleset(captured("nft_concat", rule)), p);
  const drops = (rule: string, p: Packet) => judged(rule, p).verdict === "drop";
  const p: Packet = { ...pkt, saddr: "10.244.1.2", daddr: "10.244.2.3" };
  assertEquals(drops("anon", p), true);
  assertEquals(drops("anon", { ...p, daddr: "10.244.2.4" }), false);
  assertEquals(drops("anon", { ...p, saddr: "10.244.1.3" }), false, "each part must match");
  assertEquals(drops("anon2", { ...p, daddr: "10.244.2.4" }), true);
  assertEquals(drops("anon2", { ...p, saddr: "10.244.1.3" }), true);
  assertEquals(drops("anon2", p), false, "not a cross product of the parts");
  assertEquals(drops("named", p), true);
  assertEquals(drops("named", { ...p, daddr: "10.244.2.9" }), false);
  assertEquals(drops("named-not", p), false);
  assertEquals(drops("named-not", { ...p, daddr: "10.244.2.9" }), true);
  // Interval elements: 10.244.1.0/24 . 10.244.2.2-10.244.2.9, 10.244.5.5 . 10.244.6.0/24.
  assertEquals(drops("interval", { ...p, saddr: "10.244.1.77", daddr: "10.244.2.9" }), true);
  assertEquals(drops("interval", { ...p, daddr: "10.244.2.10" }), false);
  assertEquals(drops("interval", { ...p, saddr: "10.244.5.5", daddr: "10.244.6.200" }), true);
  assertEquals(drops("interval", { ...p, saddr: "10.244.5.6", daddr: "10.244.6.200" }), false);
  assertEquals(drops("prefix", { ...p, saddr: "10.244.1.200" }), true);
  assertEquals(drops("prefix", { ...p, saddr: "10.244.3.2" }), false);
  // With a port: only TCP packets to it (an ICMP or UDP packet fails the implied l4proto).
  const tcp: Packet = { ...p, l4proto: "tcp", dport: 80 };
  assertEquals(drops("port", tcp), true);
  assertEquals(drops("port", { ...tcp, dport: 443 }), false);
  assertEquals(drops("port", { ...tcp, daddr: "10.244.2.4", dport: 443 }), true);
  assertEquals(drops("port", p), false);
  assertEquals(drops("port", { ...tcp, l4proto: "udp" }), false);
  assertEquals(drops("port-range", { ...tcp, dport: 90 }), true);
  assertEquals(drops("port-range", { ...tcp, dport: 91 }), false);
  // A part this evaluator cannot read (the mark): not judged when the rest could match.
  const u = judged("unknown-part", p);
  assertEquals([u.verdict, u.unknown.map((r) => r.mayDrop)], ["accept", [true]]);
  const other = judged("unknown-part", { ...p, saddr: "10.244.1.3" });
  assertEquals([other.verdict, other.unknown.length], ["accept", 0], "the address rules it out");
  assertEquals(
    judged("anon", p).by?.text,
    "ip saddr . ip daddr { 10.244.1.2 . 10.244.2.3 } drop",
  );
});

Deno.test("judge(): verdict maps, inline and named: drop, accept, jump, goto, return and continue through them", () => {
  const named = parseRuleset(captured("nft_vmap", "named", "after"));
  // The "after" rule drops 10.244.1.0/24; the sub chain drops only 10.244.2.3.
  const from = (saddr: string, daddr = "10.244.2.9") => judge(named, { ...pkt, saddr, daddr });
  const drop = from("10.244.1.2");
  assertEquals([drop.verdict, drop.by?.handle], ["drop", 11]);
  assertEquals(drop.by?.text, "ip saddr vmap @m (@m: 10.244.1.2 : drop)");
  assertEquals(drop.by?.element, "m { 10.244.1.2 }", "for nft delete element");
  assertEquals(from("10.244.1.3").verdict, "accept");
  assertEquals(from("10.244.1.4").by?.handle, 22, "jump: back, and on to the next rule");
  assertEquals(from("10.244.1.4", "10.244.2.3").by?.text, "ip daddr 10.244.2.3 drop");
  assertEquals(from("10.244.1.5").verdict, "accept", "goto: the base chain ends (policy)");
  assertEquals(from("10.244.1.5", "10.244.2.3").by?.handle, 7);
  assertEquals(from("10.244.1.6").verdict, "accept", "return: the base chain ends (policy)");
  assertEquals(from("10.244.1.7").by?.handle, 22, "continue: on to the next rule");
  assertEquals(from("10.244.1.8").by?.handle, 22, "no element: on to the next rule");
  for (const v of [drop, from("10.244.1.3"), from("10.244.1.8")]) assertEquals(v.unknown, []);

  const inline = parseRuleset(captured("nft_vmap", "inline"));
  const v = judge(inline, { ...pkt, saddr: "10.244.1.77" });
  assertEquals([v.verdict, v.by?.text], ["drop", "ip saddr vmap { 10.244.1.0/24 : drop }"]);
  assertEquals(judge(inline, { ...pkt, saddr: "10.244.3.2" }).verdict, "accept");
  const ranges = parseRuleset(captured("nft_vmap", "interval"));
  assertEquals(judge(ranges, { ...pkt, saddr: "10.244.8.200" }).verdict, "drop");
  assertEquals(judge(ranges, { ...pkt, saddr: "10.244.9.9" }).verdict, "drop");
  assertEquals(judge(ranges, { ...pkt, saddr: "10.244.9.10" }).verdict, "accept");
  const concat = parseRuleset(captured("nft_vmap", "concat"));
  assertEquals(judge(concat, { ...pkt, daddr: "10.244.2.3" }).verdict, "drop");
  assertEquals(judge(concat, { ...pkt, daddr: "10.244.2.4" }).verdict, "accept");
});

Deno.test("judge(): kube-proxy's no-endpoint-services map rejects its service's TCP port through a goto, not the ping", () => {
  const rs = parseRuleset(captured("nft_vmap", "services"));
  const dns: Packet = { ...pkt, daddr: "10.96.0.10", l4proto: "tcp", dport: 53 };
  const v = judge(rs, dns);
  assertEquals([v.verdict, v.by?.chain, v.by?.handle], ["drop", "reject-chain", 8]);
  assertEquals(judge(rs, { ...dns, dport: 54 }).verdict, "accept");
  assertEquals(judge(rs, { ...dns, l4proto: "udp" }).verdict, "accept");
  const ping = judge(rs, { ...pkt, daddr: "10.96.0.10" });
  assertEquals([ping.verdict, ping.unknown], ["accept", []]);
});

Deno.test("judge(): a verdict map on a key it cannot read (meta mark) is not judged, and may drop only if a verdict in it could", () => {
  const judged = (rule: string, daddr = "10.244.2.9") =>
    judge(parseRuleset(captured("nft_vmap", rule)), { ...pkt, daddr });
  const drop = judged("mark-drop");
  assertEquals([drop.verdict, drop.unknown.map((u) => [u.handle, u.mayDrop])], ["accept", [[
    17,
    true,
  ]]]);
  assertEquals(drop.unknown[0]?.text, "mark vmap { 16 : drop }");
  assertEquals(judged("mark-accept").unknown.map((u) => u.mayDrop), [false]);
  assertEquals(judged("mark-jump").unknown.map((u) => u.mayDrop), [false], "sub passes it");
  assertEquals(judged("mark-jump", "10.244.2.3").unknown.map((u) => u.mayDrop), [true]);
});

Deno.test("judge(): statements it does not model are not skipped: counting ones go on, rate and quota ones are not judged, ones that may steal or rewrite the packet may drop", () => {
  const p: Packet = { ...pkt, saddr: "10.244.1.2", daddr: "10.244.2.3" };
  const judged = (rule: string, q: Packet = p) =>
    judge(parseRuleset(captured("nft_statements", rule)), q);
  const notJudged = (rule: string, q: Packet = p) => {
    const v = judged(rule, q);
    return [v.verdict, v.unknown.map((u) => u.mayDrop)];
  };
  for (const rule of ["counter-log", "set-update", "meter-counter"]) {
    const v = judged(rule);
    assertEquals([v.verdict, v.by?.handle !== undefined, v.unknown], ["drop", true, []], rule);
  }
  for (const rule of ["dscp", "continue", "dup"]) {
    assertEquals(notJudged(rule), ["accept", []], rule);
  }
  for (const rule of ["limit-drop", "quota", "ct-count", "meter-limit", "stateless-nat"]) {
    assertEquals(notJudged(rule), ["accept", [true]], rule);
  }
  assertEquals(notJudged("limit-accept"), ["accept", [false]], "a rate limit that accepts");
  // tproxy hands TCP to a local socket in prerouting: the ping never meets it.
  const tcp: Packet = { ...p, hook: "input", l4proto: "tcp", dport: 80 };
  assertEquals(notJudged("tproxy", tcp), ["accept", [true]]);
  assertEquals(notJudged("tproxy", { ...p, hook: "input" }), ["accept", []]);
  // A statement this evaluator has never heard of may do anything.
  const future = judge(
    parseRuleset(rs(chain("fwd", base), rule("fwd", 3, [{ frobnicate: { x: 1 } }]))),
    pkt,
  );
  assertEquals(future.unknown.map((u) => [u.handle, u.mayDrop]), [[3, true]]);
});

Deno.test("judge(): a netdev fwd steals the packet (a drop naming the rule, redirectedTo the device); dup copies it and the original goes on", () => {
  const devices = parseNetdevDevices(
    Deno.readTextFileSync(new URL("./testdata/nft_netdev_fwd.txt", import.meta.url)),
  );
  const rules = parseRuleset(
    captured("nft_netdev_fwd", "fwd", "dup", "fwd-neigh"),
    undefined,
    undefined,
    devices,
  );
  const at: Packet = {
    hook: "ingress",
    layer: "netdev",
    saddr: "10.244.1.2",
    daddr: "10.244.2.3",
    l4proto: "icmp",
    iifname: "eth0",
  };
  const v = judge(rules, at);
  assertEquals([v.verdict, v.by?.handle, v.redirectedTo], ["drop", 2, "lo"]);
  assertEquals(
    v.by?.text,
    "ip saddr 10.244.1.0/24 fwd to lo (fwd: the packet leaves by lo and goes no further)",
  );
  const dup = judge(rules, { ...at, saddr: "10.244.2.2" });
  assertEquals([dup.verdict, dup.redirectedTo, dup.unknown], ["accept", undefined, []]);
  const neigh = judge(rules, { ...at, saddr: "10.244.4.2" });
  assertEquals([neigh.verdict, neigh.redirectedTo], ["drop", "lo"]);
  assertEquals(
    neigh.by?.text.startsWith("ip saddr 10.244.4.0/24 fwd ip to 10.0.0.1 device lo"),
    true,
  );
  // Another device's packets never meet the chain.
  assertEquals(judge(rules, { ...at, iifname: "eth1" }).verdict, "accept");
});

Deno.test("judge(): icmp type and code are judged for the ping (echo request one way, reply the other), not judged when the ICMP type is not known", () => {
  const request: Packet = { ...pkt, icmp: { type: 8, code: 0 } };
  const reply: Packet = {
    ...pkt,
    saddr: pkt.daddr,
    daddr: pkt.saddr,
    ct: "established",
    icmp: { type: 0, code: 0 },
  };
  const verdicts = (rule: string) =>
    [request, reply, pkt].map((p) => {
      const v = judge(parseRuleset(captured("nft_icmp", rule)), p);
      return v.unknown.length ? "not judged" : v.verdict;
    });
  assertEquals(verdicts("request"), ["drop", "accept", "not judged"]);
  assertEquals(verdicts("both"), ["drop", "drop", "not judged"]);
  assertEquals(verdicts("not-reply"), ["drop", "accept", "not judged"]);
  assertEquals(verdicts("numbers"), ["drop", "accept", "not judged"], "icmp type 8 icmp code 0");
  assertEquals(verdicts("code-3"), ["accept", "accept", "not judged"]);
  assertEquals(verdicts("unreachable"), ["accept", "accept", "not judged"]);
  assertEquals(verdicts("vmap"), ["drop", "accept", "not judged"]);
  assertEquals(verdicts("l4proto"), ["drop", "drop", "drop"]);
  assertEquals(verdicts("protocol"), ["drop", "drop", "drop"]);
  // The echo id is not modelled: not judged, whatever the type.
  assertEquals(verdicts("id"), ["not judged", "not judged", "not judged"]);
  const v = judge(parseRuleset(captured("nft_icmp", "request")), request);
  assertEquals([v.by?.handle, v.by?.text], [2, "icmp type echo-request drop"]);
  // A UDP packet never matches an icmp payload match.
  const udp: Packet = { ...pkt, l4proto: "udp", dport: 53 };
  assertEquals(judge(parseRuleset(captured("nft_icmp", "not-reply")), udp).verdict, "accept");
});

Deno.test("judge(): iptables-nft's xt icmp and iprange matches are read from iptables-save's words", () => {
  const save = parseIptablesSave(
    Deno.readTextFileSync(new URL("./testdata/nft_xt_matches.save", import.meta.url)),
  );
  /** User chain `name` of the capture (one rule, made by iptables-nft) as the forward hook's. */
  const chainAsForward = (name: string) => {
    const v = JSON.parse(captured("nft_xt_matches")) as {
      nftables: { chain?: Record<string, unknown> }[];
    };
    for (const i of v.nftables) {
      if (i.chain?.name === name) Object.assign(i.chain, base);
    }
    return parseRuleset(JSON.stringify(v), save);
  };
  const request: Packet = { ...pkt, icmp: { type: 8, code: 0 } };
  const reply: Packet = { ...pkt, icmp: { type: 0, code: 0 }, ct: "established" };
  const verdicts = (name: string, ...packets: Packet[]) =>
    packets.map((p) => {
      const v = judge(chainAsForward(name), p);
      return v.unknown.length ? "not judged" : v.verdict;
    });
  assertEquals(verdicts("ICMP", request, reply, pkt), ["drop", "accept", "not judged"]);
  assertEquals(verdicts("ICMP-REPLY", request, reply), ["accept", "drop"]);
  assertEquals(verdicts("ICMP-NOT", request, reply), ["accept", "drop"]);
  assertEquals(verdicts("ICMP-CODE", request, reply), ["accept", "accept"]);
  assertEquals(verdicts("ICMP-NAME", request, reply), ["accept", "accept"]);
  assertEquals(verdicts("ICMP-ANY", request, pkt), ["drop", "drop"]);
  const v = judge(chainAsForward("ICMP"), request);
  assertEquals(
    v.by?.text,
    "l4proto icmp xt match icmp counter drop (iptables: -p icmp -m icmp --icmp-type 8 -j DROP)",
  );
  // iprange (pkt: 10.244.1.2 -> 10.244.2.3).
  const from = (saddr: string, daddr = pkt.daddr): Packet => ({ ...request, saddr, daddr });
  assertEquals(verdicts("SRC", from("10.244.1.200"), from("10.244.1.201")), ["drop", "accept"]);
  assertEquals(verdicts("DST", from("10.9.9.9", "10.244.2.1"), from("10.9.9.9", "10.244.3.1")), [
    "drop",
    "accept",
  ]);
  assertEquals(verdicts("NOT-SRC", from("10.244.1.2"), from("10.244.3.2")), ["accept", "drop"]);
  assertEquals(verdicts("BOTH", from("10.244.1.2"), from("10.244.1.2", "10.244.9.5")), [
    "drop",
    "accept",
  ]);
  // Two iprange matches and an icmp one in one rule: each reads its own options.
  assertEquals(verdicts("TWO", request, reply, from("10.244.1.2", "10.244.2.4")), [
    "drop",
    "accept",
    "accept",
  ]);
  // Without iptables' words the matches stay not judged, and the rule may drop.
  const bare = JSON.parse(captured("nft_xt_matches")) as {
    nftables: { chain?: Record<string, unknown> }[];
  };
  for (const i of bare.nftables) if (i.chain?.name === "SRC") Object.assign(i.chain, base);
  const u = judge(parseRuleset(JSON.stringify(bare)), request);
  assertEquals([u.verdict, u.unknown.map((r) => r.mayDrop)], ["accept", [true]]);
});

Deno.test("ruleCounters() marks a netdev fwd's counter like a drop's: the packets it counts go no further", () => {
  const text = captured("nft_netdev_fwd", "fwd", "dup");
  const withCounter = JSON.parse(text) as { nftables: { rule?: { expr: unknown[] } }[] };
  for (const i of withCounter.nftables) {
    i.rule?.expr.splice(1, 0, { counter: { packets: 3, bytes: 252 } });
  }
  assertEquals([...ruleCounters(JSON.stringify(withCounter)).entries()], [
    ["netdev t c1 handle 2 drop", 3],
    ["netdev t c1 handle 3", 3],
  ]);
});

Deno.test("judge(): iptables-nft targets kept as xt that steal or rewrite the packet (TPROXY, TTL) are not judged and may drop; LOG and TEE change nothing", () => {
  const text = captured("nft_xt_targets");
  const save = parseIptablesSave(
    Deno.readTextFileSync(new URL("./testdata/nft_xt_targets.save", import.meta.url)),
  );
  const rules = parseRuleset(text, save);
  const notJudged = (p: Packet) => {
    const v = judge(rules, p);
    return [v.verdict, v.unknown.map((u) => `${u.table} ${u.chain} ${u.handle} ${u.mayDrop}`)];
  };
  const tcp: Packet = { ...pkt, saddr: "10.244.1.9", l4proto: "tcp", dport: 80 };
  assertEquals(notJudged(tcp), ["accept", ["mangle PREROUTING 2 true"]], "TPROXY");
  assertEquals(notJudged({ ...pkt, saddr: "10.244.1.3" }), ["accept", [
    "mangle PREROUTING 4 true",
  ]], "TTL --ttl-set 1");
  assertEquals(notJudged(pkt), ["accept", []], "TEE, LOG and NFLOG (nft's log)");
  assertEquals(
    judge(rules, tcp).unknown[0]?.text,
    "l4proto tcp ip daddr 10.244.2.3 counter xt target TPROXY (iptables: -d 10.244.2.3/32 -p tcp -j TPROXY --on-port 8080 --on-ip 127.0.0.1 --tproxy-mark 0x1/0x1)",
  );
});
