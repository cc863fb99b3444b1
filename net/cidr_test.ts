import { assertEquals, assertThrows } from "../testing/assert.ts";
import {
  AddressParseError,
  canonicalCidr,
  contains,
  formatIp,
  formatMac,
  ipFromBytes,
  ipToBytes,
  lastOf,
  nthIp,
  overlaps,
  parseCidr,
  parseIp,
  parseMac,
  sameIp,
  subnetsOf,
  tryParseIp,
} from "./cidr.ts";

Deno.test("parseIp() and formatIp() round-trip v4 and RFC 5952 v6", () => {
  for (
    const [input, out] of [
      ["10.244.1.1", "10.244.1.1"],
      ["0.0.0.0", "0.0.0.0"],
      ["FD00:0:0::1", "fd00::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["::", "::"],
      ["::ffff:10.0.0.1", "::ffff:a00:1"],
      ["1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"],
    ]
  ) assertEquals(formatIp(parseIp(input!)), out);
});

Deno.test("parseIp() rejects malformed addresses", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.256",
      "01.2.3.4",
      "1::2::3",
      "g::1",
      "1.2.3.4/24",
      "fe80::1%eth0",
    ]
  ) {
    assertEquals(tryParseIp(bad), undefined, bad);
  }
  assertThrows(() => parseIp("nope"), AddressParseError, 'Cannot parse address "nope"');
});

Deno.test("prefix math: canonical, contains, last, nth, overlaps", () => {
  assertEquals(canonicalCidr("10.244.1.7/24"), "10.244.1.0/24");
  const c = parseCidr("10.244.1.0/24");
  assertEquals(contains(c, parseIp("10.244.1.255")), true);
  assertEquals(contains(c, parseIp("10.244.2.0")), false);
  assertEquals(formatIp(lastOf(c)), "10.244.1.255");
  assertEquals(formatIp(nthIp(c, 1)), "10.244.1.1");
  assertEquals(overlaps(parseCidr("10.0.0.0/8"), parseCidr("10.1.0.0/16")), true);
  assertEquals(overlaps(parseCidr("10.0.0.0/16"), parseCidr("10.1.0.0/16")), false);
  assertEquals(formatIp(lastOf(parseCidr("fd00::/64"))), "fd00::ffff:ffff:ffff:ffff");
});

Deno.test("subnetsOf() walks subnets in order", () => {
  const s = [...subnetsOf(parseCidr("10.244.0.0/22"), 24)].map((x) =>
    `${formatIp(x.ip)}/${x.prefix}`
  );
  assertEquals(s, ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]);
});

Deno.test("bytes and MAC conversions round-trip", () => {
  assertEquals(formatIp(ipFromBytes(ipToBytes(parseIp("fd00::a:1")))), "fd00::a:1");
  assertEquals(Array.from(ipToBytes(parseIp("10.1.2.3"))), [10, 1, 2, 3]);
  assertEquals(formatMac(parseMac("0A-58-0a-f4-01-01")), "0a:58:0a:f4:01:01");
  assertThrows(() => parseMac("0a:58"), AddressParseError);
});

Deno.test("sameIp(): same address in any spelling; missing or invalid is never the same", () => {
  assertEquals(sameIp("fd00::1", "FD00:0::0001"), true);
  assertEquals(sameIp("10.0.0.1", "10.0.0.1"), true);
  assertEquals(sameIp("10.0.0.1", "10.0.0.2"), false);
  assertEquals(sameIp("::ffff:10.0.0.1", "10.0.0.1"), false);
  assertEquals(sameIp("10.0.0.1", "nope"), false);
  assertEquals(sameIp(undefined, "10.0.0.1"), false);
  assertEquals(sameIp(undefined, undefined), false);
});
