import { assertEquals, assertThrows } from "../testing/assert.ts";
import { isLabNamespace, LabConfigError, labDefaults, planLab } from "./plan.ts";

Deno.test("planLab() names namespaces after the lab and numbers nodes from .11", () => {
  const p = planLab(labDefaults({ name: "demo", nodes: 2, podsPerNode: 2 }), "/tmp/x");
  assertEquals(p.lanNetns, "demo-lan");
  assertEquals(p.stateFile, "/tmp/x/demo/lab.json");
  assertEquals(p.storeDir, "/tmp/x/demo/store");
  assertEquals(p.nodes.map((n) => [n.netns, n.cidr, n.lanPort]), [
    ["demo-n1", "192.168.77.11/24", "n1"],
    ["demo-n2", "192.168.77.12/24", "n2"],
  ]);
  assertEquals(p.nodes[1]!.pods.map((q) => q.netns), ["demo-n2-p1", "demo-n2-p2"]);
  assertEquals(p.nodes[0]!.leaseFile, "/tmp/x/demo/nodes/n1/subnet.json");
});

Deno.test("planLab() rejects bad options naming the option", () => {
  const bad: [Partial<Parameters<typeof labDefaults>[0]>, string][] = [
    [{ name: "Bad" }, "--name"],
    [{ name: "a-b" }, "--name"],
    [{ name: "averyveryverylongname" }, "--name"],
    [{ nodes: 0 }, "--nodes"],
    [{ nodes: 2.5 }, "--nodes"],
    [{ podsPerNode: -1 }, "--pods-per-node"],
    [{ backend: "ipip" as never }, "--backend"],
    [{ datastore: "k8s" as never }, "--datastore"],
    [{ lanPrefix: "192.168.300" }, "--lan"],
    [{ network: "10.244.0.0/24" }, "--network"],
    [{ leaseTtl: 1 }, "--lease-ttl"],
    [{ kubernetes: true, podsPerNode: 0 }, "--datastore"],
    [{ kubernetes: true, datastore: "kubernetes" }, "--pods-per-node"],
    [{ cni: "reference" }, "--cni"],
    [{ kubernetes: true, datastore: "kubernetes", podsPerNode: 0, cni: "x" as never }, "--cni"],
  ];
  for (const [opts, field] of bad) {
    const e = assertThrows(() => planLab(labDefaults(opts)), LabConfigError);
    assertEquals(e.field, field, e.message);
  }
});

Deno.test("isLabNamespace() matches only this lab's namespaces", () => {
  for (const ns of ["lab-lan", "lab-n1", "lab-n12-p3"]) {
    assertEquals(isLabNamespace("lab", ns), true);
  }
  for (const ns of ["lab2-n1", "lab-n1-x", "lab-foo", "xlab-n1", "lab-", "lab-n1-p"]) {
    assertEquals(isLabNamespace("lab", ns), false, ns);
  }
});

Deno.test("planLab() two-subnets: a second segment at the next octet, a router, nodes alternate", () => {
  const p = planLab(labDefaults({ name: "demo", nodes: 4, topology: "two-subnets" }), "/tmp/x");
  assertEquals(p.segments.map((s) => [s.netns, s.network, s.gateway]), [
    ["demo-lan", "192.168.77.0/24", "192.168.77.1"],
    ["demo-lan2", "192.168.78.0/24", "192.168.78.1"],
  ]);
  assertEquals(p.router?.netns, "demo-router");
  assertEquals(p.router?.ports.map((r) => [r.name, r.segment.netns, r.cidr]), [
    ["eth0", "demo-lan", "192.168.77.1/24"],
    ["eth1", "demo-lan2", "192.168.78.1/24"],
  ]);
  assertEquals(p.nodes.map((n) => [n.cidr, n.segment.netns, n.underlayRoutes]), [
    ["192.168.77.11/24", "demo-lan", [{ dst: "192.168.78.0/24", gateway: "192.168.77.1" }]],
    ["192.168.78.12/24", "demo-lan2", [{ dst: "192.168.77.0/24", gateway: "192.168.78.1" }]],
    ["192.168.77.13/24", "demo-lan", [{ dst: "192.168.78.0/24", gateway: "192.168.77.1" }]],
    ["192.168.78.14/24", "demo-lan2", [{ dst: "192.168.77.0/24", gateway: "192.168.78.1" }]],
  ]);
  for (const ns of ["demo-lan2", "demo-router"]) assertEquals(isLabNamespace("demo", ns), true);
  // The default (and an older lab.json without the field) stays one segment, no router.
  const flat = planLab(labDefaults({ nodes: 2 }));
  assertEquals([flat.segments.length, flat.router, flat.nodes[1]!.underlayRoutes], [
    1,
    undefined,
    [],
  ]);
});

Deno.test("planLab() refuses a bad topology, a full third octet and --direct-routing on host-gw", () => {
  const bad: [Partial<Parameters<typeof labDefaults>[0]>, string, string][] = [
    [{ topology: "mesh" as never }, "--topology", "one-subnet, two-subnets"],
    [{ topology: "two-subnets", lanPrefix: "10.0.255" }, "--lan", "second segment"],
    [{ backend: "host-gw", directRouting: true }, "--direct-routing", "vxlan"],
  ];
  for (const [opts, field, text] of bad) {
    const e = assertThrows(() => planLab(labDefaults(opts)), LabConfigError);
    assertEquals(e.field, field, e.message);
    assertEquals(e.message.includes(text), true, e.message);
  }
  assertEquals(planLab(labDefaults({ directRouting: true })).options.directRouting, true);
});

Deno.test("planLab() puts a kubernetes lab's control plane in <lab>-cp at .2 of the first segment", () => {
  assertEquals(planLab(labDefaults({ name: "demo" }), "/tmp/x").controlPlane, undefined);
  const one = planLab(labDefaults({ name: "demo", datastore: "kubernetes" }), "/tmp/x");
  const cp = one.controlPlane!;
  assertEquals([cp.netns, cp.cidr, cp.lanPort, cp.apiserverPort], [
    "demo-cp",
    "192.168.77.2/24",
    "cp",
    6443,
  ]);
  assertEquals(cp.underlayRoutes, []);
  assertEquals(isLabNamespace("demo", "demo-cp"), true);
  const two = planLab(
    labDefaults({ name: "demo", datastore: "kubernetes", topology: "two-subnets" }),
    "/tmp/x",
  );
  assertEquals(two.controlPlane!.segment.netns, "demo-lan");
  assertEquals(two.controlPlane!.underlayRoutes, [
    { dst: "192.168.78.0/24", gateway: "192.168.77.1" },
  ]);
});
