/**
 * `skein lab diagnose` and firewall marks (root): the kernel's FIB lookups diagnose makes carry no
 * mark, so when a node's ruleset marks the flow before routing (`meta mark set` in prerouting) and
 * a policy rule on that fwmark sends it to another table (here a blackhole), route.fib says it
 * cannot judge, naming the marking rule, instead of a confident pass. A mark restored from
 * conntrack (`meta mark set ct mark`) names the restoring rule, the mark the ruleset stores there
 * (`ct mark set 0x10`), the kernel's answer with that mark and the policy rule it meets.
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { labDiagnose } from "../lab/mod.ts";
import { runCommand } from "../lab/_proc.ts";
import { withLab } from "./_diag_lab.ts";

const isRoot = Deno.uid() === 0;

async function sh(argv: string[], stdin?: string): Promise<void> {
  const r = await runCommand(argv, stdin === undefined ? {} : { stdin });
  if (!r.success) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

Deno.test({
  name:
    "diagnose: a flow marked in prerouting with a policy rule on that fwmark -> route.fib cannot judge, naming the marking rule",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("dmark", { backend: "vxlan", nodes: 2, podsPerNode: 1 }, async (lab) => {
      const n1 = lab.plan.nodes.find((x) => x.name === "n1")!;
      const n2 = lab.plan.nodes.find((x) => x.name === "n2")!;
      const subnet2 = JSON.parse(Deno.readTextFileSync(n2.leaseFile)).subnet as string;
      const inN1 = ["ip", "netns", "exec", n1.netns];
      const pod = (name: string) => lab.state.pods.find((p) => p.name === name)!.ip!;
      const fib = async () =>
        (await labDiagnose(lab.plan.options.name, "n1-p1", "n2-p1")).checks
          .filter((c) => c.id === "route.fib" && c.node === "n1");
      try {
        await sh([...inN1, ..."ip route add blackhole default table 4242".split(" ")]);
        await sh([...inN1, ..."ip rule add fwmark 0x10 lookup 4242 pref 4242".split(" ")]);
        // The rule alone: the flow is unmarked, the lookups are exact.
        assert((await fib()).every((c) => c.status === "pass"));
        await sh(
          [...inN1, "nft", "-f", "-"],
          `table inet dmark {\n chain pre {\n  type filter hook prerouting priority mangle; policy accept;\n  ip daddr ${subnet2} meta mark set 0x10\n }\n}\n`,
        );
        const marked = (await fib()).filter((c) => c.status === "warn");
        assertEquals(marked.length, 1, JSON.stringify(await fib()));
        const c = marked[0]!;
        assertStringIncludes(c.summary, "cannot judge");
        assertStringIncludes(c.summary, "the flow is marked by rule inet dmark pre handle");
        assertStringIncludes(c.summary, "policy rules on fwmark were judged unmarked");
        assertStringIncludes(String(c.evidence.fwmarkRules), "fwmark 0x10");
        assertStringIncludes(
          c.fix ?? "",
          `ip netns exec ${n1.netns} ip route get ${
            lab.state.pods.find((p) => p.name === "n2-p1")!.ip
          } from ${lab.state.pods.find((p) => p.name === "n1-p1")!.ip} iif `,
        );
        // Looked up again with the mark: the kernel's answer and the rule it meets are named.
        assertStringIncludes(
          c.summary,
          'with mark 0x10 the kernel answers EINVAL by policy rule "4242: from all fwmark 0x10 lookup 4242"',
        );
        assertStringIncludes(
          c.fix ?? "",
          ` mark 0x10  # ip netns exec ${n1.netns} ip rule del pref 4242 removes`,
        );
        // The mark restored from conntrack instead, stored there by a forward rule: the restoring
        // rule, the stored mark and the policy rule it meets are named, with the marked lookup.
        await sh([...inN1, "nft", "delete", "table", "inet", "dmark"]);
        await sh(
          [...inN1, "nft", "-f", "-"],
          `table inet dmark {\n chain pre {\n  type filter hook prerouting priority mangle; policy accept;\n  meta mark set ct mark\n }\n chain fw {\n  type filter hook forward priority mangle; policy accept;\n  ip daddr ${subnet2} ct mark set 0x10\n }\n}\n`,
        );
        const restored = (await fib()).find((x) =>
          x.status === "warn" && x.summary.includes(`-> ${pod("n2-p1")} (forward`)
        );
        assert(restored, JSON.stringify(await fib()));
        const handle =
          /rule inet dmark pre handle (\d+) restores the connection's mark from conntrack \(meta mark set ct mark\)/
            .exec(restored.summary)?.[1];
        assert(handle, restored.summary);
        assert(
          /stores mark 0x10 by inet dmark fw handle \d+ /.test(restored.summary),
          restored.summary,
        );
        assertStringIncludes(
          restored.summary,
          'policy rule "4242: from all fwmark 0x10 lookup 4242"',
        );
        const fix = restored.fix ?? "";
        assertStringIncludes(fix, `from ${pod("n1-p1")} iif cni0 mark 0x10  #`);
        assertStringIncludes(fix, `ip netns exec ${n1.netns} ip rule del pref 4242`);
        assertStringIncludes(
          fix,
          `nft delete rule inet dmark pre handle ${handle} stops restoring it`,
        );
        assertEquals(restored.evidence.restoredFromConntrack, true);
        assertStringIncludes(String(restored.evidence.conntrackMarks), "-> EINVAL");
      } finally {
        await runCommand([...inN1, "nft", "delete", "table", "inet", "dmark"]);
        await runCommand([...inN1, ..."ip rule del pref 4242".split(" ")]);
        await runCommand([...inN1, ..."ip route flush table 4242".split(" ")]);
      }
    }),
});
