import { assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { leaseOutsideNetwork } from "./lease_scope.ts";
import {
  annotationPatch,
  annotationRemovalPatch,
  annotationsMatch,
  type KubeNode,
  NODE_ANNOTATIONS as A,
  nodeLease,
  nodeLeases,
  sameLeaseInputs,
} from "./kube_node.ts";
import { BadRecordError } from "./flannel.ts";

function node(
  name: string,
  podCIDR: string | undefined,
  ann: Record<string, string>,
  created = "2026-01-01T00:00:00Z",
): KubeNode {
  return {
    metadata: { name, resourceVersion: "1", creationTimestamp: created, annotations: ann },
    spec: podCIDR ? { podCIDR } : {},
  };
}

const vx = {
  [A.backendType]: "vxlan",
  [A.backendData]: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:01"}',
  [A.publicIP]: "192.168.1.10",
  [A.subnetManager]: "true",
  "other.example/keep": "x",
};

Deno.test("nodeLease: podCIDR + flannel annotations make a lease", () => {
  assertEquals(nodeLease(node("n1", "10.244.1.0/24", vx), "E"), {
    subnet: "10.244.1.0/24",
    publicIP: "192.168.1.10",
    node: "n1",
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: "0a:00:00:00:00:01" },
    expiration: "E",
  });
  // No podCIDR yet, or no skein/flannel annotations: not a lease, not an error.
  assertEquals(nodeLease(node("n1", undefined, vx), "E"), undefined);
  // An empty public-ipv6 (as an older writer may leave it) is no address, not an error.
  assertEquals(
    nodeLease(node("n1", "10.244.1.0/24", { ...vx, [A.publicIP6]: "" }), "E")?.publicIP6,
    undefined,
  );
  assertEquals(nodeLease(node("n1", "10.244.1.0/24", {}), "E"), undefined);
});

Deno.test("nodeLease: dual-stack podCIDRs", () => {
  const n = node("n1", undefined, { ...vx, [A.publicIP6]: "fd00::10" });
  n.spec = { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24", "fd00:1::/64"] };
  const l = nodeLease(n, "E")!;
  assertEquals([l.subnet, l.subnet6, l.publicIP6], ["10.244.1.0/24", "fd00:1::/64", "fd00::10"]);
});

Deno.test("nodeLease: malformed or foreign annotations are BadRecordError", () => {
  const bad: Record<string, string>[] = [
    { ...vx, [A.backendData]: "{not json" },
    { ...vx, [A.backendData]: "[1]" },
    { ...vx, [A.publicIP]: "not-an-ip" },
    { ...vx, [A.backendType]: "Ünïcode type" },
    { ...vx, [A.backendData]: JSON.stringify({ x: "y".repeat(20000) }) },
  ];
  for (const ann of bad) {
    assertThrows(() => nodeLease(node("n1", "10.244.1.0/24", ann), "E"), BadRecordError);
  }
  assertThrows(() => nodeLease(node("n1", "garbage", vx), "E"), BadRecordError);
});

Deno.test("annotationPatch: only flannel's keys; round trip through nodeLease", () => {
  const lease = {
    subnet: "10.244.2.0/24",
    publicIP: "192.168.1.11",
    node: "n2",
    backendType: "vxlan",
    backendData: { vtepMAC: "0a:00:00:00:00:02", vni: 1 },
    expiration: "E",
  };
  const p = annotationPatch(lease);
  assertEquals(
    Object.keys(p.metadata.annotations).every((k) => k.startsWith("flannel.alpha.coreos.com/")),
    true,
  );
  const ann = Object.fromEntries(
    Object.entries(p.metadata.annotations).filter(([, v]) => v !== null),
  ) as Record<string, string>;
  const n = node("n2", "10.244.2.0/24", { ...ann, "keep.me/x": "y" });
  assertEquals(nodeLease(n, "E")!.backendData, { VtepMAC: "0a:00:00:00:00:02", VNI: 1 });
  assertEquals(annotationsMatch(n, lease), true);
  assertEquals(annotationsMatch(n, { ...lease, publicIP: "192.168.1.12" }), false);
  assertEquals(
    Object.values(annotationRemovalPatch().metadata.annotations).every((v) => v === null),
    true,
  );
});

Deno.test("nodeLeases: the older node keeps an overlapping subnet; bad nodes are skipped", () => {
  const nodes = [
    node("young", "10.244.1.0/24", vx, "2026-01-02T00:00:00Z"),
    node("old", "10.244.1.0/24", vx, "2026-01-01T00:00:00Z"),
    node("wide", "10.244.0.0/16", vx, "2026-01-03T00:00:00Z"),
    node("inner", "10.244.2.128/25", vx, "2026-01-04T00:00:00Z"),
    node("fine", "10.244.3.0/24", vx, "2026-01-05T00:00:00Z"),
    node("bad", "10.244.4.0/24", { ...vx, [A.backendData]: "{" }, "2026-01-06T00:00:00Z"),
  ];
  const { leases, skipped } = nodeLeases(nodes, (n) => nodeLease(n, "E"));
  assertEquals([...leases.values()].map((l) => l.node), ["old", "inner", "fine"]);
  assertEquals(skipped.map((s) => s.node), ["young", "wide", "bad"]);
  assertEquals(skipped[0]!.reason, "podCIDR 10.244.1.0/24 overlaps node old's");
});

Deno.test("nodeLeases: a podCIDR refused before the vote (an old Node with the whole /16) outvotes no one", () => {
  const nodes = [
    node("ctl", "10.244.0.0/16", vx, "2026-01-01T00:00:00Z"),
    node("a", "10.244.1.0/24", vx, "2026-01-02T00:00:00Z"),
    node("b", "10.244.2.0/24", vx, "2026-01-03T00:00:00Z"),
  ];
  const net = { network: "10.244.0.0/16", subnetLen: 24, backend: { type: "vxlan" } };
  const { leases, skipped } = nodeLeases(
    nodes,
    (n) => nodeLease(n, "E"),
    (l) => leaseOutsideNetwork(l, net),
  );
  // ctl is listed (the daemon refuses it: not a /24), and a and b keep their leases.
  assertEquals([...leases.values()].map((l) => l.node), ["ctl", "a", "b"]);
  assertEquals(skipped, []);
  assertStringIncludes(leaseOutsideNetwork(leases.get("10.244.0.0-16")!, net) ?? "", "not a /24");
});

Deno.test("nodeLeases: one older /25 among 5,000 /24s; a /24 covering it loses the vote", () => {
  const nodes = [node("a25", "10.244.200.0/25", vx, "2026-01-01T00:00:00Z")];
  for (let i = 0; i < 5000; i++) {
    const cidr = `10.${100 + (i >> 8)}.${i & 255}.0/24`;
    nodes.push(node(`n${i}`, cidr, vx, "2026-01-02T00:00:00Z"));
  }
  nodes.push(node("cover", "10.244.200.0/24", vx, "2026-01-03T00:00:00Z"));
  const { leases, skipped } = nodeLeases(nodes, (n) => nodeLease(n, "E"));
  assertEquals(leases.size, 5001);
  assertEquals(skipped, [{ node: "cover", reason: "podCIDR 10.244.200.0/24 overlaps node a25's" }]);
});

Deno.test("sameLeaseInputs: a status-only change is the same lease; podCIDR, annotations, creation time are not", () => {
  const base: KubeNode = {
    metadata: {
      name: "n1",
      resourceVersion: "1",
      creationTimestamp: "2026-01-01T00:00:00Z",
      annotations: { [A.publicIP]: "192.168.1.1", "example.com/x": "1" },
    },
    spec: { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24"] },
  };
  const status = {
    ...base,
    metadata: {
      ...base.metadata,
      resourceVersion: "2",
      annotations: { ...base.metadata.annotations, "example.com/x": "2" },
    },
  };
  assertEquals(sameLeaseInputs(base, status), true);
  const ip = {
    ...base,
    metadata: { ...base.metadata, annotations: { [A.publicIP]: "192.168.1.2" } },
  };
  const cidr = { ...base, spec: { podCIDR: "10.244.2.0/24", podCIDRs: ["10.244.2.0/24"] } };
  const born = {
    ...base,
    metadata: { ...base.metadata, creationTimestamp: "2026-01-02T00:00:00Z" },
  };
  for (const other of [ip, cidr, born]) assertEquals(sameLeaseInputs(base, other), false);
});
