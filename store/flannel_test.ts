import { assertEquals, assertThrows } from "../testing/assert.ts";
import {
  BadRecordError,
  decodeLeaseRecord,
  decodeNetworkConfig,
  encodeLeaseRecord,
  encodeNetworkConfig,
  parseSubnetKey,
  subnetKey,
} from "./flannel.ts";

Deno.test("subnetKey() writes flannel's keys and parseSubnetKey() reads them back", () => {
  assertEquals(subnetKey("10.244.1.0/24"), "10.244.1.0-24");
  assertEquals(subnetKey("10.244.1.0/24", "fd00:1::/64"), "10.244.1.0-24&fd00:1::-64");
  assertEquals(parseSubnetKey("10.244.1.0-24"), { subnet: "10.244.1.0/24" });
  assertEquals(parseSubnetKey("10.244.1.0-24&fd00:1::-64"), {
    subnet: "10.244.1.0/24",
    subnet6: "fd00:1::/64",
  });
  for (const bad of ["10.244.1.5-24", "x", "10.244.1.0", "10.244.1.0-24&10.0.0.0-8", "fd00::-64"]) {
    assertEquals(parseSubnetKey(bad), undefined, bad);
  }
});

Deno.test("lease records use flannel's field names and round-trip", () => {
  const lease = {
    subnet: "10.244.1.0/24",
    publicIP: "192.168.1.10",
    node: "n1",
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: "0a:58:0a:f4:01:00" },
    expiration: "2030-01-01T00:00:00.000Z",
  };
  const rec = encodeLeaseRecord(lease);
  assertEquals(rec, {
    PublicIP: "192.168.1.10",
    BackendType: "vxlan",
    BackendData: { VNI: 1, VtepMAC: "0a:58:0a:f4:01:00" },
    Node: "n1",
  });
  assertEquals(decodeLeaseRecord("10.244.1.0-24", rec, lease.expiration), lease);
});

Deno.test("decodeLeaseRecord() names what is wrong", () => {
  const e = "2030-01-01T00:00:00.000Z";
  assertThrows(
    () => decodeLeaseRecord("10.244.1.0-24", { PublicIP: "nope" }, e),
    BadRecordError,
    "PublicIP",
  );
  assertThrows(
    () => decodeLeaseRecord("10.244.1.0-24", [], e),
    BadRecordError,
    "not a JSON object",
  );
  assertThrows(() => decodeLeaseRecord("junk", { PublicIP: "1.2.3.4" }, e), BadRecordError, "key");
  assertThrows(
    () => decodeLeaseRecord("10.244.1.0-24", { PublicIP: "1.2.3.4", BackendData: "x" }, e),
    BadRecordError,
    "BackendData",
  );
});

Deno.test("network config uses flannel's JSON and round-trips", () => {
  const c = {
    network: "10.244.0.0/16",
    subnetLen: 24,
    network6: "fd00:10:244::/56",
    subnetLen6: 64,
    backend: { type: "vxlan", vni: 1, port: 8472 },
  };
  const j = encodeNetworkConfig(c);
  assertEquals(j, {
    Network: "10.244.0.0/16",
    SubnetLen: 24,
    EnableIPv6: true,
    IPv6Network: "fd00:10:244::/56",
    IPv6SubnetLen: 64,
    Backend: { Type: "vxlan", VNI: 1, Port: 8472 },
  });
  assertEquals(decodeNetworkConfig(j), c);
  assertEquals(decodeNetworkConfig({ Network: "10.1.0.0/16" }).subnetLen, 24);
  assertThrows(
    () => decodeNetworkConfig({ Network: "10.1.0.0/16", SubnetLen: 8 }),
    SyntaxError,
    "SubnetLen",
  );
  assertThrows(() => decodeNetworkConfig({ Network: "fd00::/8" }), SyntaxError, "Network");
});

Deno.test("encodeLeaseRecord() writes flannel's VtepMAC/VNI for skein's vtepMAC/vni", () => {
  const rec = encodeLeaseRecord({
    subnet: "10.244.1.0/24",
    publicIP: "192.168.1.10",
    node: "n1",
    backendType: "vxlan",
    backendData: { vtepMAC: "0a:00:00:00:00:01", vni: 1, other: true },
    expiration: "2030-01-01T00:00:00.000Z",
  });
  assertEquals(rec.BackendData, { VtepMAC: "0a:00:00:00:00:01", VNI: 1, other: true });
});
