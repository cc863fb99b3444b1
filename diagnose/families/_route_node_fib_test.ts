import { assertEquals } from "../../testing/assert.ts";
import { fail, pass, warn } from "../check.ts";
import { mergeFlowChecks, withoutPods } from "./_route_node_fib.ts";

Deno.test("mergeFlowChecks() keeps one check per cause, naming the other subnets it hits", () => {
  const refused = (dst: string) =>
    fail("route.fib", "n1", `n1 cannot forward 10.244.1.2 -> ${dst}`, {
      evidence: { lookup: `ip route get ${dst}` },
      fix: "ip rule del pref 100  # 100: from all to 10.244.0.0/16 prohibit",
    });
  const { problems, passed } = mergeFlowChecks([
    { towards: "n2 10.244.2.0/24", checks: [refused("10.244.2.2"), pass("route.fib", "n1", "ok")] },
    { towards: "n3 10.244.3.0/24", checks: [refused("10.244.3.2"), pass("route.fib", "n1", "ok")] },
    {
      towards: "n4 10.244.4.0/24",
      checks: [
        refused("10.244.4.2"),
        warn("route.fib", "n1", "routed by table 7", { fix: "ip rule del pref 7" }),
      ],
    },
  ]);
  assertEquals(passed, 2);
  assertEquals(problems.map((c) => [c.status, c.evidence.towards, c.evidence.alsoTowards]), [
    ["fail", "n2 10.244.2.0/24", ["n3 10.244.3.0/24", "n4 10.244.4.0/24"]],
    ["warn", "n4 10.244.4.0/24", undefined],
  ]);
  // The first flow's own words are kept.
  assertEquals(problems[0]!.evidence.lookup, "ip route get 10.244.2.2");
});

Deno.test("mergeFlowChecks() keeps checks with different fixes apart", () => {
  const { problems } = mergeFlowChecks([
    { towards: "n2", checks: [fail("route.wrong_dev", "n1", "a", { fix: "ip rule del pref 1" })] },
    { towards: "n3", checks: [fail("route.wrong_dev", "n1", "b", { fix: "ip rule del pref 2" })] },
  ]);
  assertEquals(problems.map((c) => c.summary), ["a", "b"]);
});

Deno.test("mergeFlowChecks() merges failures that differ only by the other end's address, and counts them", () => {
  // No route back to this node's own pods: every other subnet's lookup fails the same way, each
  // naming its own source address in the summary and the fix.
  const back = (src: string) =>
    fail("route.fib", "n1", `n1 cannot forward ${src} -> 10.244.1.2 (reverse): ENETUNREACH`, {
      fix: `ip route get 10.244.1.2 from ${src} iif eth0`,
    });
  const found = Array.from({ length: 30 }, (_, i) => ({
    towards: `n${i + 2} 10.244.${i + 2}.0/24`,
    peerIp: `10.244.${i + 2}.2`,
    checks: [back(`10.244.${i + 2}.2`)],
  }));
  const { problems } = mergeFlowChecks(found);
  assertEquals(problems.length, 1);
  const c = problems[0]!;
  assertEquals(
    c.summary,
    "n1 cannot forward 10.244.2.2 -> 10.244.1.2 (reverse): ENETUNREACH (and 29 other subnets)",
  );
  assertEquals([c.evidence.towards, c.evidence.alsoCount], ["n2 10.244.2.0/24", 29]);
  assertEquals((c.evidence.alsoTowards as string[]).length, 20);
  // An address that merely starts with the other end's is not that address.
  const { problems: apart } = mergeFlowChecks([
    {
      towards: "a",
      peerIp: "10.0.0.2",
      checks: [fail("route.fib", "n1", "x", { fix: "del 10.0.0.2 10.0.0.20" })],
    },
    {
      towards: "b",
      peerIp: "10.0.0.3",
      checks: [fail("route.fib", "n1", "y", { fix: "del 10.0.0.3 10.0.0.20" })],
    },
    {
      towards: "c",
      peerIp: "10.0.0.4",
      checks: [fail("route.fib", "n1", "z", { fix: "del 10.0.0.4 10.0.0.21" })],
    },
  ]);
  assertEquals(apart.map((p) => p.summary), ["x (and 1 other subnet)", "z"]);
});

Deno.test("withoutPods(): a failed lookup back to a node with no pod yet is a warning that says why", () => {
  const back = fail(
    "route.fib",
    "n1",
    "n1 cannot forward 10.244.2.2 -> 10.244.1.2 (reverse, in on eth0)",
    {
      evidence: { direction: "reverse" },
      fix: "ip route get 10.244.1.2 from 10.244.2.2 iif eth0",
    },
  );
  const w = withoutPods(back, "n1", "10.244.1.0/24");
  assertEquals(w.status, "warn");
  assertEquals(w.fix, back.fix);
  assertEquals(
    w.summary,
    "n1 cannot forward 10.244.2.2 -> 10.244.1.2 (reverse, in on eth0): n1 has no pod yet (no IPAM reservation in 10.244.1.0/24); the first pod's ADD creates the bridge and the route to 10.244.1.0/24",
  );
  // The way out, and anything but route.fib, stay as they were.
  const out = fail("route.fib", "n1", "x", { evidence: { direction: "forward" } });
  assertEquals(withoutPods(out, "n1", "10.244.1.0/24"), out);
  const other = fail("route.wrong_dev", "n1", "y", { evidence: { direction: "reverse" } });
  assertEquals(withoutPods(other, "n1", "10.244.1.0/24"), other);
});
