import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { fail, pass, type Report } from "./check.ts";
import { evidenceText, renderHuman, renderJson } from "./render.ts";

const report: Report = {
  schemaVersion: 1,
  verdict: "fail",
  from: { query: "n1-p1", ip: "10.244.1.2", node: "n1" },
  to: { query: "10.244.2.2", ip: "10.244.2.2", node: "n2" },
  checks: [
    fail("sysctl.ip_forward", "n2", "IPv4 forwarding is off on n2", {
      evidence: { "net.ipv4.ip_forward": "0" },
      fix: "ip netns exec lab-n2 sysctl -w net.ipv4.ip_forward=1",
    }),
    pass("route.fib", "n1", "forward leaves by skein.1", { evidence: { kernel: "x" } }),
  ],
  durationMs: 12.3,
};

Deno.test("renderJson() prints the documented keys in order", () => {
  const j = JSON.parse(renderJson(report));
  assertEquals(Object.keys(j), ["schemaVersion", "verdict", "from", "to", "checks", "durationMs"]);
  assertEquals(Object.keys(j.checks[0]), ["id", "status", "node", "summary", "evidence", "fix"]);
});

Deno.test("renderHuman() shows evidence and fix for failures, one line for passes", () => {
  const t = renderHuman(report);
  assertStringIncludes(t, "FAIL (1 failed, 0 warnings, 1 passed, 0 skipped)");
  assertStringIncludes(t, "FAIL sysctl.ip_forward [n2] IPv4 forwarding is off on n2");
  assertStringIncludes(t, "     evidence: net.ipv4.ip_forward=0");
  assertStringIncludes(t, "     fix: ip netns exec lab-n2 sysctl -w net.ipv4.ip_forward=1");
  assertStringIncludes(t, "PASS route.fib [n1] forward leaves by skein.1");
  assert(!t.includes("kernel=x"));
});

Deno.test("evidenceText() joins string arrays and leaves out undefined values", () => {
  assertEquals(
    evidenceText({ a: ["x", "y"], b: undefined, c: 3, d: { e: 1 } }),
    'a=x, y; c=3; d={"e":1}',
  );
});
