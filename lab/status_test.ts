import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { formatStatus, type LabStatus, statusHealthy } from "./status.ts";

function sample(): LabStatus {
  return {
    name: "demo",
    phase: "ready",
    backend: "vxlan",
    datastore: "file",
    createdAt: "2026-01-01T00:00:00.000Z",
    nodes: [
      {
        name: "n1",
        netns: "demo-n1",
        netnsExists: true,
        ip: "192.168.77.11",
        daemon: { pid: 10, listen: "127.0.0.1:9000", running: true, ready: true, readyz: "ok" },
        leaseFile: { subnet: "10.244.1.0/24", mtu: 1450 },
        skeinRoutes: 1,
      },
      {
        name: "n2",
        netns: "demo-n2",
        netnsExists: true,
        ip: "192.168.77.12",
        daemon: { pid: 11, listen: "127.0.0.1:9001", running: true, ready: true, readyz: "ok" },
        leaseFile: { subnet: "10.244.2.0/24", mtu: 1450 },
        skeinRoutes: 1,
      },
    ],
    leases: [{
      subnet: "10.244.1.0/24",
      node: "demo-n1",
      publicIP: "192.168.77.11",
      backendType: "vxlan",
      backendData: { VtepMAC: "0a:00:00:00:00:01" },
      expiration: "2026-01-01T00:01:00.000Z",
    }],
    pods: [{ name: "n1-p1", node: "n1", ip: "10.244.1.2", netnsExists: true }],
    processes: [],
  };
}

Deno.test("formatStatus() shows nodes, leases and pods", () => {
  const text = formatStatus(sample());
  assertStringIncludes(text, "lab demo: ready, backend vxlan, datastore file");
  assertStringIncludes(
    text,
    "n1    demo-n1               192.168.77.11   10.244.1.0/24          1  pid 10 ready http://127.0.0.1:9000",
  );
  assertStringIncludes(text, "leases in the datastore (1):");
  assertStringIncludes(text, '10.244.1.0/24     demo-n1       192.168.77.11   vxlan {"VtepMAC"');
  assertStringIncludes(text, "  n1-p1     node n1    10.244.1.2");
  assertEquals(text.split("\n").some((l) => l.endsWith(" ")), false);
});

Deno.test("statusHealthy() is false when a daemon is down, not ready, or a namespace is gone", () => {
  assertEquals(statusHealthy(sample()), true);
  const a = sample();
  a.nodes[1]!.daemon!.running = false;
  assertEquals(statusHealthy(a), false);
  assertStringIncludes(formatStatus(a), "pid 11 NOT RUNNING");
  const b = sample();
  b.nodes[0]!.daemon!.ready = false;
  b.nodes[0]!.daemon!.readyz = "routes not programmed";
  assertEquals(statusHealthy(b), false);
  assertStringIncludes(formatStatus(b), "NOT READY (routes not programmed)");
  assertStringIncludes(formatStatus(b), "lab demo: ready but DEGRADED (below), backend vxlan");
  const c = sample();
  c.pods[0]!.netnsExists = false;
  assertEquals(statusHealthy(c), false);
  assertStringIncludes(formatStatus(c), "(namespace gone)");
});

Deno.test("formatStatus() lists the segments and router of a two-subnets lab; a gone one is unhealthy", () => {
  const s: LabStatus = {
    ...sample(),
    topology: "two-subnets",
    wires: [
      { netns: "demo-lan", what: "192.168.77.0/24 (n1)", exists: true },
      { netns: "demo-lan2", what: "192.168.78.0/24 (n2)", exists: true },
      {
        netns: "demo-router",
        what: "router eth0 192.168.77.1/24, eth1 192.168.78.1/24",
        exists: true,
      },
    ],
  };
  const text = formatStatus(s);
  assertStringIncludes(text, "topology two-subnets:");
  assertStringIncludes(text, "demo-lan2             192.168.78.0/24 (n2)");
  assertStringIncludes(text, "router eth0 192.168.77.1/24");
  assertEquals(statusHealthy(s), true);
  s.wires![2]!.exists = false;
  assertStringIncludes(
    formatStatus(s),
    "demo-router           router eth0 192.168.77.1/24, eth1 192.168.78.1/24  (namespace GONE)",
  );
  assertEquals(statusHealthy(s), false);
});
