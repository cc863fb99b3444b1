import { assert, assertEquals } from "../testing/assert.ts";
import { canonicalJson, leaseIdentity } from "./_util.ts";

const lease = (mac: string, expiration = "2026-01-01T00:00:00Z") => ({
  subnet: "10.244.1.0/24",
  publicIP: "192.168.1.1",
  node: "n1",
  backendType: "vxlan",
  backendData: { VtepMAC: mac },
  expiration,
});

Deno.test("leaseIdentity(): a renewal is no change, a changed backendData is", () => {
  assertEquals(
    leaseIdentity(lease("0a:00:00:00:00:01")),
    leaseIdentity(lease("0a:00:00:00:00:01", "2027-01-01T00:00:00Z")),
  );
  assert(leaseIdentity(lease("0a:00:00:00:00:01")) !== leaseIdentity(lease("0a:00:00:00:00:02")));
  const { backendData: _b, ...bare } = lease("0a:00:00:00:00:01");
  assert(leaseIdentity(bare) !== leaseIdentity(lease("0a:00:00:00:00:01")));
});

Deno.test("canonicalJson(): key order does not matter at any level; array order does", () => {
  assertEquals(
    canonicalJson({ b: 1, a: { d: [2, 1], c: null } }),
    '{"a":{"c":null,"d":[2,1]},"b":1}',
  );
  assertEquals(canonicalJson({ a: { y: 1, x: 2 } }), canonicalJson({ a: { x: 2, y: 1 } }));
  assert(canonicalJson([1, 2]) !== canonicalJson([2, 1]));
});
