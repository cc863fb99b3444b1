/**
 * `skein lab diagnose` on a udp lab (namespaces, the real daemons): a rule dropping the udp
 * backend's source port (its socket is bound to 8285 at both ends) on the sending node's output
 * or the receiving node's input fails netfilter.output / underlay.port with the rule's handle;
 * another program bound to the node's UDP 8285 after its daemon stopped keeps the daemon from
 * binding again; `udp.socket` names that process (not a pass because something listens there)
 * and the kill that frees it.
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { labDiagnose } from "../lab/mod.ts";
import type { Report } from "../diagnose/mod.ts";
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

function alive(pid: number): boolean {
  try {
    return !Deno.readTextFileSync(`/proc/${pid}/stat`).includes(") Z ");
  } catch {
    return false;
  }
}

/**
 * The audit's drops of the udp backend's source port, one at a time: on n1's output (the packet
 * to n2 leaves from 8285) and n2's input (it arrives from 8285). Each is named with its handle,
 * and the pair passes again once it is gone.
 */
async function sourcePortDrops(lab: string, node: (n: string) => { netns: string }) {
  const cases = [
    ["n1", "output", "meta l4proto udp th sport 8285 counter drop", "netfilter.output"],
    ["n2", "input", "udp sport 8285 drop", "underlay.port"],
  ] as const;
  for (const [n, hook, rule, id] of cases) {
    const netns = node(n).netns;
    const script =
      `table ip skdsport {\n chain c {\n  type filter hook ${hook} priority 0;\n  ${rule}\n }\n}\n`;
    const add = await runCommand(["ip", "netns", "exec", netns, "nft", "-f", "-"], {
      stdin: script,
    });
    assert(add.success, add.stderr);
    try {
      const r = await labDiagnose(lab, "n1-p1", "n2-p1");
      const c = r.checks.find((x) => x.id === id && x.node === n);
      assert(c?.status === "fail", show(r));
      assertStringIncludes(String(c.evidence.packet), "sport 8285 dport 8285");
      assertStringIncludes(String(c.evidence.droppedBy), "ip skdsport c handle");
      assertStringIncludes(c.fix!, `ip netns exec ${netns} nft delete rule ip skdsport c handle`);
    } finally {
      await runCommand(["ip", "netns", "exec", netns, "nft", "delete", "table", "ip", "skdsport"]);
    }
    const after = await labDiagnose(lab, "n1-p1", "n2-p1");
    assertEquals(after.checks.filter((c) => c.status === "fail"), [], show(after));
  }
}

const HOLD =
  "const l = Deno.listenDatagram({ port: 8285, transport: 'udp', hostname: Deno.args[0] }); " +
  "console.log('bound'); for await (const _ of l) { /* hold the port */ }";

Deno.test({
  name:
    "diagnose udp: a drop of the source port 8285 is named with its rule; another program on the node's UDP 8285 is named by udp.socket with its pid",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("dudp", { backend: "udp", nodes: 2, podsPerNode: 1, leaseTtl: 120 }, async (lab) => {
      const n1 = lab.plan.nodes.find((n) => n.name === "n1")!;
      const ip = n1.ip;
      const ok = await labDiagnose(lab.plan.options.name, "n1-p1", "n2-p1");
      assertEquals(
        ok.checks.filter((c) => c.id === "udp.socket").map((c) => c.status),
        ["pass", "pass"],
        show(ok),
      );
      await sourcePortDrops(
        lab.plan.options.name,
        (n) => lab.plan.nodes.find((x) => x.name === n)!,
      );
      const daemon = lab.state.daemons.find((d) => d.node === "n1")!.pid;
      Deno.kill(daemon, "SIGTERM");
      for (let i = 0; i < 100 && alive(daemon); i++) await new Promise((r) => setTimeout(r, 100));
      assert(!alive(daemon), `n1's daemon ${daemon} did not stop`);
      const holder = new Deno.Command("ip", {
        args: ["netns", "exec", n1.netns, Deno.execPath(), "eval", "--unstable-net", HOLD, ip],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      try {
        const reader = holder.stdout.getReader();
        const first = new TextDecoder().decode((await reader.read()).value);
        assertStringIncludes(first, "bound");
        reader.releaseLock();
        const r = await labDiagnose(lab.plan.options.name, "n1-p1", "n2-p1");
        const c = r.checks.find((x) => x.id === "udp.socket" && x.node === "n1");
        assert(c?.status === "fail", show(r));
        assertStringIncludes(c.summary, `pid ${holder.pid} (deno) holds UDP ${ip}:8285`);
        assert(c.fix!.startsWith(`kill ${holder.pid}`), c.fix);
      } finally {
        try {
          holder.kill("SIGKILL");
        } catch { /* already gone */ }
        await holder.stdout.cancel().catch(() => {});
        await holder.status;
      }
    }),
});
