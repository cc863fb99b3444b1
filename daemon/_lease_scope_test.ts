import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import type { Lease, NetworkConfig } from "../store/types.ts";
import { ipv4Half, leaseScopeProblem, publicIpInNetwork } from "./_lease_scope.ts";

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

Deno.test("publicIpInNetwork / leaseScopeProblem: a node address inside the cluster network is refused", () => {
  const n = net("10.247.0.0/16", 24, "fd00:10::/56");
  const at = (publicIP: string, publicIP6?: string): Lease => {
    const l = { ...lease("10.247.3.0/24"), publicIP };
    if (publicIP6 !== undefined) l.publicIP6 = publicIP6;
    return l;
  };
  assertEquals(publicIpInNetwork(at("192.168.97.3"), n), undefined);
  assertEquals(publicIpInNetwork(at("10.248.0.1"), n), undefined);
  assertEquals(publicIpInNetwork(at("garbage"), n), undefined); // the backends judge it
  assertEquals(
    publicIpInNetwork(at("10.247.9.1"), n),
    "public IP 10.247.9.1 is inside the cluster network 10.247.0.0/16: a pod's address, not a node's",
  );
  assertStringIncludes(
    publicIpInNetwork(at("192.168.97.3", "fd00:10::5"), n) ?? "",
    "IPv6 public IP fd00:10::5 is inside the cluster network fd00:10::/56",
  );
  assertEquals(publicIpInNetwork(at("192.168.97.3", "fd00:11::5"), n), undefined);
  assertEquals(leaseScopeProblem(at("10.247.9.1"), n)?.code, "public-ip-in-network");
  assertEquals(leaseScopeProblem(lease("10.9.0.0/24"), n)?.code, "outside-network");
  assertEquals(leaseScopeProblem(at("192.168.97.3"), n), undefined);
});

Deno.test("ipv4Half: a dual-stack record without its IPv6 half; a v4 one as it is", () => {
  const v4 = lease("10.247.3.0/24");
  assertEquals(ipv4Half(v4) === v4, true);
  const both = { ...lease("10.247.3.0/24", "fd00:10:0:3::/64"), publicIP6: "fd00::3" };
  assertEquals(ipv4Half(both), v4);
});
