import { assertEquals, assertStringIncludes, assertThrows } from "../../testing/assert.ts";
import { formatIp, parseIp } from "../../net/cidr.ts";
import { CniError } from "../errors.ts";
import { candidates, parseRange, parseRangeSet, rangeSetText, rangeToConfig } from "./range.ts";

function order(set: ReturnType<typeof parseRangeSet>, last?: string): string[] {
  return [...candidates(set, last ? parseIp(last) : undefined)].map((c) => formatIp(c.ip));
}

Deno.test("parseRange() fills host-local's defaults for IPv4 and IPv6", () => {
  assertEquals(rangeToConfig(parseRange({ subnet: "10.1.2.0/24" }, "r")), {
    subnet: "10.1.2.0/24",
    rangeStart: "10.1.2.1",
    rangeEnd: "10.1.2.254",
    gateway: "10.1.2.1",
  });
  assertEquals(rangeToConfig(parseRange({ subnet: "fd00::/120" }, "r")), {
    subnet: "fd00::/120",
    rangeStart: "fd00::1",
    rangeEnd: "fd00::ff",
    gateway: "fd00::1",
  });
});

Deno.test("parseRange() rejects bad input naming the field", () => {
  const cases: [Parameters<typeof parseRange>[0], string][] = [
    [{ subnet: "10.0.0.0/31" }, "too small"],
    [{ subnet: "10.0.0.1" }, "r.subnet"],
    [{ subnet: "nope/24" }, "r.subnet"],
    [{ subnet: "10.0.0.0/24", gateway: "10.0.1.1" }, "r.gateway: 10.0.1.1 is not in network"],
    [{ subnet: "10.0.0.0/24", rangeStart: "10.0.1.1" }, "r.rangeStart"],
    [{ subnet: "10.0.0.0/24", rangeEnd: "fd00::1" }, "not the same family"],
    [{ subnet: "10.0.0.0/24", rangeStart: "10.0.0.9", rangeEnd: "10.0.0.8" }, "is after rangeEnd"],
    [{ subnet: "10.0.0.0/24", rangeStart: "10.0.0.x" }, "not an IP address"],
    [{ subnet: "127.0.0.0/24" }, "in 127.0.0.0/8 (loopback), not a pod range"],
    [{ subnet: "224.0.0.0/24" }, "(multicast)"],
    [{ subnet: "239.1.0.0/16" }, "(multicast)"],
    [{ subnet: "0.0.0.0/24" }, '"this network"'],
    [{ subnet: "fe80::/64" }, "(IPv6 link-local)"],
    [{ subnet: "ff02::/64" }, "(IPv6 multicast)"],
  ];
  for (const [r, msg] of cases) {
    const e = assertThrows(() => parseRange(r, "r"), CniError, msg);
    assertEquals(e.code, 7);
  }
});

Deno.test("parseRangeSet() refuses mixed families and overlapping ranges", () => {
  assertThrows(
    () => parseRangeSet([{ subnet: "10.0.0.0/24" }, { subnet: "fd00::/64" }], "s"),
    CniError,
    "mixed address families",
  );
  assertThrows(
    () => parseRangeSet([{ subnet: "10.0.0.0/24" }, { subnet: "10.0.0.128/25" }], "s"),
    CniError,
    "overlap",
  );
  assertThrows(() => parseRangeSet([], "s"), CniError, "empty range set");
});

Deno.test("candidates() skips gateway, network and broadcast and visits each address once", () => {
  const set = parseRangeSet([{ subnet: "10.0.0.0/29" }], "s");
  assertEquals(order(set), ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
  const wide = parseRangeSet(
    [{ subnet: "10.0.0.0/29", rangeStart: "10.0.0.0", rangeEnd: "10.0.0.7", gateway: "10.0.0.3" }],
    "s",
  );
  assertEquals(order(wide), ["10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.5", "10.0.0.6"]);
});

Deno.test("candidates() continues round-robin after the last reserved address, across ranges", () => {
  const set = parseRangeSet([{ subnet: "10.0.0.0/29" }, { subnet: "10.0.1.0/30" }], "s");
  assertEquals(rangeSetText(set), "10.0.0.1-10.0.0.6,10.0.1.1-10.0.1.2");
  assertEquals(order(set, "10.0.0.5"), [
    "10.0.0.6",
    "10.0.1.2",
    "10.0.0.2",
    "10.0.0.3",
    "10.0.0.4",
    "10.0.0.5",
  ]);
  // A last address outside the set (ranges changed) starts from the beginning, like host-local.
  assertEquals(order(set, "192.168.0.1")[0], "10.0.0.2");
});

Deno.test("candidates() works for IPv6 and includes the last address of the subnet", () => {
  const set = parseRangeSet([{ subnet: "fd00:9::/125" }], "s");
  assertEquals(order(set), [
    "fd00:9::2",
    "fd00:9::3",
    "fd00:9::4",
    "fd00:9::5",
    "fd00:9::6",
    "fd00:9::7",
  ]);
});

Deno.test("parseRange() refuses a subnet with host bits set, naming the network, as host-local", () => {
  // host-local: "Network has host bits set. For a subnet mask of length 24 the network address
  // is 10.1.2.0". skein used to allocate from 10.1.2.0/24 silently.
  for (
    const [subnet, canonical] of [
      ["10.1.2.3/24", "write 10.1.2.0/24"],
      ["fd00::5/64", "write fd00::/64"],
      ["::ffff:10.1.2.0/120", "write the IPv4 network 10.1.2.0/24"],
    ]
  ) {
    const e = assertThrows(() => parseRange({ subnet: subnet! }, "r"), CniError, canonical);
    assertEquals(e.code, 7);
    assertStringIncludes(e.message, "r.subnet");
  }
  assertThrows(() => parseRange({ subnet: "10.1.2.3/24" }, "r"), CniError, "host bits set");
});

Deno.test("parseRange() reads IPv4-mapped addresses as IPv4, as host-local (Go's To4)", () => {
  const r = rangeToConfig(
    parseRange(
      { subnet: "10.1.2.0/24", gateway: "::ffff:10.1.2.9", rangeStart: "::ffff:a01:20a" },
      "r",
    ),
  );
  assertEquals([r.gateway, r.rangeStart], ["10.1.2.9", "10.1.2.10"]);
});
