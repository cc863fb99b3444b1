import { assertEquals, assertThrows } from "../testing/assert.ts";
import { chooseLease, inRange, pickSubnet, subnetAt, subnetRange } from "./allocate.ts";
import { SubnetExhaustedError } from "./errors.ts";
import type { AcquireRequest, Lease, NetworkConfig } from "./types.ts";

const cfg: NetworkConfig = {
  network: "10.244.0.0/16",
  subnetLen: 24,
  backend: { type: "host-gw" },
};
const req: AcquireRequest = {
  node: "n1",
  publicIP: "192.168.1.10",
  backendType: "host-gw",
  ttlSeconds: 60,
};
const lease = (subnet: string, node: string, publicIP = "192.168.1.99"): Lease => ({
  subnet,
  node,
  publicIP,
  backendType: "host-gw",
  expiration: "2030-01-01T00:00:00.000Z",
});

Deno.test("subnetRange() skips the first subnet and ends at the last, like flannel", () => {
  const r = subnetRange(cfg);
  assertEquals([r.min, r.max], [1n, 255n]);
  assertEquals(subnetAt(r, r.min), "10.244.1.0/24");
  assertEquals(subnetAt(r, r.max), "10.244.255.0/24");
});

Deno.test("subnetRange() honours subnetMin/subnetMax and rejects bad ones", () => {
  const r = subnetRange({ ...cfg, subnetMin: "10.244.10.0", subnetMax: "10.244.12.0" });
  assertEquals([r.min, r.max], [10n, 12n]);
  assertThrows(() => subnetRange({ ...cfg, subnetMin: "10.245.0.0" }), RangeError, "outside");
  assertThrows(() => subnetRange({ ...cfg, subnetMin: "10.244.1.5" }), RangeError, "not the start");
  assertThrows(
    () => subnetRange({ ...cfg, subnetMin: "10.244.9.0", subnetMax: "10.244.8.0" }),
    RangeError,
    "after",
  );
});

Deno.test("pickSubnet() takes the lowest free subnet and reports exhaustion", () => {
  const r = subnetRange({ ...cfg, subnetMax: "10.244.3.0" });
  assertEquals(pickSubnet(r, new Set()), "10.244.1.0/24");
  assertEquals(pickSubnet(r, new Set(["10.244.1.0/24"])), "10.244.2.0/24");
  assertEquals(
    pickSubnet(r, new Set(["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"])),
    undefined,
  );
});

Deno.test("pickSubnet('random') wraps around and still finds the one free subnet", () => {
  const r = subnetRange({ ...cfg, subnetMax: "10.244.4.0" });
  const used = new Set(["10.244.1.0/24", "10.244.3.0/24", "10.244.4.0/24"]);
  for (const x of [0, 0.3, 0.6, 0.99]) {
    assertEquals(pickSubnet(r, used, { pick: "random", random: () => x }), "10.244.2.0/24");
  }
});

Deno.test("inRange() checks length, network and min/max", () => {
  const r = subnetRange(cfg);
  assertEquals(inRange(r, "10.244.7.0/24"), true);
  assertEquals(inRange(r, "10.244.0.0/24"), false);
  assertEquals(inRange(r, "10.244.7.0/25"), false);
  assertEquals(inRange(r, "10.245.7.0/24"), false);
});

Deno.test("chooseLease() reuses the node's own lease, by name first", () => {
  const own = lease("10.244.5.0/24", "n1");
  assertEquals(chooseLease(req, [lease("10.244.1.0/24", "n0"), own], cfg), { reuse: own });
});

Deno.test("chooseLease() reuses a nameless (flannel) record with the same public IP, never another node's", () => {
  const flannel = lease("10.244.6.0/24", "", "192.168.1.10");
  assertEquals(chooseLease(req, [flannel], cfg), { reuse: flannel });
  const other = lease("10.244.6.0/24", "n2", "192.168.1.10");
  assertEquals(chooseLease(req, [other], cfg), { subnet: "10.244.1.0/24" });
});

Deno.test("chooseLease() prefers previousSubnet when free, skips it when taken or out of range", () => {
  assertEquals(chooseLease({ ...req, previousSubnet: "10.244.9.0/24" }, [], cfg), {
    subnet: "10.244.9.0/24",
  });
  assertEquals(
    chooseLease({ ...req, previousSubnet: "10.244.9.0/24" }, [lease("10.244.9.0/24", "n2")], cfg),
    { subnet: "10.244.1.0/24" },
  );
  assertEquals(chooseLease({ ...req, previousSubnet: "10.99.9.0/24" }, [], cfg), {
    subnet: "10.244.1.0/24",
  });
  assertEquals(chooseLease({ ...req, previousSubnet: "garbage" }, [], cfg), {
    subnet: "10.244.1.0/24",
  });
});

Deno.test("chooseLease() does not reuse an own lease that no longer fits the config", () => {
  const old = lease("10.99.5.0/24", "n1");
  assertEquals(chooseLease(req, [old], cfg), { subnet: "10.244.1.0/24" });
});

Deno.test("chooseLease() gives dual-stack subnets and throws SubnetExhaustedError when full", () => {
  const ds: NetworkConfig = { ...cfg, network6: "fd00:10:244::/56", subnetLen6: 64 };
  assertEquals(chooseLease(req, [], ds), {
    subnet: "10.244.1.0/24",
    subnet6: "fd00:10:244:1::/64",
  });
  const tiny: NetworkConfig = { ...cfg, subnetMax: "10.244.1.0" };
  assertThrows(
    () => chooseLease(req, [lease("10.244.1.0/24", "n9")], tiny),
    SubnetExhaustedError,
    "No free /24",
  );
});

Deno.test("chooseLease() never hands out a subnet holding a node's address (the network overlaps the underlay)", () => {
  const lan: NetworkConfig = {
    network: "192.168.0.0/16",
    subnetLen: 24,
    backend: { type: "vxlan" },
  };
  const me = { ...req, publicIP: "192.168.1.10" };
  // The first free subnet (192.168.1.0/24) holds this node's IP, the next another node's.
  assertEquals(chooseLease(me, [lease("192.168.9.0/24", "n2", "192.168.2.7")], lan), {
    subnet: "192.168.3.0/24",
  });
  // Not even as the previous subnet, and not when it is the only one left.
  assertEquals(chooseLease({ ...me, previousSubnet: "192.168.1.0/24" }, [], lan), {
    subnet: "192.168.2.0/24",
  });
  const only: NetworkConfig = { ...lan, subnetMin: "192.168.1.0", subnetMax: "192.168.1.0" };
  assertThrows(() => chooseLease(me, [], only), SubnetExhaustedError, "No free /24");
  // A node address outside the network changes nothing.
  assertEquals(chooseLease(req, [], cfg), { subnet: "10.244.1.0/24" });
});
