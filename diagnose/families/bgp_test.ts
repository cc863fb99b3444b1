import { assertEquals, assertStringIncludes } from "../../testing/assert.ts";
import type { NodeView } from "../context.ts";
import type { BgpDebug } from "../debug_state_parse.ts";
import { bgpFamily } from "./bgp.ts";
import { parseDebugState } from "../debug_state_parse.ts";
import type { CheckResult } from "../check.ts";

function node(bgp: BgpDebug, kernelRoutes: { dst: string; protocol: number }[]): NodeView {
  return {
    name: "n1",
    nodeName: "n1",
    facts: { backend: "bgp" },
    kernel: { routes: () => kernelRoutes },
    daemon: { url: "http://127.0.0.1:1", debug: { bgp, lastReconcile: { skipped: [] } } },
  } as unknown as NodeView;
}

const PEER = {
  address: "192.168.77.12",
  asNumber: 64512,
  source: "mesh",
  prefixesReceived: 1,
  prefixesAdvertised: 1,
};

function run(n: NodeView): Record<string, CheckResult> {
  const out = bgpFamily.node!({ nodes: [n] } as never, n) as CheckResult[];
  return Object.fromEntries(out.map((c) => [c.id, c]));
}

Deno.test("bgp family: Established peers, their routes in the kernel as proto bgp → pass", () => {
  const r = run(node({
    asNumber: 64512,
    routerId: "192.168.77.11",
    converged: true,
    peers: [{ ...PEER, state: "Established" }],
    routes: [{
      prefix: "10.244.2.0/24",
      nextHop: "192.168.77.12",
      peer: "192.168.77.12",
      stale: false,
    }],
  }, [{ dst: "10.244.2.0/24", protocol: 186 }]));
  assertEquals([r["bgp.sessions"]?.status, r["bgp.prefixes"]?.status, r["bgp.kernel"]?.status], [
    "pass",
    "pass",
    "pass",
  ]);
});

Deno.test("bgp family: a session refused with 2/2 and a route missing from the kernel fail with the reason", () => {
  const r = run(node({
    asNumber: 64512,
    routerId: "192.168.77.11",
    converged: true,
    peers: [{
      ...PEER,
      state: "Active",
      lastNotification: {
        direction: "received",
        code: 2,
        subcode: 2,
        name: "OPEN Message Error / Bad Peer AS (2/2)",
      },
    }],
    routes: [{
      prefix: "10.50.0.0/16",
      nextHop: "192.168.77.254",
      peer: "192.168.77.254",
      stale: false,
    }],
  }, [{ dst: "10.50.0.0/16", protocol: 100 }]));
  assertEquals(r["bgp.sessions"]?.status, "fail");
  assertStringIncludes(r["bgp.sessions"]!.summary, "Bad Peer AS (2/2)");
  assertStringIncludes(r["bgp.sessions"]!.fix ?? "", "asNumber");
  assertEquals(r["bgp.kernel"]?.status, "fail");
  assertStringIncludes(r["bgp.kernel"]!.summary, "10.50.0.0/16");
});

Deno.test("bgp family: an eBGP peer without import/export rules warns with the field to set (RFC 8212)", () => {
  const note =
    "eBGP peer without import/export rule: nothing is taken from or sent to it (RFC 8212); set backend.peers[0].import / .export to all, none or CIDRs";
  const r = run(node({
    asNumber: 64512,
    routerId: "192.168.77.11",
    converged: true,
    peers: [{
      ...PEER,
      address: "192.168.77.254",
      asNumber: 65000,
      state: "Established",
      prefixesReceived: 0,
      prefixesAdvertised: 0,
      policyNote: note,
    }],
    routes: [],
  }, []));
  assertEquals(r["bgp.prefixes"]?.status, "warn");
  assertStringIncludes(r["bgp.prefixes"]!.summary, "backend.peers[0].import");
});

/** A minimal schema-1 /debug/state of a bgp node with `peers` as the speaker reports them. */
function debugText(peers: unknown[]): string {
  return JSON.stringify({
    schemaVersion: 1,
    node: "n1",
    generatedAt: "2026-12-07T06:00:00Z",
    backend: { type: "bgp" },
    health: { leaseHeld: true, routesProgrammed: true, leaseFileWritten: true },
    desired: [],
    snapshot: { routes: [], neighs: 0, fdbs: 0 },
    sysctls: {},
    leases: [],
    backendState: {
      bgp: { asNumber: 64512, routerId: "192.168.77.11", converged: true, peers, routes: [] },
    },
  });
}

Deno.test("bgp family: a peer with updateErrors > 0 (from /debug/state) warns with the count, the meaning and the log lines", () => {
  const st = parseDebugState(debugText([
    { ...PEER, state: "Established", updateErrors: 3 },
    { ...PEER, address: "192.168.77.13", state: "Established", updateErrors: 0 },
  ]));
  const r = run(node(st.bgp!, []));
  assertEquals(r["bgp.sessions"]?.status, "pass");
  const u = r["bgp.updates"]!;
  assertEquals(u.status, "warn");
  assertStringIncludes(u.summary, "192.168.77.12 sent 3 UPDATEs with errors");
  assertStringIncludes(u.summary, "withdrawn");
  assertStringIncludes(u.summary, "ignored");
  assertStringIncludes(u.fix ?? "", "'bgp: 192.168.77.12: UPDATE error'");
  assertEquals(u.evidence, { updateErrors: { "192.168.77.12": 3, "192.168.77.13": 0 } });
  // No errors: a pass; a daemon that does not count them: no such check.
  const ok = run(
    node(parseDebugState(debugText([{ ...PEER, state: "Established", updateErrors: 0 }])).bgp!, []),
  );
  assertEquals(ok["bgp.updates"]?.status, "pass");
  const old = run(node(parseDebugState(debugText([{ ...PEER, state: "Established" }])).bgp!, []));
  assertEquals(old["bgp.updates"], undefined);
});

Deno.test("bgp family: a session this side closed names the NOTIFICATION's reason", () => {
  const st = parseDebugState(debugText([{
    ...PEER,
    state: "Idle",
    lastNotification: {
      direction: "sent",
      code: 2,
      subcode: 2,
      at: 1,
      name: "OPEN Message Error / Bad Peer AS (2/2)",
      reason: "peer AS 65001, configured 64512",
    },
  }]));
  const s = run(node(st.bgp!, []))["bgp.sessions"]!;
  assertEquals(s.status, "fail");
  assertStringIncludes(
    s.summary,
    "last NOTIFICATION sent OPEN Message Error / Bad Peer AS (2/2): peer AS 65001, configured 64512",
  );
  assertStringIncludes(JSON.stringify(s.evidence), "peer AS 65001, configured 64512");
});
