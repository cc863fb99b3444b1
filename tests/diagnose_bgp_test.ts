/**
 * `skein lab diagnose` on a bgp lab (namespaces, the real speakers): a healthy pair has every
 * session Established; a firewall on the node that dials the session (n2, the higher address)
 * dropping the replies from 179 or its SYN to 179 fails bgp.port there at once, with the rule; a
 * route the speaker learnt but the kernel lost (the daemon stopped so it
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

/**
 * The audit's drops on the node that dials (n2 in the mesh: the higher address), one at a time:
 * its input's `tcp sport 179` (the replies) and its output's `tcp dport 179` (its SYN). Each fails
 * bgp.port on n2 statically, before any hold timer, with the rule; once gone the pair passes.
 */
async function dialerPortDrops(lab: string, netns: string): Promise<void> {
  const cases = [
    ["input", "tcp sport 179 drop", "the BGP (TCP 179) replies from n1"],
    ["output", "tcp dport 179 drop", "BGP (TCP 179) to n1"],
  ] as const;
  for (const [hook, rule, what] of cases) {
    const script =
      `table ip skdbgp {\n chain c {\n  type filter hook ${hook} priority 0;\n  ${rule}\n }\n}\n`;
    const add = await runCommand(["ip", "netns", "exec", netns, "nft", "-f", "-"], {
      stdin: script,
    });
    assert(add.success, add.stderr);
    try {
      const r = await labDiagnose(lab, "n1-p1", "n2-p1");
      const c = r.checks.find((x) => x.id === "bgp.port" && x.node === "n2");
      assert(c?.status === "fail", show(r));
      assertStringIncludes(c.summary, `n2's ruleset drops ${what}`);
      assertStringIncludes(String(c.evidence.droppedBy), `ip skdbgp c handle`);
      assertStringIncludes(c.fix!, `ip netns exec ${netns} nft delete rule ip skdbgp c handle`);
    } finally {
      await runCommand(["ip", "netns", "exec", netns, "nft", "delete", "table", "ip", "skdbgp"]);
    }
    const after = await labDiagnose(lab, "n1-p1", "n2-p1");
    assertEquals(fails(after), [], show(after));
  }
}

Deno.test({
  name:
    "diagnose bgp: drops of the dialer's BGP replies or SYN are named by bgp.port; a kernel route the speaker learnt is re-added as proto bgp by the fix",
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
      await dialerPortDrops(name, lab.plan.nodes.find((n) => n.name === "n2")!.netns);
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

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

function alive(pid: number): boolean {
  try {
    return !Deno.readTextFileSync(`/proc/${pid}/stat`).includes(") Z ");
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "diagnose bgp: a mesh node moved to another AS (Bad Peer AS 2/2) is named with the asNumber to set in its config",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("dbas", { backend: "bgp", nodes: 2, podsPerNode: 1, leaseTtl: 120 }, async (lab) => {
      const n2 = lab.plan.nodes.find((n) => n.name === "n2")!;
      const yaml = Deno.readTextFileSync(n2.configFile);
      assertStringIncludes(yaml, "  type: bgp\n");
      Deno.writeTextFileSync(
        n2.configFile,
        yaml.replace("  type: bgp\n", "  type: bgp\n  asNumber: 65099\n"),
      );
      const old = lab.state.daemons.find((d) => d.node === "n2")!.pid;
      Deno.kill(old, "SIGTERM");
      for (let i = 0; i < 100 && alive(old); i++) await new Promise((r) => setTimeout(r, 100));
      assert(!alive(old), `n2's daemon ${old} did not stop`);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", "--cached-only", "--config", CONFIG, MAIN, "daemon"]
          .concat(["--config", n2.configFile]),
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        let r: Report | undefined;
        // Both nodes' views: between n2's attempts n1's session may read "waits to connect".
        const refused = (x: Report) => {
          const f = x.checks.filter((c) => c.id === "bgp.sessions" && c.status === "fail");
          return f.length > 0 && f.every((c) => c.summary.includes("(2/2)"));
        };
        for (let i = 0; i < 100 && !(r && refused(r)); i++) {
          await new Promise((res) => setTimeout(res, 300));
          r = await labDiagnose(lab.plan.options.name, "n1-p1", "n2-p1");
        }
        assert(r && refused(r), r && show(r));
        const s = r.checks.filter((c) => c.id === "bgp.sessions" && c.status === "fail");
        assert(s.length > 0, show(r));
        for (const c of s) {
          assertStringIncludes(c.fix!, `set 'backend.asNumber: 64512' in ${n2.configFile}`);
          assertStringIncludes(c.fix!, "n2 AS 65099");
        }
      } finally {
        child.kill("SIGKILL");
        await child.status;
      }
    }),
});

Deno.test({
  name:
    "diagnose bgp: a session down to a third node warns on a pair whose path does not use it; the pair with that node fails",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("dbg3", { backend: "bgp", nodes: 3, podsPerNode: 1, leaseTtl: 120 }, async (lab) => {
      const name = lab.plan.options.name;
      const pid = lab.state.daemons.find((d) => d.node === "n2")!.pid;
      Deno.kill(pid, "SIGKILL");
      const down = (x: Report) =>
        x.checks.filter((c) => c.id === "bgp.sessions" && c.status !== "pass");
      let r: Report | undefined;
      for (let i = 0; i < 100 && !(r && down(r).length === 2); i++) {
        await new Promise((res) => setTimeout(res, 200));
        r = await labDiagnose(name, "n3-p1", "n1-p1");
      }
      assert(r && down(r).length === 2, r && show(r));
      // n1 and n3 each lost their session to n2: not this flow's path.
      assertEquals(down(r).map((c) => c.status), ["warn", "warn"], show(r));
      assertStringIncludes(down(r)[0]!.summary, "none to a node on this flow's path");
      assertEquals(fails(r), [], show(r));
      // The pair with n2 fails (its daemon is gone).
      const with2 = await labDiagnose(name, "n1-p1", "n2-p1");
      assert(
        with2.checks.some((c) => c.id === "bgp.sessions" && c.node === "n1" && c.status === "fail"),
        show(with2),
      );
    }),
});
