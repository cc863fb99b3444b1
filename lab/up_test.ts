import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { labDefaults, planLab } from "./plan.ts";
import { newLabState } from "./state.ts";
import { lookAroundText, matrixPods } from "./up.ts";

Deno.test("lookAroundText() names this lab's namespaces and a real pod address to ping", () => {
  const plan = planLab(
    labDefaults({ name: "demo", nodes: 2, podsPerNode: 1, backend: "vxlan" }),
    "/r",
  );
  const state = newLabState(plan.options);
  state.pods.push(
    { name: "n1-p1", node: "n1", netns: "demo-n1-p1", containerId: "demo-n1-p1", ip: "10.244.1.2" },
    { name: "n2-p1", node: "n2", netns: "demo-n2-p1", containerId: "demo-n2-p1", ip: "10.244.2.2" },
  );
  const text = lookAroundText(plan, state);
  assertStringIncludes(text, "skein lab status --name demo");
  assertStringIncludes(text, "ip netns exec demo-n1 ip route");
  assertStringIncludes(text, "the vxlan device");
  assertStringIncludes(text, "ip netns exec demo-n1-p1 ping -c 1 10.244.2.2");
  assertStringIncludes(text, "skein lab down --name demo");
  const dflt = lookAroundText(planLab(labDefaults({ podsPerNode: 0 }), "/r"));
  assertStringIncludes(dflt, "skein lab down  ");
  assertEquals(dflt.includes("ping"), false);
});

Deno.test("matrixPods() keeps only pods with an address", () => {
  const state = newLabState(labDefaults({ name: "demo" }));
  state.pods.push(
    { name: "n1-p1", node: "n1", netns: "demo-n1-p1", containerId: "c1", ip: "10.244.1.2" },
    { name: "n1-p2", node: "n1", netns: "demo-n1-p2", containerId: "c2" },
  );
  assertEquals(matrixPods(state), [
    { name: "n1-p1", ip: "10.244.1.2", netnsPath: "/run/netns/demo-n1-p1" },
  ]);
});

Deno.test("lookAroundText() points at the router of a two-subnets lab", () => {
  const plan = planLab(labDefaults({ name: "demo", nodes: 2, topology: "two-subnets" }), "/tmp/x");
  assertStringIncludes(
    lookAroundText(plan).replace(/ +#/g, " #"),
    "ip netns exec demo-router ip addr # the router between 192.168.77.0/24 and 192.168.78.0/24",
  );
  assertEquals(lookAroundText(planLab(labDefaults({ nodes: 2 }))).includes("router"), false);
});
