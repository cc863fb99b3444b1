import { assertEquals } from "../../testing/assert.ts";
import type { Route } from "../../net/types.ts";
import type { Lease } from "../../store/types.ts";
import { bgpDesired, type BgpDesiredInput } from "./desired.ts";

function lease(n: number, publicIP: string): Lease {
  return {
    subnet: `10.244.${n}.0/24`,
    publicIP,
    node: `n${n}`,
    backendType: "bgp",
    expiration: "2099-01-01T00:00:00Z",
  };
}

const SELF = lease(1, "192.168.1.11");
const LEASES = [SELF, lease(2, "192.168.1.12"), lease(3, "192.168.2.13")];

function input(over: Partial<BgpDesiredInput>): BgpDesiredInput {
  return {
    publicIP: "192.168.1.11",
    underlayFamily: 4,
    encapsulation: "none",
    crossSubnet: false,
    uplink: 2,
    onLink: (ip) => ip.startsWith("192.168.1."),
    routes: [
      { prefix: "10.244.2.0/24", family: 4, nextHop: "192.168.1.12" },
      { prefix: "10.244.3.0/24", family: 4, nextHop: "192.168.2.13" },
      { prefix: "10.50.0.0/16", family: 4, nextHop: "192.168.1.254" },
    ],
    leases: LEASES,
    self: SELF,
    ...over,
  };
}

function routes(d: ReturnType<typeof bgpDesired>): string[] {
  return d.entries.flatMap((e) =>
    e.routes.map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}${r.onlink ? " onlink" : ""}`)
  );
}

Deno.test("encapsulation none: on-link next hops on the uplink, proto 186; off-link skipped", () => {
  const d = bgpDesired(input({}));
  assertEquals(d.protocol, 186);
  assertEquals(routes(d), [
    "10.244.2.0/24 via 192.168.1.12 dev 2",
    "10.50.0.0/16 via 192.168.1.254 dev 2",
  ]);
  assertEquals(d.skipped.map((s) => s.subnet), ["10.244.3.0/24"]);
});

Deno.test("ipip: node next hops over skein-ipip; crossSubnet only off-subnet; the ToR stays plain", () => {
  assertEquals(routes(bgpDesired(input({ encapsulation: "ipip", device: 9 }))), [
    "10.244.2.0/24 via 192.168.1.12 dev 9 onlink",
    "10.244.3.0/24 via 192.168.2.13 dev 9 onlink",
    "10.50.0.0/16 via 192.168.1.254 dev 2",
  ]);
  assertEquals(routes(bgpDesired(input({ encapsulation: "ipip", device: 9, crossSubnet: true }))), [
    "10.244.2.0/24 via 192.168.1.12 dev 2",
    "10.244.3.0/24 via 192.168.2.13 dev 9 onlink",
    "10.50.0.0/16 via 192.168.1.254 dev 2",
  ]);
});

Deno.test("vxlan: node next hops via the VTEP with neighbour and FDB entry", () => {
  const mac = (n: number) => ({ backendData: { vtepMAC: `0a:00:00:00:00:0${n}` } });
  const leases = [SELF, { ...lease(2, "192.168.1.12"), ...mac(2) }, {
    ...lease(3, "192.168.2.13"),
    ...mac(3),
  }];
  const d = bgpDesired(input({ encapsulation: "vxlan", device: 7, crossSubnet: true, leases }));
  assertEquals(routes(d), [
    "10.244.2.0/24 via 192.168.1.12 dev 2",
    "10.50.0.0/16 via 192.168.1.254 dev 2",
    "10.244.3.0/24 via 10.244.3.0 dev 7 onlink",
  ]);
  const vx = d.entries[2]!;
  assertEquals([vx.neighs, vx.fdbs], [[{ dev: 7, ip: "10.244.3.0", mac: "0a:00:00:00:00:03" }], [{
    dev: 7,
    mac: "0a:00:00:00:00:03",
    dst: "192.168.2.13",
  }]]);
  assertEquals(d.ownedDevices, [7]);
});

Deno.test("graceful restart: kernel routes tagged 186 are kept until the RIB has them", () => {
  const kept = {
    dst: "10.60.0.0/16",
    gateway: "192.168.1.254",
    oif: 2,
    protocol: 186,
    family: 4,
    table: 254,
    type: "unicast",
  } as Route;
  const d = bgpDesired(input({ keep: [kept, { ...kept, dst: "10.244.2.0/24" }] }));
  assertEquals(routes(d).includes("10.60.0.0/16 via 192.168.1.254 dev 2"), true);
  assertEquals(routes(d).filter((r) => r.startsWith("10.244.2.0/24")).length, 1);
});
