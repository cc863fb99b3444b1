/**
 * `skein diagnose` against faults an SRE meets that diagnose_faults_test.ts does not inject: one
 * vxlan lab of two nodes with two pods each, broken one fault at a time inside the lab's
 * namespaces. Each case asserts the check that names the cause, its evidence and the exact fix,
 * then restores and sees the pair healthy again. A fault in an object the daemon owns is injected
 * with that node's daemon stopped (SIGSTOP) and continued on restore.
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { type Lab, labDiagnose } from "../lab/mod.ts";
import type { CheckResult, Report } from "../diagnose/mod.ts";
import { evidenceText } from "../diagnose/render.ts";
import { runCommand } from "../lab/_proc.ts";
import { sleep } from "../store/sleeper.ts";
import { withLab } from "./_diag_lab.ts";

const isRoot = Deno.uid() === 0;

async function sh(...argv: string[]): Promise<string> {
  const r = await runCommand(argv);
  if (!r.success) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** `nft -f -` of `script` inside namespace `netns`. */
async function nftScript(netns: string, script: string): Promise<void> {
  const r = await runCommand(["nsenter", `--net=/run/netns/${netns}`, "nft", "-f", "-"], {
    stdin: script,
  });
  if (!r.success) throw new Error(`nft -f - in ${netns}: ${r.stderr}`);
}

function fails(r: Report): CheckResult[] {
  return r.checks.filter((c) => c.status === "fail");
}

function show(r: Report): string {
  return r.checks.filter((c) => c.status !== "pass")
    .map((c) =>
      `${c.status} ${c.id} [${c.node}] ${c.summary} | ${evidenceText(c.evidence)} | fix: ${c.fix}`
    ).join("\n");
}

/** Diagnoses until `ok` says the report is as wanted (the kernel and daemons settle), or fails. */
async function diagnoseUntil(
  lab: Lab,
  pair: [string, string],
  ok: (r: Report) => boolean,
  what: string,
): Promise<Report> {
  const t0 = Date.now();
  let r = await labDiagnose(lab.plan.options.name, pair[0], pair[1]);
  while (!ok(r) && Date.now() - t0 < 20_000) {
    await sleep(200);
    r = await labDiagnose(lab.plan.options.name, pair[0], pair[1]);
  }
  assert(ok(r), `${what}; the report:\n${show(r)}`);
  return r;
}

/** Asserts that check `id` on `node` fails (or `status`), with `evidence` and `fix` in it. */
function expectCheck(
  r: Report,
  want: { id: string; node: string; status?: "fail" | "warn"; evidence: string; fix: string },
): CheckResult {
  const c = r.checks.find((x) =>
    x.id === want.id && x.node === want.node && x.status === (want.status ?? "fail")
  );
  assert(c, `no ${want.status ?? "fail"} ${want.id} [${want.node}] in:\n${show(r)}`);
  assertStringIncludes(evidenceText(c.evidence), want.evidence);
  assertStringIncludes(c.fix ?? "", want.fix);
  return c;
}

const healthy = (r: Report) => fails(r).length === 0;

Deno.test({
  name: "diagnose: SRE faults (notrack, ...) are named with the exact fix, and the pair heals",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withLab("dsre", { backend: "vxlan", nodes: 2, podsPerNode: 2, leaseTtl: 120 }, async (lab) => {
      const ns = (n: string) => lab.plan.nodes.find((x) => x.name === n)!.netns;
      const pod = (p: string) => lab.state.pods.find((x) => x.name === p)!;
      const pid = (n: string) => lab.state.daemons.find((d) => d.node === n)!.pid;
      const stop = (n: string) => Deno.kill(pid(n), "SIGSTOP");
      const cont = (n: string) => Deno.kill(pid(n), "SIGCONT");
      const inNs = (n: string, ...argv: string[]) => sh("ip", "netns", "exec", ns(n), ...argv);
      await diagnoseUntil(lab, ["n1-p1", "n2-p1"], healthy, "not healthy before any fault");

      /** Injects, checks, restores, and waits for the pair to be healthy again. */
      const fault = async (
        name: string,
        inject: () => Promise<unknown> | void,
        check: (r: Report) => Promise<void> | void,
        restore: () => Promise<unknown> | void,
        pair: [string, string] = ["n1-p1", "n2-p1"],
      ) => {
        await t.step(name, async () => {
          try {
            await inject();
            const r = await labDiagnose(lab.plan.options.name, pair[0], pair[1]);
            assertEquals(r.verdict, "fail", show(r));
            await check(r);
          } finally {
            await restore();
          }
          await diagnoseUntil(lab, pair, healthy, `${name}: not healthy after the restore`);
        });
      };

      await fault(
        "netfilter: a notrack in raw prerouting on n2 under an established-only forward chain -> netfilter.forward names the notrack rule",
        () =>
          nftScript(
            ns("n2"),
            `table inet sresre {\n chain raw {\n  type filter hook prerouting priority -300;\n  ip saddr ${
              pod("n1-p1").ip
            } notrack\n }\n chain fw {\n  type filter hook forward priority 0; policy drop;\n  ct state established,related accept\n  ct state new accept\n }\n}\n`,
          ),
        (r) => {
          const c = expectCheck(r, {
            id: "netfilter.forward",
            node: "n2",
            evidence: `untrackedBy=inet sresre raw handle`,
            fix: "nft delete rule inet sresre raw handle",
          });
          assertStringIncludes(c.summary, "notrack");
        },
        () => inNs("n2", "nft", "delete", "table", "inet", "sresre"),
      );
      void stop, cont;
    }),
});
