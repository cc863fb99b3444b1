import { assertEquals } from "../../testing/assert.ts";
import type { Lease } from "../../store/types.ts";
import { within } from "../route_diff.ts";
import { overlaps } from "./lease.ts";

const lease = (subnet: string, node = subnet): Lease => ({
  subnet,
  publicIP: "192.0.2.1",
  node,
  backendType: "host-gw",
  expiration: "2030-01-01T00:00:00Z",
});

/** Every pair compared: what overlaps() must agree with. */
function everyPair(ls: readonly Lease[]): [Lease, Lease][] {
  const out: [Lease, Lease][] = [];
  for (let i = 0; i < ls.length; i++) {
    for (let j = i + 1; j < ls.length; j++) {
      const a = ls[i]!, b = ls[j]!;
      if (within(a.subnet, b.subnet) || within(b.subnet, a.subnet)) out.push([a, b]);
    }
  }
  return out;
}

Deno.test("overlaps(): nested, equal and disjoint subnets, in the leases' order", () => {
  const ls = [
    lease("10.244.1.0/24", "a"),
    lease("10.244.0.0/16", "b"),
    lease("10.244.2.0/24", "c"),
    lease("10.244.1.0/24", "d"),
    lease("10.245.0.0/24", "e"),
    lease("10.244.1.128/25", "f"),
    lease("not a prefix", "g"),
  ];
  const got = overlaps(ls).map(([a, b]) => `${a.node}${b.node}`);
  assertEquals(got, ["ab", "ad", "af", "bc", "bd", "bf", "df"]);
  assertEquals(overlaps([]), []);
});

Deno.test("overlaps() finds the same pairs as comparing every pair (random nested prefixes)", () => {
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let round = 0; round < 200; round++) {
    const ls = Array.from({ length: 1 + rnd(40) }, (_, i) => {
      const len = 8 + rnd(17); // /8 to /24 inside 10.0.0.0/8: many nest
      const ip = [10, rnd(4), rnd(4), rnd(256)].join(".");
      return lease(`${ip}/${len}`, String(i)); // host bits may be set: within() masks them
    });
    assertEquals(overlaps(ls), everyPair(ls), `round ${round}`);
  }
});
