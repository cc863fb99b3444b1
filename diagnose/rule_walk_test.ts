import { assertEquals } from "../testing/assert.ts";
import type { Route, Rule } from "../net/types.ts";
import { answeringRule, ruleCause, ruleFix, ruleText } from "./rule_walk.ts";

const rule = (priority: number, o: Partial<Rule> = {}): Rule => ({
  family: 4,
  priority,
  action: "lookup",
  table: 254,
  src: "0.0.0.0/0",
  dst: "0.0.0.0/0",
  invert: false,
  ...o,
});
const DEFAULT_RULES = [rule(0, { table: 255 }), rule(32766), rule(32767, { table: 253 })];
const route = (dst: string, table = 254, type = "unicast"): Route =>
  ({ family: 4, dst, table, type, protocol: 100, scope: "universe" }) as unknown as Route;
const ROUTES = [route("10.244.1.0/24"), route("10.244.2.1", 255, "local")];
const flow = { src: "10.244.2.2", dst: "10.244.1.2", iif: "cni0", ipProto: 1 };

Deno.test("ruleCause(): the default rules and a covering main route decide nothing", () => {
  assertEquals(ruleCause(DEFAULT_RULES, ROUTES, flow), undefined);
});

Deno.test("ruleCause(): a matching prohibit/unreachable rule before main is the cause, with its ip rule words", () => {
  const p = rule(100, { action: "prohibit", src: "10.244.2.2/32" });
  const c = ruleCause([...DEFAULT_RULES, p], ROUTES, flow);
  assertEquals(c?.kind === "rule" ? [c.rule.priority, c.text] : c, [
    100,
    "100: from 10.244.2.2 prohibit",
  ]);
  assertEquals(
    ruleFix("ip netns exec n1 ", c!),
    "ip netns exec n1 ip rule del pref 100  # 100: from 10.244.2.2 prohibit",
  );
  // Another source, another input device, a negated selector, a rule after main: not the cause.
  assertEquals(ruleCause([...DEFAULT_RULES, p], ROUTES, { ...flow, src: "10.244.2.3" }), undefined);
  const u = rule(200, { action: "unreachable", dst: "10.244.1.0/24", iif: "eth0" });
  assertEquals(ruleCause([...DEFAULT_RULES, u], ROUTES, flow), undefined);
  assertEquals(
    ruleCause([...DEFAULT_RULES, { ...u, iif: "cni0", invert: true }], ROUTES, flow),
    undefined,
  );
  assertEquals(
    ruleCause([...DEFAULT_RULES, { ...u, iif: "cni0", priority: 40000 }], ROUTES, flow),
    undefined,
  );
  // A node's own lookup (no iif) matches `iif lo`.
  const lo = { ...u, iif: "lo" };
  assertEquals(ruleCause([...DEFAULT_RULES, lo], ROUTES, { dst: "10.244.1.2" })?.kind, "rule");
  // A fwmark selector is not judged: not taken as matching.
  assertEquals(
    ruleCause([...DEFAULT_RULES, { ...u, iif: undefined, fwmark: 16 }], ROUTES, flow),
    undefined,
  );
});

Deno.test("ruleCause(): main looked up by no rule while it covers the destination is no-main", () => {
  const rules = DEFAULT_RULES.filter((r) => r.table !== 254);
  const c = ruleCause(rules, ROUTES, flow);
  assertEquals(c, { kind: "no-main" });
  assertEquals(
    ruleFix("", c!),
    "ip rule add pref 32766 lookup main  # no rule looks up the main table",
  );
  // Nothing covers the destination anywhere: a missing route, not a rule.
  assertEquals(ruleCause(rules, ROUTES, { ...flow, dst: "10.9.9.9" }), undefined);
});

Deno.test("answeringRule(): the first lookup rule whose table covers the flow", () => {
  const r77 = rule(100, { table: 77, dst: "10.244.1.0/24" });
  const routes = [...ROUTES, route("10.244.1.0/24", 77)];
  assertEquals(answeringRule([...DEFAULT_RULES, r77], routes, flow)?.priority, 100);
  assertEquals(ruleText(r77), "100: from all to 10.244.1.0/24 lookup 77");
  // Its table empty: main answers.
  assertEquals(answeringRule([...DEFAULT_RULES, r77], ROUTES, flow)?.priority, 32766);
});

Deno.test("ruleCause()/answeringRule(): an unmarked flow meets fwmark selectors as mark 0; suppress_prefixlength skips short answers", () => {
  // `fwmark 0x0/0xff prohibit` matches an unmarked flow; `fwmark 0x10` does not.
  const zero = rule(100, { action: "prohibit", fwmark: 0, fwmask: 0xff });
  assertEquals(ruleCause([...DEFAULT_RULES, zero], ROUTES, flow)?.kind, "rule");
  assertEquals(ruleText(zero), "100: from all fwmark 0x0/0xff prohibit");
  // wg-quick: `not fwmark 0xca6c lookup 51820` takes unmarked traffic, unless
  // `lookup main suppress_prefixlength 0` before it answers with a route more specific than /0.
  const wg = rule(100, { table: 51820, fwmark: 0xca6c, invert: true });
  const routes = [...ROUTES, route("0.0.0.0/0", 51820)];
  assertEquals(answeringRule([...DEFAULT_RULES, wg], routes, flow)?.priority, 100);
  const sup = rule(99, { suppressPrefixlen: 0 });
  assertEquals(answeringRule([...DEFAULT_RULES, wg, sup], routes, flow)?.priority, 99);
  // Only a default route in main: suppressed, so table 51820 answers.
  const onlyDefault = [route("0.0.0.0/0"), route("0.0.0.0/0", 51820)];
  assertEquals(answeringRule([...DEFAULT_RULES, wg, sup], onlyDefault, flow)?.priority, 100);
});

Deno.test("answeringRule() with the answer's table names no rule of another table (a selector it cannot judge decided)", () => {
  const marked = rule(100, { table: 77, fwmark: 0x10 }); // not matched: the flow is unmarked
  const routes = [...ROUTES, route("10.244.1.0/24", 77)];
  assertEquals(answeringRule([...DEFAULT_RULES, marked], routes, flow, 77), undefined);
  assertEquals(answeringRule([...DEFAULT_RULES, marked], routes, flow)?.priority, 32766);
});

Deno.test("ruleCause()/answeringRule(): a marked flow meets fwmark X/MASK when the marks agree under the mask", () => {
  const r77 = rule(100, { table: 77, fwmark: 0x10 });
  const routes = [...ROUTES, route("10.244.1.0/24", 77)];
  assertEquals(answeringRule([...DEFAULT_RULES, r77], routes, { ...flow, mark: 0x10 })?.table, 77);
  assertEquals(answeringRule([...DEFAULT_RULES, r77], routes, { ...flow, mark: 0x20 })?.table, 254);
  const masked = rule(90, { action: "blackhole", fwmark: 0x4000, fwmask: 0x4000 });
  const c = ruleCause([...DEFAULT_RULES, masked], ROUTES, { ...flow, mark: 0x4010 });
  assertEquals(c?.kind === "rule" ? c.rule.priority : undefined, 90);
  assertEquals(ruleCause([...DEFAULT_RULES, masked], ROUTES, { ...flow, mark: 0x10 }), undefined);
});

Deno.test("ruleCause(): a goto that jumps over main's lookup is the cause; one that lands before main is not", () => {
  const g = rule(10, { action: "goto", goto: 32767, dst: "10.244.1.0/24" });
  const c = ruleCause([...DEFAULT_RULES, g], ROUTES, flow);
  assertEquals(c?.kind === "rule" ? c.text : c, "10: from all to 10.244.1.0/24 goto 32767");
  assertEquals(
    ruleFix("", c!),
    "ip rule del pref 10  # 10: from all to 10.244.1.0/24 goto 32767",
  );
  // A goto to a rule before main, or to a missing preference (passed over), decides nothing.
  const short = rule(10, { action: "goto", goto: 20, dst: "10.244.1.0/24" });
  assertEquals(
    ruleCause([...DEFAULT_RULES, short, rule(20, { table: 7 })], ROUTES, flow),
    undefined,
  );
  assertEquals(ruleCause([...DEFAULT_RULES, { ...g, goto: 30000 }], ROUTES, flow), undefined);
  // A goto into a table that answers: that table's rule answers the flow.
  const t7 = [...ROUTES, route("10.244.1.0/24", 7)];
  const into = [...DEFAULT_RULES, { ...g, goto: 40 }, rule(40, { table: 7 })];
  assertEquals(answeringRule(into, t7, flow)?.priority, 40);
  // A goto that skips a discarding rule: the walk never meets it.
  const skipped = [...DEFAULT_RULES, { ...g, goto: 32766 }, rule(20, { action: "prohibit" })];
  assertEquals(ruleCause(skipped, ROUTES, flow), undefined);
});

Deno.test("ruleCause(): an ipproto rule matches only its protocol", () => {
  const p = rule(50, { action: "prohibit", ipProto: 1 });
  assertEquals(ruleCause([...DEFAULT_RULES, p], ROUTES, flow)?.kind, "rule");
  assertEquals(ruleCause([...DEFAULT_RULES, p], ROUTES, { ...flow, ipProto: 6 }), undefined);
  assertEquals(ruleText(p), "50: from all ipproto icmp prohibit");
});
