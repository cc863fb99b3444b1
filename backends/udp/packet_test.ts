import { assert, assertEquals } from "../../testing/assert.ts";
import { ipv4Packet } from "./_ip_fixture.ts";
import {
  checkInbound,
  DROP_REASONS,
  ipv4Problem,
  ipv4ToU32,
  lookupPeer,
  parseSubnet4,
  peerTable,
  routeOutbound,
  u32ToIpv4,
} from "./packet.ts";

const table = peerTable({
  self: "10.244.1.0/24",
  peers: [
    { subnet: "10.244.2.0/24", publicIP: "192.168.1.12", port: 8285, node: "n2" },
    { subnet: "10.244.3.0/24", publicIP: "192.168.1.13", port: 9000, node: "n3" },
    { subnet: "10.244.3.128/25", publicIP: "192.168.1.14", port: 8285, node: "n4" },
  ],
});

const N2 = ipv4ToU32("192.168.1.12")!;

Deno.test("address helpers parse and print IPv4 and subnets", () => {
  assertEquals(u32ToIpv4(ipv4ToU32("255.1.0.9")!), "255.1.0.9");
  assertEquals(ipv4ToU32("256.1.1.1"), undefined);
  assertEquals(ipv4ToU32("1.2.3"), undefined);
  assertEquals(parseSubnet4("10.244.1.7/24"), {
    net: ipv4ToU32("10.244.1.0"),
    mask: 0xffffff00,
    prefix: 24,
  });
  assertEquals(parseSubnet4("0.0.0.0/0")?.mask, 0);
  assertEquals(parseSubnet4("10.0.0.0/33"), undefined);
  assertEquals(parseSubnet4("fd00::/64"), undefined);
});

Deno.test("routeOutbound() finds the node whose subnet holds the destination, longest prefix first", () => {
  const to = (dst: string) => {
    const r = routeOutbound(table, ipv4Packet("10.244.1.5", dst), 0, 28);
    return typeof r === "string" ? r : r.node;
  };
  assertEquals(to("10.244.2.9"), "n2");
  assertEquals(to("10.244.3.9"), "n3");
  assertEquals(to("10.244.3.200"), "n4");
  assertEquals(to("10.244.9.1"), "no-route");
  assertEquals(lookupPeer(table, ipv4ToU32("10.244.1.5")!), undefined);
  const v6 = ipv4Packet("10.244.1.5", "10.244.2.9");
  v6[0] = 0x60;
  assertEquals(routeOutbound(table, v6, 0, 28), "not-ipv4");
  assertEquals(routeOutbound(table, v6, 0, 19), "truncated");
});

Deno.test("checkInbound() accepts a packet from a known node, for this subnet, from its subnet", () => {
  assertEquals(checkInbound(table, N2, ipv4Packet("10.244.2.9", "10.244.1.5"), 0, 28), undefined);
  // With an offset inside a larger buffer.
  const big = new Uint8Array(100);
  big.set(ipv4Packet("10.244.2.9", "10.244.1.5"), 40);
  assertEquals(checkInbound(table, N2, big, 40, 28), undefined);
});

Deno.test("checkInbound() names each reason to drop", () => {
  const ok = ipv4Packet("10.244.2.9", "10.244.1.5");
  assertEquals(checkInbound(table, ipv4ToU32("192.168.1.99")!, ok, 0, 28), "unknown-source");
  assertEquals(checkInbound(table, N2, ok, 0, 12), "truncated");
  assertEquals(checkInbound(table, N2, ok, 0, 27), "bad-length");
  assertEquals(checkInbound(table, N2, ok, 20, 28), "truncated");
  assertEquals(
    checkInbound(table, N2, ipv4Packet("10.244.2.9", "10.244.7.5"), 0, 28),
    "wrong-destination",
  );
  assertEquals(
    checkInbound(table, N2, ipv4Packet("10.244.3.9", "10.244.1.5"), 0, 28),
    "spoofed-source",
  );
  const sum = ok.slice();
  sum[10]! ^= 1;
  assertEquals(checkInbound(table, N2, sum, 0, 28), "bad-checksum");
  const ihl = ok.slice();
  ihl[0] = 0x44;
  assertEquals(checkInbound(table, N2, ihl, 0, 28), "bad-header");
  const ver = ok.slice();
  ver[0] = 0x65;
  assertEquals(checkInbound(table, N2, ver, 0, 28), "not-ipv4");
});

/** xorshift32: a seeded generator, so a failure replays. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

Deno.test("fuzz: random and mutated datagrams never throw, and only sane in-subnet packets pass", () => {
  const r = rng(12);
  const base = ipv4Packet("10.244.2.9", "10.244.1.5", 40);
  let accepted = 0;
  for (let i = 0; i < 50_000; i++) {
    const mode = r() % 3;
    let b: Uint8Array;
    if (mode === 0) {
      b = new Uint8Array(r() % 80);
      for (let j = 0; j < b.length; j++) b[j] = r() & 255;
    } else {
      b = base.slice(0, mode === 1 ? base.length : r() % (base.length + 1));
      const flips = 1 + (r() % 4);
      for (let k = 0; k < flips && b.length; k++) b[r() % b.length]! ^= 1 << (r() % 8);
    }
    const len = b.length;
    const off = 0;
    const why = checkInbound(table, N2, b, off, len);
    assert(why === undefined || DROP_REASONS.includes(why), `unknown reason ${why}`);
    const out = routeOutbound(table, b, off, len);
    assert(typeof out === "object" || DROP_REASONS.includes(out));
    // Out-of-range windows are refused, never read.
    assertEquals(checkInbound(table, N2, b, off + 1, len), "truncated");
    if (why !== undefined) continue;
    accepted++;
    // Whatever passed is sane: version 4, lengths consistent, addresses where they must be.
    assertEquals(b[0]! >> 4, 4);
    assertEquals(ipv4Problem(b, 0, len), undefined);
    assertEquals(
      (new DataView(b.buffer).getUint32(16) & 0xffffff00) >>> 0,
      ipv4ToU32("10.244.1.0"),
    );
    assertEquals(
      (new DataView(b.buffer).getUint32(12) & 0xffffff00) >>> 0,
      ipv4ToU32("10.244.2.0"),
    );
  }
  assert(accepted > 0, "some mutations (payload bytes) keep the packet valid");
});
