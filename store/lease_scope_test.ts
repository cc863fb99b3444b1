import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import type { Lease, NetworkConfig } from "./types.ts";
import { leaseOutsideNetwork } from "./lease_scope.ts";

const lease = (subnet: string, subnet6?: string): Lease => {
  const l: Lease = {
    subnet,
    publicIP: "192.168.1.2",
    node: "n",
    backendType: "host-gw",
    expiration: "",
  };
  if (subnet6 !== undefined) l.subnet6 = subnet6;
  return l;
};
const net = (network: string, subnetLen = 24, network6?: string): NetworkConfig => {
  const n: NetworkConfig = { network, subnetLen, backend: { type: "host-gw" } };
  if (network6 !== undefined) n.network6 = network6;
  return n;
};

Deno.test("leaseOutsideNetwork: memoised verdicts follow a changed network", () => {
  const a = net("10.244.0.0/16");
  const b = net("10.0.0.0/9");
  for (let i = 0; i < 3; i++) {
    assertEquals(leaseOutsideNetwork(lease("10.244.3.0/24"), a), undefined);
    assertStringIncludes(
      leaseOutsideNetwork(lease("10.244.3.0/24"), b) ?? "",
      "outside the cluster network 10.0.0.0/9",
    );
  }
  assertStringIncludes(
    leaseOutsideNetwork(lease("10.244.3.0/24"), net("10.244.0.0/16", 25)) ?? "",
    "not a /25",
  );
  assertStringIncludes(leaseOutsideNetwork(lease("0.0.0.0/0"), a) ?? "", "outside");
  assertStringIncludes(leaseOutsideNetwork(lease("garbage"), a) ?? "", "not a CIDR prefix");
});

Deno.test("leaseOutsideNetwork: the IPv6 subnet is part of the verdict", () => {
  const n = net("10.244.0.0/16", 24, "fd00::/56");
  assertEquals(leaseOutsideNetwork(lease("10.244.3.0/24", "fd00:0:0:3::/64"), n), undefined);
  assertStringIncludes(
    leaseOutsideNetwork(lease("10.244.3.0/24", "fd01:0:0:3::/64"), n) ?? "",
    "outside the cluster network fd00::/56",
  );
  // An IPv4-only cluster takes a dual-stack record's IPv4 half (a v1.21+ Node's podCIDRs).
  assertEquals(
    leaseOutsideNetwork(lease("10.244.3.0/24", "fd00:0:0:3::/64"), net("10.244.0.0/16")),
    undefined,
  );
  assertStringIncludes(
    leaseOutsideNetwork(lease("10.245.3.0/24", "fd00:0:0:3::/64"), net("10.244.0.0/16")) ?? "",
    "outside the cluster network 10.244.0.0/16",
  );
});
