/**
 * Integration (root): tc filters read through rtnetlink (Handle.tcFilters), checked against what
 * `tc` itself set up and prints, in fresh namespaces: u32 match-all and selective filters with
 * mirred redirects (the bandwidth plugin's ifb pattern among them), on an ingress qdisc and on
 * clsact's two hooks. This kernel has no gact or matchall (skipped with the reason when absent).
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { openHandle } from "../net/mod.ts";
import { withNamespaces } from "./_netns.ts";
import { nsNameOf } from "./net_oracle.ts";

/** `tc -n NS ARGS` (a string is split on spaces). */
function tc(ns: string, args: string | string[]): { ok: boolean; err: string } {
  const argv = typeof args === "string" ? args.split(" ") : args;
  const o = new Deno.Command("tc", { args: ["-n", nsNameOf(ns), ...argv], stderr: "piped" })
    .outputSync();
  return { ok: o.success, err: new TextDecoder().decode(o.stderr).trim() };
}

function must(ns: string, args: string | string[]): void {
  const r = tc(ns, args);
  if (!r.ok) throw new Error(`tc ${args}: ${r.err}`);
}

Deno.test("Handle.tcFilters(): u32 filters with mirred actions on ingress, egress; none on a bare link", async () => {
  await withNamespaces(["a"], (ns) => {
    const a = ns.a!;
    using h = openHandle({ netns: a });
    h.linkAdd({ kind: "veth", name: "v0", peer: { name: "v1" }, up: true });
    assertEquals(h.tcFilters("v0"), [], "no qdisc: no filters, no error");

    must(a, "qdisc add dev v0 clsact");
    must(
      a,
      "filter add dev v0 ingress protocol ip prio 5 u32 match u32 0 0 action mirred egress redirect dev lo",
    );
    must(
      a,
      "filter add dev v0 egress protocol ip prio 7 u32 match ip dst 10.9.0.0/16 action mirred ingress mirror dev v1",
    );
    const lo = h.linkGet("lo").index, v0 = h.linkGet("v0").index, v1 = h.linkGet("v1").index;
    const got = h.tcFilters("v0");
    assertEquals(got.map((f) => [f.hook, f.kind, f.prio, f.protocol, f.matchAll]), [
      ["ingress", "u32", 5, 0x0800, true],
      ["egress", "u32", 7, 0x0800, false],
    ]);
    assertEquals(got.map((f) => f.ifindex), [v0, v0]);
    assertEquals(got[0]!.actions.map((x) => [x.kind, x.mirred]), [
      ["mirred", { redirect: true, ingress: false, ifindex: lo }],
    ]);
    assertEquals(got[1]!.actions.map((x) => [x.kind, x.mirred]), [
      ["mirred", { redirect: false, ingress: true, ifindex: v1 }],
    ]);
    assertEquals(got[0]!.actions[0]!.verdict, 4); // TC_ACT_STOLEN: a redirect takes the packet

    // The bandwidth plugin's shape: an ingress qdisc, u32 match-all, redirect to an ifb device.
    must(a, "qdisc add dev v1 ingress");
    must(
      a,
      "filter add dev v1 parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev v0",
    );
    const v1f = h.tcFilters("v1");
    assertEquals(v1f.map((f) => [f.hook, f.protocol, f.matchAll, f.actions[0]?.mirred?.ifindex]), [
      ["ingress", 0x0003, true, v0],
    ]);

    // A classic BPF classifier (every packet) with a redirect: read as bpf, not judged by match.
    must(a, [
      ..."filter add dev v0 ingress prio 8 bpf bytecode".split(" "),
      "1,6 0 0 4294967295,", // one instruction: return (accept) every packet
      ..."action mirred egress redirect dev lo".split(" "),
    ]);
    const bpf = h.tcFilters("v0").find((f) => f.prio === 8)!;
    assertEquals([bpf.kind, bpf.hook, bpf.protocol, bpf.bpf], ["bpf", "ingress", 0x0003, {
      directAction: false,
    }]);
    assertEquals(bpf.actions.map((x) => x.mirred?.ifindex), [lo]);

    const gact = tc(a, "filter add dev v0 egress protocol ip prio 9 u32 match u32 0 0 action drop");
    if (!gact.ok) {
      console.log(`  skipped gact: this kernel has no gact action (${gact.err.split("\n")[0]})`);
      return;
    }
    const drop = h.tcFilters("v0").find((f) => f.prio === 9)!;
    assertEquals([drop.actions[0]!.kind, drop.actions[0]!.verdict], ["gact", 2]);
    assert(drop.matchAll);
  });
});
