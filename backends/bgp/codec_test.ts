import { assert, assertEquals, assertThrows } from "../../testing/assert.ts";
import { decodeMessage, encodeMessage, frameLength, type UpdateMessage } from "./codec.ts";
import { AS_TRANS, openAsNumber } from "./codec_open.ts";
import { endOfRib, endOfRibFamily } from "./codec_update.ts";
import { BgpEncodeError, BgpError } from "./errors.ts";

function header(len: number, type: number): number[] {
  return [...Array(16).fill(0xff), len >> 8, len & 0xff, type];
}

function err(f: () => unknown): BgpError {
  return assertThrows(f, BgpError);
}

function update(attrs: number[], nlri: number[] = [24, 10, 1, 2]): Uint8Array {
  const body = [0, 0, attrs.length >> 8, attrs.length & 0xff, ...attrs, ...nlri];
  return Uint8Array.from([...header(19 + body.length, 2), ...body]);
}

const ORIGIN = [0x40, 1, 1, 0];
const AS_PATH = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
const NEXT_HOP = [0x40, 3, 4, 192, 168, 1, 1];

Deno.test("frameLength() waits for the header and checks marker, length and type", () => {
  assertEquals(frameLength(Uint8Array.from(header(19, 4)).subarray(0, 18)), undefined);
  assertEquals(frameLength(Uint8Array.from(header(19, 4))), 19);
  const marker = Uint8Array.from(header(19, 4));
  marker[3] = 0;
  assertEquals([err(() => frameLength(marker)).code, err(() => frameLength(marker)).subcode], [
    1,
    1,
  ]);
  const long = err(() => frameLength(Uint8Array.from(header(4097, 2))));
  assertEquals([long.code, long.subcode, [...long.data]], [1, 2, [0x10, 0x01]]);
  const ka = err(() => frameLength(Uint8Array.from(header(20, 4))));
  assertEquals([ka.code, ka.subcode], [1, 2]);
  const type = err(() => frameLength(Uint8Array.from(header(19, 7))));
  assertEquals([type.code, type.subcode, [...type.data]], [1, 3, [7]]);
});

Deno.test("OPEN with a 4-octet AS carries AS_TRANS and the capability", () => {
  const bytes = encodeMessage({
    type: "open",
    version: 4,
    asNumber: AS_TRANS,
    holdTime: 9,
    routerId: "10.0.0.7",
    capabilities: [{ type: "as4", asNumber: 4200000002 }, { type: "route-refresh" }],
  });
  const m = decodeMessage(bytes);
  assert(m.type === "open");
  assertEquals([m.asNumber, openAsNumber(m), m.holdTime, m.routerId], [
    23456,
    4200000002,
    9,
    "10.0.0.7",
  ]);
});

Deno.test("OPEN of version 3 is 2/1 with data 4; an unknown optional parameter is 2/4", () => {
  const body = [3, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 0];
  const v3 = err(() => decodeMessage(Uint8Array.from([...header(29, 1), ...body])));
  assertEquals([v3.code, v3.subcode, [...v3.data]], [2, 1, [0, 4]]);
  const p = [4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 3, 1, 1, 0];
  const param = err(() => decodeMessage(Uint8Array.from([...header(19 + p.length, 1), ...p])));
  assertEquals([param.code, param.subcode], [2, 4]);
});

Deno.test("UPDATE with a malformed ORIGIN is treated as withdraw (RFC 7606), not a reset", () => {
  const m = decodeMessage(update([0x40, 1, 1, 7, ...AS_PATH, ...NEXT_HOP]));
  assert(m.type === "update");
  assertEquals([m.treatAsWithdraw?.code, m.treatAsWithdraw?.subcode], [3, 6]);
  assertEquals(m.nlri, ["10.1.2.0/24"]);
});

Deno.test("UPDATE missing NEXT_HOP for IPv4 NLRI is treated as withdraw with 3/3", () => {
  const m = decodeMessage(update([...ORIGIN, ...AS_PATH]));
  assert(m.type === "update");
  assertEquals([m.treatAsWithdraw?.subcode, [...m.treatAsWithdraw!.data]], [3, [3]]);
});

Deno.test("UPDATE with a malformed AS_PATH is 3/11 as withdraw; a 2-octet session reads 2-octet ASNs", () => {
  const bad = decodeMessage(update([...ORIGIN, 0x40, 2, 3, 2, 1, 0, ...NEXT_HOP]));
  assert(bad.type === "update");
  assertEquals(bad.treatAsWithdraw?.subcode, 11);
  const two = decodeMessage(update([...ORIGIN, 0x40, 2, 4, 2, 1, 0xfd, 0xe9, ...NEXT_HOP]), {
    as4: false,
  });
  assert(two.type === "update");
  assertEquals(two.attributes[1], {
    type: "as-path",
    segments: [{ type: 2, asns: [65001] }],
    flags: 0x40,
  });
});

Deno.test("RFC 7606 §4: an attribute overrunning the attributes is treat-as-withdraw; the NLRI is still read", () => {
  for (
    const attrs of [[0x40, 1, 9, 0], [...ORIGIN, ...AS_PATH, ...NEXT_HOP, 0x80, 4], [0x50, 1, 0]]
  ) {
    const m = decodeMessage(update(attrs));
    assert(m.type === "update");
    assertEquals([m.treatAsWithdraw?.code, m.treatAsWithdraw?.subcode], [3, 1], `${attrs}`);
    assertEquals(m.nlri, ["10.1.2.0/24"]);
  }
});

Deno.test("RFC 7606 §5.2: a treat-as-withdraw error with no NLRI to withdraw resets with its own NOTIFICATION", () => {
  const framing = err(() => decodeMessage(update([0x40, 1, 9, 0], [])));
  assertEquals([framing.code, framing.subcode], [3, 1]);
  const origin = err(() => decodeMessage(update([0x40, 1, 1, 7, ...AS_PATH, ...NEXT_HOP], [])));
  assertEquals([origin.code, origin.subcode, [...origin.data]], [3, 6, [0x40, 1, 1, 7]]);
  assert(origin.message.includes("RFC 7606 §5.2"), origin.message);
  // A discarded attribute needs no NLRI: the UPDATE (an End-of-RIB here) stands.
  const discard = decodeMessage(update([0xc0, 7, 1, 0], []));
  assert(discard.type === "update");
  assertEquals(discard.discarded?.length, 1);
});

Deno.test("RFC 7607: AS 0 in AS_PATH is 3/11 treat-as-withdraw; in AGGREGATOR or AS4_AGGREGATOR the attribute is discarded", () => {
  const path = decodeMessage(
    update([...ORIGIN, 0x40, 2, 10, 2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0, ...NEXT_HOP]),
  );
  assert(path.type === "update");
  assertEquals(path.treatAsWithdraw?.subcode, 11);
  assert(path.treatAsWithdraw!.message.includes("AS 0"), path.treatAsWithdraw!.message);
  const agg = decodeMessage(
    update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, 0xc0, 7, 8, 0, 0, 0, 0, 10, 0, 0, 1]),
  );
  assert(agg.type === "update");
  assertEquals([agg.treatAsWithdraw, agg.discarded?.map((e) => e.subcode)], [undefined, [9]]);
  const agg4 = decodeMessage(
    update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, 0xc0, 18, 8, 0, 0, 0, 0, 10, 0, 0, 1]),
  );
  assert(agg4.type === "update");
  assertEquals(agg4.discarded?.length, 1);
});

Deno.test("UPDATE errors that cannot be contained reset the session", () => {
  const overrun = err(() => decodeMessage(update([...ORIGIN], [24, 10, 1, 2]).subarray(0, 27)));
  assertEquals([overrun.code, overrun.subcode], [1, 2]);
  const total = err(() =>
    decodeMessage(Uint8Array.from([...header(27, 2), 0, 0, 0, 50, ...ORIGIN]))
  );
  assertEquals([total.code, total.subcode], [3, 1]);
  const prefix = err(() =>
    decodeMessage(update([...ORIGIN, ...AS_PATH, ...NEXT_HOP], [33, 10, 1, 2, 3, 4]))
  );
  assertEquals(prefix.subcode, 10);
  const wellKnown = err(() => decodeMessage(update([0x40, 99, 0, ...ORIGIN])));
  assertEquals(wellKnown.subcode, 2);
  const mp = err(() => decodeMessage(update([0x80, 14, 4, 0, 2, 1, 16])));
  assertEquals(mp.subcode, 9);
});

Deno.test("RFC 4760 §3 / RFC 7606 §7.11: an MP_REACH next hop length that does not fit the AFI is 3/9", () => {
  const mpReach = (v: number[]) => [0x90, 14, 0, v.length, ...v];
  const v6hop = [0xfd, 0, 0, 0x77, ...Array(11).fill(0), 2];
  // IPv4 unicast with a 16-octet (IPv6) next hop: RFC 8950 is not negotiated.
  const v4 = mpReach([0, 1, 1, 16, ...v6hop, 0, 24, 10, 62, 0]);
  const e4 = err(() => decodeMessage(update([...ORIGIN, ...AS_PATH, ...v4], [])));
  assertEquals([e4.code, e4.subcode], [3, 9]);
  assert(e4.message.includes("next hop length 16 for IPv4"), e4.message);
  const v4x2 = mpReach([0, 1, 1, 8, 10, 0, 0, 1, 10, 0, 0, 2, 0, 24, 10, 62, 0]);
  assertEquals(err(() => decodeMessage(update([...ORIGIN, ...AS_PATH, ...v4x2], []))).subcode, 9);
  // IPv6 with a 4-octet next hop, as before.
  const v6 = mpReach([0, 2, 1, 4, 10, 0, 0, 1, 0, 32, 0xfd, 0, 0, 0x77]);
  assertEquals(err(() => decodeMessage(update([...ORIGIN, ...AS_PATH, ...v6], []))).subcode, 9);
  // The right lengths decode.
  const ok4 = mpReach([0, 1, 1, 4, 10, 0, 0, 1, 0, 24, 10, 62, 0]);
  const m = decodeMessage(update([...ORIGIN, ...AS_PATH, ...ok4], []));
  assert(m.type === "update");
  assertEquals(m.attributes.find((a) => a.type === "mp-reach"), {
    type: "mp-reach",
    afi: 1,
    safi: 1,
    nextHops: ["10.0.0.1"],
    nlri: ["10.62.0.0/24"],
    flags: 0x90,
  });
});

Deno.test("a duplicate attribute keeps the first; a broken AGGREGATOR is discarded", () => {
  const m = decodeMessage(
    update([...ORIGIN, 0x40, 1, 1, 2, ...AS_PATH, ...NEXT_HOP, 0xc0, 7, 1, 0]),
  );
  assert(m.type === "update");
  assertEquals(m.attributes[0], { type: "origin", value: 0, flags: 0x40 });
  assertEquals(m.attributes.length, 3);
  assertEquals(m.discarded?.map((e) => e.subcode), [5]);
  assertEquals(m.treatAsWithdraw, undefined);
});

Deno.test("End-of-RIB round trips for IPv4 and IPv6", () => {
  for (const afi of [1, 2]) {
    const m = decodeMessage(encodeMessage(endOfRib(afi)));
    assert(m.type === "update");
    assertEquals(endOfRibFamily(m), { afi, safi: 1 });
  }
});

Deno.test("encoding refuses what does not fit or is not an address", () => {
  const nlri = Array.from({ length: 1100 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
  const big: UpdateMessage = { type: "update", withdrawn: [], attributes: [], nlri };
  assertThrows(() => encodeMessage(big), BgpEncodeError);
  const bad: UpdateMessage = {
    type: "update",
    withdrawn: [],
    attributes: [{ type: "next-hop", address: "fd00::1" }],
    nlri: [],
  };
  assertThrows(() => encodeMessage(bad), BgpEncodeError);
});

Deno.test("ROUTE-REFRESH round trips; a wrong length is 7/1", () => {
  const rr = { type: "route-refresh" as const, afi: 2, subtype: 0, safi: 1 };
  assertEquals(decodeMessage(encodeMessage(rr)), rr);
  const bad = err(() => frameLength(Uint8Array.from([...header(24, 5), 0, 1, 0, 1, 0])));
  assertEquals([bad.code, bad.subcode], [7, 1]);
});

Deno.test("RFC 7606 §7.5, §7.9, §7.10: LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST from eBGP are dropped unread, the route kept", () => {
  const bad = [
    [0x40, 5, 2, 0, 1], // LOCAL_PREF of 2 octets
    [0x80, 9, 3, 10, 0, 0], // ORIGINATOR_ID of 3 octets
    [0x80, 10, 5, 1, 0, 0, 1, 9], // CLUSTER_LIST of 5 octets
    [0xc0, 5, 4, 0, 0, 1, 0], // LOCAL_PREF with wrong flags
  ];
  for (const extra of bad) {
    const bytes = update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, ...extra]);
    const ibgp = decodeMessage(bytes, { as4: true });
    assert(ibgp.type === "update");
    assert(ibgp.treatAsWithdraw, `iBGP: withdrawn (${extra})`);
    const ebgp = decodeMessage(bytes, { as4: true, ebgp: true });
    assert(ebgp.type === "update");
    assertEquals([ebgp.treatAsWithdraw, ebgp.discarded, ebgp.nlri], [undefined, undefined, [
      "10.1.2.0/24",
    ]]);
    assertEquals(ebgp.attributes.map((a) => a.type), ["origin", "as-path", "next-hop"]);
  }
  // Well-formed ones from eBGP are dropped too (RFC 4271 §5.1.5: ignored).
  const ok = decodeMessage(update([...ORIGIN, ...AS_PATH, ...NEXT_HOP, 0x40, 5, 4, 0, 0, 1, 0]), {
    as4: true,
    ebgp: true,
  });
  assert(ok.type === "update");
  assertEquals(ok.attributes.length, 3);
});
