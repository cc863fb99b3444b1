import { assertEquals, assertStringIncludes } from "../../testing/assert.ts";
import { skippedFix } from "./_skipped_fix.ts";

Deno.test("skippedFix: host-gw across a router names vxlan directRouting in the config", () => {
  const fix = skippedFix({
    backend: "host-gw",
    reason: "node n2's public IP 192.168.78.12 is not on a network connected to eth0",
    configFile: "/run/skein/lab/x/nodes/n1/daemon.yaml",
  });
  assertStringIncludes(fix, "in /run/skein/lab/x/nodes/n1/daemon.yaml set");
  assertStringIncludes(fix, "backend: {type: vxlan, directRouting: true}");
  assertStringIncludes(fix, "one L2 segment");
});

Deno.test("skippedFix: other refusals keep the generic advice", () => {
  assertEquals(
    skippedFix({ backend: "vxlan", reason: "no VTEP MAC" }),
    "fix the lease or the backend choice the reason names",
  );
});
