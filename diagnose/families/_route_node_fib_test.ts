import { assertEquals } from "../../testing/assert.ts";
import { fail, pass, warn } from "../check.ts";
import { mergeFlowChecks } from "./_route_node_fib.ts";

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
