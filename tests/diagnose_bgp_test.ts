/**
 * `skein lab diagnose` on a bgp lab (namespaces, the real speakers): a healthy pair has every
 * session Established; a route the speaker learnt but the kernel lost (the daemon stopped so it
 * cannot put it back) is `route.missing` with a fix that re-adds it as `proto bgp`, the protocol
 * the speaker owns: running that fix leaves no route.* failure (a `proto 100` route would be
 * foreign to it).
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { labDiagnose } from "../lab/mod.ts";
import type { CheckResult, Report } from "../diagnose/mod.ts";
import { evidenceText } from "../diagnose/render.ts";
import { runCommand } from "../lab/_proc.ts";
import { withLab } from "./_diag_lab.ts";

const isRoot = Deno.uid() === 0;

function show(r: Report): string {
  return r.checks.filter((c) => c.status !== "pass")
    .map((c) =>
      `${c.status} ${c.id} [${c.node}] ${c.summary} | ${evidenceText(c.evidence)} | fix: ${c.fix}`
    ).join("\n");
}

const fails = (r: Report): CheckResult[] => r.checks.filter((c) => c.status === "fail");

Deno.test({
  name: "diagnose bgp: a kernel route the speaker learnt is re-added as proto bgp by the fix",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("dbgp", { backend: "bgp", nodes: 2, podsPerNode: 1, leaseTtl: 120 }, async (lab) => {
      const name = lab.plan.options.name;
      const ok = await labDiagnose(name, "n1-p1", "n2-p1");
      assertEquals(fails(ok), [], show(ok));
      const sessions = ok.checks.filter((c) => c.id === "bgp.sessions");
      assertEquals(sessions.map((c) => c.status), ["pass", "pass"], show(ok));
      const n1 = lab.plan.nodes.find((n) => n.name === "n1")!;
      const pid = lab.state.daemons.find((d) => d.node === "n1")!.pid;
      const n2Subnet: string = JSON.parse(
        Deno.readTextFileSync(lab.plan.nodes.find((n) => n.name === "n2")!.leaseFile),
      ).subnet;
      Deno.kill(pid, "SIGSTOP");
      try {
        const del = await runCommand(
          ["ip", "-n", n1.netns, "route", "del", n2Subnet, "proto", "bgp"],
        );
        assert(del.success, del.stderr);
        const r = await labDiagnose(name, "n1-p1", "n2-p1");
        const missing = r.checks.find((c) => c.id === "route.missing" && c.node === "n1");
        assert(missing?.status === "fail", show(r));
        const fix = missing.fix!.split("  #")[0]!;
        assertStringIncludes(fix, `ip route replace ${n2Subnet} via`);
        assert(fix.endsWith(" proto bgp"), fix);
        const run = await runCommand(["sh", "-c", fix]);
        assert(run.success, run.stderr);
        const after = await labDiagnose(name, "n1-p1", "n2-p1");
        assertEquals(
          fails(after).filter((c) => c.id.startsWith("route.")).map((c) => c.id),
          [],
          show(after),
        );
      } finally {
        Deno.kill(pid, "SIGCONT");
      }
    }),
});
