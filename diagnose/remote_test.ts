/**
 * The remote side of a pair (a node diagnose cannot enter, known from its lease and its daemon's
 * /debug/state): families judge it from the debug state, or skip with the reason. No root: the
 * nodes here have no kernel access at all.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import type { Report } from "./check.ts";
import type { Diagnosis, NodeView } from "./context.ts";
import { parseDebugState } from "./debug_state_parse.ts";
import { runDiagnosis } from "./run.ts";

const lease = (n: number) => ({
  subnet: `10.244.${n}.0/24`,
  publicIP: `192.168.77.1${n}`,
  node: `node${n}`,
  backendType: "vxlan",
  backendData: { VtepMAC: `0a:00:00:00:00:0${n}` },
  expiration: new Date(Date.now() + 60_000).toISOString(),
});

function debugState(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    schemaVersion: 1,
    node: "node2",
    generatedAt: new Date().toISOString(),
    backend: { type: "vxlan", device: "skein.1", mtu: 1450 },
    reconcileIntervalSeconds: 5,
    uplink: { name: "eth0", index: 2, mtu: 1500, publicIP: "192.168.77.12" },
    health: { leaseHeld: true, routesProgrammed: true, leaseFileWritten: true },
    lastSuccessAt: new Date().toISOString(),
    desired: [{ dst: "10.244.1.0/24", gateway: "10.244.1.0", dev: "skein.1", onlink: true }],
    snapshot: {
      routes: [{ dst: "10.244.1.0/24", gateway: "10.244.1.0", dev: "skein.1", onlink: true }],
      neighs: 1,
      fdbs: 1,
    },
    sysctls: { "net.ipv4.ip_forward": "1" },
    leases: [lease(1), lease(2)].map((l) => ({
      subnet: l.subnet,
      node: l.node,
      publicIP: l.publicIP,
    })),
    ...over,
  });
}

async function diagnose(debugText?: string): Promise<Report> {
  const facts = { backend: "vxlan", vni: 1, port: 8472, device: "skein.1", bridge: "cni0" };
  const n1: NodeView = {
    name: "node1",
    nodeName: "node1",
    facts,
    lease: lease(1),
    unreachable: "no kernel access in this test",
  };
  const n2: NodeView = { name: "node2", nodeName: "node2", facts, lease: lease(2) };
  if (debugText) {
    n2.daemon = {
      url: "http://192.168.77.12:9472",
      healthz: { status: 200, body: "ok" },
      readyz: { status: 200, body: "ready" },
      debug: parseDebugState(debugText),
    };
  } else {
    n2.unreachable = "daemons listen on 127.0.0.1:9472 (loopback)";
  }
  const d: Diagnosis = {
    nodes: [n1, n2],
    store: { type: "file", where: "/x", leases: [lease(1), lease(2)] },
    options: { probe: false, trace: false, timeoutMs: 1000 },
    pair: {
      from: { query: "10.244.1.5", ip: "10.244.1.5", node: n1 },
      to: { query: "10.244.2.5", ip: "10.244.2.5", node: n2 },
      nodes: [n1, n2],
    },
    memo: new Map(),
  };
  return await runDiagnosis(d);
}

const find = (r: Report, id: string, node: string) =>
  r.checks.find((c) => c.id === id && c.node === node);

Deno.test("remote node from /debug/state: healthy state passes the remote checks", async () => {
  const r = await diagnose(debugState());
  assertEquals(find(r, "sysctl.ip_forward", "node2")?.status, "pass");
  assertEquals(find(r, "route.expected", "node2")?.status, "pass");
  assertEquals(find(r, "daemon.reconcile", "node2")?.status, "pass");
  assertEquals(find(r, "daemon.ready", "node2")?.status, "pass");
  assertEquals(r.checks.filter((c) => c.status === "fail"), []);
});

Deno.test("remote node from /debug/state: a route its daemon skips (the kernel refused it) says why", async () => {
  const reason = "node node1's entries were refused by the kernel: Cannot replace route " +
    "10.244.1.0/24: kernel returned EINVAL (Nexthop has invalid gateway)";
  const r = await diagnose(debugState({
    snapshot: { routes: [], neighs: 0, fdbs: 0 },
    lastReconcile: {
      at: new Date().toISOString(),
      trigger: "timer",
      ok: true,
      errors: [],
      skipped: [{ subnet: "10.244.1.0/24", reason }],
      durationMs: 1,
    },
  }));
  const miss = find(r, "route.missing", "node2");
  assertEquals(miss?.status, "fail");
  assertEquals(miss!.evidence.daemonSkips, reason);
  assertStringIncludes(
    miss!.fix!,
    "fix the lease record of 10.244.1.0/24: node2's daemon skips it",
  );
});

Deno.test("remote node from /debug/state: ip_forward=0, a missing route and an old reconcile are named", async () => {
  const r = await diagnose(debugState({
    sysctls: { "net.ipv4.ip_forward": "0" },
    snapshot: { routes: [], neighs: 0, fdbs: 0 },
    lastSuccessAt: new Date(Date.now() - 600_000).toISOString(),
  }));
  assertEquals(find(r, "sysctl.ip_forward", "node2")?.status, "fail");
  assertStringIncludes(
    find(r, "sysctl.ip_forward", "node2")!.evidence.source as string,
    "/debug/state",
  );
  const miss = find(r, "route.missing", "node2");
  assertEquals(miss?.status, "fail");
  assertStringIncludes(
    miss!.fix!,
    "ip route replace 10.244.1.0/24 via 10.244.1.0 dev skein.1 onlink",
  );
  assertEquals(find(r, "daemon.reconcile", "node2")?.status, "warn");
  assertEquals(r.verdict, "fail");
  // Ranked: the sysctl (cause) before the route.
  const ids = r.checks.filter((c) => c.status === "fail").map((c) => c.id);
  assert(ids.indexOf("sysctl.ip_forward") < ids.indexOf("route.missing"), ids.join(" "));
});

Deno.test("remote node without /debug/state: its checks skip with the reason, never guess", async () => {
  const r = await diagnose();
  for (const id of ["sysctl.ip_forward", "route.expected", "daemon.running"]) {
    const c = find(r, id, "node2");
    assertEquals(c?.status, "skip", id);
  }
  assertStringIncludes(find(r, "route.expected", "node2")!.summary, "loopback");
  assertEquals(r.checks.filter((c) => c.status === "fail"), []);
});
