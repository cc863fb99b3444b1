/**
 * Golden bytes: the OPEN, KEEPALIVE, UPDATE, End-of-RIB and NOTIFICATION messages BIRD 2.0.12
 * sent on the wire, captured by `sudo bash backends/bgp/testdata/capture_bird.sh` into
 * testdata/bird_messages.json (an eBGP session from AS 65001 to the 4-octet AS 4200000002, an
 * iBGP route-reflector-client session, and an eBGP session on which BIRD has `enable as4 off`:
 * a 2-octet session, RFC 6793's OLD speaker). Each decodes to what BIRD was told to send and
 * re-encodes to the same bytes.
 */
import { assert, assertEquals } from "../../testing/assert.ts";
import { decodeMessage, encodeMessage } from "./codec.ts";
import { openAsNumber } from "./codec_open.ts";
import { endOfRibFamily } from "./codec_update.ts";
import { mergeAs4 } from "./as4.ts";
import { Rib } from "./rib.ts";

/** The 2-octet session (BIRD without the 4-octet AS capability). */
const AS2 = "peer_as2";

interface Captured {
  session: string;
  messages: string[];
}

const captured: Captured[] = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/bird_messages.json", import.meta.url)),
);

function fromHex(h: string): Uint8Array {
  return new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function session(name: string): Uint8Array[] {
  const s = captured.find((c) => c.session === name);
  assert(s, `no capture for ${name}`);
  return s.messages.map(fromHex);
}

Deno.test("every BIRD message decodes and re-encodes to the captured bytes", () => {
  let n = 0;
  for (const s of captured) {
    const opts = { as4: s.session !== AS2 };
    for (const h of s.messages) {
      const msg = decodeMessage(fromHex(h), opts);
      assertEquals(hex(encodeMessage(msg, opts)), h, `${s.session}: ${msg.type}`);
      n++;
    }
  }
  assertEquals(n, 21);
});

Deno.test("BIRD's OPEN: AS 65001, hold 90, its router id and capabilities", () => {
  const open = decodeMessage(session("peer_ebgp")[0]!);
  assert(open.type === "open");
  assertEquals([open.version, open.asNumber, open.holdTime, open.routerId], [
    4,
    65001,
    90,
    "10.0.0.1",
  ]);
  assertEquals(openAsNumber(open), 65001);
  const types = open.capabilities.map((c) => c.type === "other" ? c.code : c.type);
  assertEquals(types, [
    "multiprotocol",
    "multiprotocol",
    "route-refresh",
    "graceful-restart",
    "as4",
    70,
    71,
  ]);
  const gr = open.capabilities.find((c) => c.type === "graceful-restart");
  assertEquals(gr, {
    type: "graceful-restart",
    restarting: false,
    notification: false,
    restartTime: 120,
    families: [{ afi: 1, safi: 1, forwarding: false }, { afi: 2, safi: 1, forwarding: false }],
  });
});

Deno.test("BIRD's eBGP UPDATE: ORIGIN, 4-octet AS_PATH, NEXT_HOP, MED, communities kept raw", () => {
  const m = decodeMessage(session("peer_ebgp")[2]!);
  assert(m.type === "update");
  assertEquals(m.nlri, ["10.1.0.0/16", "10.2.3.0/24", "192.0.2.128/25"]);
  assertEquals(m.withdrawn, []);
  assertEquals(m.treatAsWithdraw, undefined);
  const byType = Object.fromEntries(
    m.attributes.map((a) => [a.type === "other" ? a.code : a.type, a]),
  );
  assertEquals(byType["as-path"], {
    type: "as-path",
    segments: [{ type: 2, asns: [65001] }],
    flags: 0x40,
  });
  assertEquals(byType["next-hop"], { type: "next-hop", address: "127.0.0.1", flags: 0x40 });
  assertEquals(byType["med"], { type: "med", value: 50, flags: 0x80 });
  assert(byType[8] && byType[32], "communities and large communities are kept");
});

Deno.test("BIRD's IPv6 UPDATE and both End-of-RIB markers", () => {
  const [, , , eor4, v6, eor6] = session("peer_ebgp").map((b) => decodeMessage(b));
  assert(v6?.type === "update" && eor4?.type === "update" && eor6?.type === "update");
  const mp = v6.attributes.find((a) => a.type === "mp-reach");
  assertEquals(mp, {
    type: "mp-reach",
    afi: 2,
    safi: 1,
    nextHops: ["2001:db8::1"],
    nlri: ["2001:db8:100::/48", "2001:db8:200:1::/64"],
    flags: 0x90,
  });
  assertEquals(endOfRibFamily(eor4), { afi: 1, safi: 1 });
  assertEquals(endOfRibFamily(eor6), { afi: 2, safi: 1 });
  assertEquals(endOfRibFamily(v6), undefined);
});

Deno.test("BIRD's iBGP UPDATE: LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST, empty AS_PATH", () => {
  const m = decodeMessage(session("peer_ibgp")[2]!);
  assert(m.type === "update");
  const get = (t: string) => m.attributes.find((a) => a.type === t);
  assertEquals(get("as-path"), { type: "as-path", segments: [], flags: 0x40 });
  assertEquals(get("local-pref"), { type: "local-pref", value: 200, flags: 0x40 });
  assertEquals(get("originator-id"), { type: "originator-id", id: "10.9.9.9", flags: 0x80 });
  assertEquals(get("cluster-list"), { type: "cluster-list", ids: ["1.0.0.9"], flags: 0x80 });
});

Deno.test("BIRD's NOTIFICATIONs: 1/3 for a message of type 9, 6/2 on shutdown", () => {
  const bad = decodeMessage(session("peer_ebgp")[6]!);
  assertEquals(bad, { type: "notification", code: 1, subcode: 3, data: Uint8Array.of(9) });
  const cease = decodeMessage(session("peer_ibgp")[6]!);
  assertEquals(cease, { type: "notification", code: 6, subcode: 2, data: new Uint8Array(0) });
  assertEquals(decodeMessage(session("peer_ibgp")[1]!), { type: "keepalive" });
});

Deno.test("BIRD without the 4-octet AS capability (enable as4 off): its OPEN has none", () => {
  const open = decodeMessage(session(AS2)[0]!);
  assert(open.type === "open");
  assertEquals([open.asNumber, openAsNumber(open)], [65001, 65001]);
  assertEquals(open.capabilities.some((c) => c.type === "as4"), false);
});

Deno.test("RFC 6793 golden: BIRD's 2-octet UPDATE carries AS_TRANS in AS_PATH and the path in AS4_PATH", () => {
  const bytes = session(AS2)[2]!;
  const m = decodeMessage(bytes, { as4: false });
  assert(m.type === "update");
  const get = (t: string) => m.attributes.find((a) => a.type === t);
  assertEquals(get("as-path"), {
    type: "as-path",
    segments: [{ type: 2, asns: [65001, 65010, 23456] }],
    flags: 0x40,
  });
  assertEquals(get("as4-path"), {
    type: "as4-path",
    segments: [{ type: 2, asns: [65001, 65010, 4200000001] }],
    flags: 0xc0,
  });
  assertEquals(mergeAs4(m.attributes).asPath, [{ type: 2, asns: [65001, 65010, 4200000001] }]);
  // skein's encoder, given the 4-octet path, writes BIRD's bytes for a 2-octet session.
  const ours = encodeMessage({
    type: "update",
    withdrawn: [],
    attributes: [
      { type: "origin", value: 0 },
      { type: "as-path", segments: [{ type: 2, asns: [65001, 65010, 4200000001] }] },
      { type: "next-hop", address: "127.0.0.1" },
    ],
    nlri: m.nlri,
  }, { as4: false });
  assertEquals(hex(ours), hex(bytes));
});

Deno.test("RFC 6793 golden: the RIB rebuilds the 4-octet path from a 2-octet peer (and sees the loop)", () => {
  const wire = decodeMessage(session(AS2)[2]!, { as4: false });
  assert(wire.type === "update");
  // Captured on loopback: a next hop of 127.0.0.1 is refused (RFC 4271 §6.3), so use another.
  const m = {
    ...wire,
    attributes: wire.attributes.map((a) =>
      a.type === "next-hop" ? { ...a, address: "192.0.2.1" } : a
    ),
  };
  const peer = {
    key: "127.0.0.1",
    ebgp: true,
    routerId: "10.0.0.1",
    as4: false,
    policy: { import: true, export: true },
  };
  const rib = new Rib({ localAs: 65002, routerId: "10.0.0.4" });
  rib.update(peer, m);
  assertEquals(rib.best("10.1.0.0/16")?.asPath, [{ type: 2, asns: [65001, 65010, 4200000001] }]);
  const self4 = new Rib({ localAs: 4200000001, routerId: "10.0.0.4" });
  assertEquals(self4.update(peer, m).rejected[0]?.reason, "AS path loop (contains 4200000001)");
});
