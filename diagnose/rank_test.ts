import { assertEquals } from "../testing/assert.ts";
import { type CheckResult, fail, pass, skip, verdictOf, warn } from "./check.ts";
import { rankChecks } from "./rank.ts";

const ids = (cs: CheckResult[]) => cs.map((c) => `${c.status} ${c.id} ${c.node}`);

Deno.test("rankChecks() puts failures first, then warnings, skips and passes", () => {
  const r = rankChecks([
    pass("route.fib", "n1", ""),
    skip("daemon.reconcile", "n1", ""),
    warn("ipam.leaks", "n1", ""),
    fail("mtu.pod", "n1", ""),
  ]);
  assertEquals(ids(r), [
    "fail mtu.pod n1",
    "warn ipam.leaks n1",
    "skip daemon.reconcile n1",
    "pass route.fib n1",
  ]);
});

Deno.test("rankChecks() ranks the cause (ip_forward=0) before the failed lookup and probe it causes", () => {
  const r = rankChecks([
    fail("probe.icmp", "-", "no reply"),
    fail("route.fib", "n2", "EHOSTUNREACH"),
    fail("route.missing", "n1", ""),
    fail("sysctl.ip_forward", "n2", "off"),
  ]);
  assertEquals(ids(r), [
    "fail sysctl.ip_forward n2",
    "fail route.missing n1",
    "fail route.fib n2",
    "fail probe.icmp -",
  ]);
});

Deno.test("rankChecks() keeps the source node first at equal rank and is otherwise stable", () => {
  const r = rankChecks([
    fail("vxlan.fdb", "n2", "a"),
    fail("vxlan.fdb", "n1", "b"),
    fail("vxlan.neigh", "n1", "c"),
  ], ["n1", "n2"]);
  assertEquals(r.map((c) => c.summary), ["b", "c", "a"]);
});

Deno.test("rankChecks() puts unknown families after the known ones", () => {
  const r = rankChecks([fail("zzz.thing", "n1", ""), fail("conntrack.full", "n1", "")]);
  assertEquals(ids(r), ["fail conntrack.full n1", "fail zzz.thing n1"]);
});

Deno.test("verdictOf(): fail beats warn beats pass; skip counts as pass", () => {
  assertEquals(verdictOf([pass("a.b", "n", ""), skip("a.c", "n", "")]), "pass");
  assertEquals(verdictOf([pass("a.b", "n", ""), warn("a.c", "n", "")]), "warn");
  assertEquals(verdictOf([warn("a.b", "n", ""), fail("a.c", "n", "")]), "fail");
});

Deno.test("rankChecks() puts a check naming its family's cause (bgp.port) before that family's others, on any node", () => {
  const r = rankChecks([
    fail("bgp.sessions", "n1", ""),
    fail("bgp.sessions", "n2", ""),
    fail("bgp.port", "n2", ""),
  ], ["n1", "n2"]);
  assertEquals(ids(r), ["fail bgp.port n2", "fail bgp.sessions n1", "fail bgp.sessions n2"]);
});

Deno.test("rankChecks() ranks a foreign route that takes a subnet before the wrong device it causes", () => {
  const r = rankChecks([fail("route.wrong_dev", "n2", ""), fail("route.foreign", "n2", "")]);
  assertEquals(ids(r), ["fail route.foreign n2", "fail route.wrong_dev n2"]);
});
