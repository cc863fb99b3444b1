import { assertEquals } from "../../testing/assert.ts";
import { mergeAs4, withAs4Attributes } from "./as4.ts";
import { decodeMessage, encodeMessage } from "./codec.ts";
import type { AsPathSegment, PathAttribute } from "./codec_attrs.ts";

const seq = (...asns: number[]): AsPathSegment => ({ type: 2, asns });
const set = (...asns: number[]): AsPathSegment => ({ type: 1, asns });
const path = (...segments: AsPathSegment[]): PathAttribute => ({ type: "as-path", segments });
const path4 = (...segments: AsPathSegment[]): PathAttribute => ({ type: "as4-path", segments });

Deno.test("mergeAs4: leading ASes of AS_PATH that AS4_PATH does not cover are prepended", () => {
  assertEquals(
    mergeAs4([path(seq(65001, 65002, 23456, 23456)), path4(seq(4200000001, 4200000002))]).asPath,
    [seq(65001, 65002, 4200000001, 4200000002)],
  );
  // an AS_SET counts one, confederation segments none (RFC 6793 §4.2.3)
  assertEquals(
    mergeAs4([
      path({ type: 3, asns: [64600] }, seq(65001), set(1, 2), seq(23456)),
      path4(seq(4200000001)),
    ]).asPath,
    [{ type: 3, asns: [64600] }, seq(65001), set(1, 2), seq(4200000001)],
  );
  // no AS4_PATH, or one longer than AS_PATH: AS_PATH as it came
  assertEquals(mergeAs4([path(seq(65001, 23456))]).asPath, [seq(65001, 23456)]);
  assertEquals(
    mergeAs4([path(seq(23456)), path4(seq(4200000001, 4200000002))]).asPath,
    [seq(23456)],
  );
});

Deno.test("mergeAs4: an AGGREGATOR that is not AS_TRANS makes AS4_PATH and AS4_AGGREGATOR ignored", () => {
  const agg = (asNumber: number): PathAttribute => ({
    type: "aggregator",
    asNumber,
    address: "10.0.0.9",
  });
  const agg4: PathAttribute = { type: "as4-aggregator", asNumber: 4200000009, address: "10.0.0.8" };
  assertEquals(
    mergeAs4([path(seq(65001, 23456)), path4(seq(4200000001)), agg(65009), agg4]),
    { asPath: [seq(65001, 23456)], aggregator: { asNumber: 65009, address: "10.0.0.9" } },
  );
  assertEquals(
    mergeAs4([path(seq(65001, 23456)), path4(seq(4200000001)), agg(23456), agg4]),
    {
      asPath: [seq(65001, 4200000001)],
      aggregator: { asNumber: 4200000009, address: "10.0.0.8" },
    },
  );
});

Deno.test("to a 2-octet peer: AS_TRANS + AS4_PATH, AGGREGATOR as AS_TRANS + AS4_AGGREGATOR; none when all fit", () => {
  const attrs: PathAttribute[] = [
    { type: "origin", value: 0 },
    path({ type: 3, asns: [64600] }, seq(4200000001, 65010)),
    { type: "next-hop", address: "192.168.77.1" },
    { type: "aggregator", asNumber: 4200000001, address: "192.168.77.1" },
  ];
  assertEquals(withAs4Attributes(attrs).map((a) => a.type), [
    "origin",
    "as-path",
    "next-hop",
    "aggregator",
    "as4-path",
    "as4-aggregator",
  ]);
  assertEquals(withAs4Attributes(attrs)[4], path4(seq(4200000001, 65010)), "no confed segment");
  const msg = {
    type: "update" as const,
    withdrawn: [],
    attributes: attrs,
    nlri: ["10.244.1.0/24"],
  };
  const bytes = encodeMessage(msg, { as4: false });
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  // AS_PATH: CONFED_SEQ [64600] + SEQ [23456, 65010]; AGGREGATOR: 23456 192.168.77.1;
  // AS4_PATH: SEQ [4200000001, 65010]; AS4_AGGREGATOR: 4200000001 192.168.77.1
  assertEquals(
    hex.slice(19 * 2 + 8),
    "40010100" + "40020a0301fc5802025ba0fdf2" + "400304c0a84d01" + "c007065ba0c0a84d01" +
      "c0110a0202fa56ea010000fdf2" + "c01208fa56ea01c0a84d01" + "18" + "0af401",
  );
  const back = decodeMessage(bytes, { as4: false });
  assertEquals(back.type === "update" && mergeAs4(back.attributes), {
    asPath: [{ type: 3, asns: [64600] }, seq(4200000001, 65010)],
    aggregator: { asNumber: 4200000001, address: "192.168.77.1" },
  });
  assertEquals(withAs4Attributes([path(seq(65001))]), [path(seq(65001))]);
  // a 4-octet session never gets AS4_* (RFC 6793 §4.1)
  const wide = decodeMessage(encodeMessage(msg, { as4: true }), { as4: true });
  assertEquals(wide.type === "update" && wide.attributes.map((a) => a.type), [
    "origin",
    "as-path",
    "next-hop",
    "aggregator",
  ]);
});
