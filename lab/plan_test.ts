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
