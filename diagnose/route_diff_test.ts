import { assertEquals } from "../testing/assert.ts";
import { diffRoutes, routeText, within } from "./route_diff.ts";

const vx = (dst: string, gw: string) => ({ dst, gateway: gw, dev: "skein.1", onlink: true });

Deno.test("diffRoutes() finds nothing when the kernel holds exactly what is wanted", () => {
  const want = [vx("10.244.2.0/24", "10.244.2.0"), vx("10.244.3.0/24", "10.244.3.0")];
  const d = diffRoutes(want, want.map((r) => ({ ...r, protocol: 100 })), [
    { dst: "192.168.77.0/24", dev: "eth0", protocol: 2 },
  ]);
  assertEquals(d, { missing: [], wrongNexthop: [], stale: [], foreign: [] });
});

Deno.test("diffRoutes() reports a missing route, a wrong next hop and a stale one", () => {
  const want = [vx("10.244.2.0/24", "10.244.2.0"), vx("10.244.3.0/24", "10.244.3.0")];
  const owned = [
    { ...vx("10.244.3.0/24", "10.244.9.0") },
    { ...vx("10.244.7.0/24", "10.244.7.0") },
  ];
  const d = diffRoutes(want, owned, []);
  assertEquals(d.missing, [want[0]!]);
  assertEquals(d.wrongNexthop, [{ want: want[1]!, have: owned[0]! }]);
  assertEquals(d.stale, [owned[1]!]);
  assertEquals(d.foreign, []);
});

Deno.test("diffRoutes() names a foreign route that shadows a wanted subnet", () => {
  const want = [vx("10.244.2.0/24", "10.244.2.0")];
  // A more specific blackhole inside the subnet, plus skein's own route still there.
  const bh = { dst: "10.244.2.0/25", type: "blackhole", protocol: 4 };
  const d = diffRoutes(want, [want[0]!], [bh]);
  assertEquals(d.foreign, [{ want: want[0]!, have: bh }]);
  assertEquals(d.missing, []);
  // The same prefix taken by another protocol: foreign, not missing.
  const same = { dst: "10.244.2.0/24", gateway: "192.168.77.99", dev: "eth0", protocol: 4 };
  const d2 = diffRoutes(want, [], [same]);
  assertEquals(d2.foreign.length, 1);
  assertEquals(d2.missing, []);
});

Deno.test("diffRoutes() ignores foreign routes that are wider than the subnet (default route)", () => {
  const want = [vx("10.244.2.0/24", "10.244.2.0")];
  const d = diffRoutes(want, [want[0]!], [
    { dst: "0.0.0.0/0", gateway: "192.168.77.1", dev: "eth0" },
    { dst: "10.244.0.0/16", dev: "cni0" },
  ]);
  assertEquals(d.foreign, []);
});

Deno.test("within() and routeText()", () => {
  assertEquals(within("10.244.2.128/25", "10.244.2.0/24"), true);
  assertEquals(within("10.244.2.0/24", "10.244.2.0/25"), false);
  assertEquals(within("10.244.3.0/24", "10.244.2.0/24"), false);
  assertEquals(
    routeText({ dst: "10.244.2.0/24", gateway: "10.244.2.0", dev: "skein.1", onlink: true }),
    "10.244.2.0/24 via 10.244.2.0 dev skein.1 onlink",
  );
  assertEquals(
    routeText({ dst: "10.244.2.0/25", type: "blackhole", table: 7 }),
    "blackhole 10.244.2.0/25 table 7",
  );
});
