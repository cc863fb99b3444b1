/**
 * Golden bytes: the OPEN, KEEPALIVE, UPDATE, End-of-RIB and NOTIFICATION messages BIRD 2.0.12
 * sent on the wire, captured by `sudo bash backends/bgp/testdata/capture_bird.sh` into
 * testdata/bird_messages.json (an eBGP session from AS 65001 to the 4-octet AS 4200000002, and
 * an iBGP route-reflector-client session). Each decodes to what BIRD was told to send and
 * re-encodes to the same bytes.
 */
import { assert, assertEquals } from "../../testing/assert.ts";
import { decodeMessage, encodeMessage } from "./codec.ts";
import { openAsNumber } from "./codec_open.ts";
import { endOfRibFamily } from "./codec_update.ts";

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
    for (const h of s.messages) {
      const msg = decodeMessage(fromHex(h));
      assertEquals(hex(encodeMessage(msg)), h, `${s.session}: ${msg.type}`);
      n++;
    }
  }
  assertEquals(n, 14);
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
