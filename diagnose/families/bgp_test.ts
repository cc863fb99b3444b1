import { assertEquals, assertStringIncludes } from "../../testing/assert.ts";
import type { NodeView } from "../context.ts";
import type { BgpDebug } from "../debug_state_parse.ts";
import { bgpFamily } from "./bgp.ts";
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
  const out = bgpFamily.node!({} as never, n) as CheckResult[];
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
