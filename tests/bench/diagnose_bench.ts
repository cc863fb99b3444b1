/**
 * `skein diagnose` speed (root), a plain script printing one table: a pair diagnosis on a 3-node
 * vxlan lab (in-process and as the CLI, i.e. with program start), with `--probe`, and `--node`,
 * each against its target from issue 9 (pair <= 5 s, --node <= 2 s; goal 1 s) as a ratio.
 * Not a test: nothing here asserts a time.
 *
 * Run: deno run -A tests/bench/diagnose_bench.ts [--rounds N]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { labDefaults, labDiagnose, labDown, labUp } from "../../lab/mod.ts";
import { runCommand } from "../../lab/_proc.ts";
import { cleanupOnInterrupt, testPrefix } from "../_netns.ts";
import { deleteLabNamespaces } from "../../lab/topology.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "10" } },
});
const ROUNDS = Number(flags.rounds);
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

function stats(xs: number[]): { median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? NaN, max: s[s.length - 1] ?? NaN };
}

async function time(fn: () => Promise<unknown>): Promise<number[]> {
  await fn(); // warm-up (module load, first netlink sockets)
  const out: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function cli(args: string[]): Promise<void> {
  const r = await runCommand([
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    "--cached-only",
    "--config",
    CONFIG,
    MAIN,
    ...args,
  ]);
  if (r.code !== 0) {
    throw new Error(`skein ${args.join(" ")} exited ${r.code}: ${r.stdout}${r.stderr}`);
  }
}

const name = `${testPrefix()}db`;
const unregister = cleanupOnInterrupt(() => deleteLabNamespaces(name, []));
try {
  const up = await labUp(
    labDefaults({ name, nodes: 3, podsPerNode: 2, backend: "vxlan", leaseTtl: 120 }),
  );
  if (!up.ok) throw new Error(`lab not healthy:\n${up.matrixText}`);
  const n1 = up.lab.plan.nodes[0]!;
  const ip = (p: string) => up.lab.state.pods.find((x) => x.name === p)!.ip!;
  const rows: [string, number[], number][] = [
    [
      "pair n1-p1 -> n3-p1 (in-process)",
      await time(() => labDiagnose(name, "n1-p1", "n3-p1")),
      5000,
    ],
    [
      "pair, skein lab diagnose (CLI, incl. start)",
      await time(() => cli(["lab", "diagnose", "--name", name, "n1-p1", "n3-p1"])),
      5000,
    ],
    [
      "pair, skein diagnose --config (CLI)",
      await time(() =>
        cli(["diagnose", "--config", n1.configFile, "--from", ip("n1-p1"), "--to", ip("n3-p1")])
      ),
      5000,
    ],
    [
      "pair --probe (in-process)",
      await time(() => labDiagnose(name, "n1-p1", "n3-p1", { probe: true })),
      5000,
    ],
    [
      "--node, skein diagnose (CLI)",
      await time(() => cli(["diagnose", "--node", "--config", n1.configFile])),
      2000,
    ],
  ];
  console.log(`skein diagnose on a 3-node vxlan lab, ${ROUNDS} rounds each (after one warm-up)\n`);
  console.log(
    `${"what".padEnd(46)} ${"median ms".padStart(10)} ${"max ms".padStart(8)} ${
      "target ms".padStart(10)
    } ${"median/target".padStart(14)} ${"median/goal 1 s".padStart(16)}`,
  );
  for (const [what, xs, target] of rows) {
    const s = stats(xs);
    console.log(
      `${what.padEnd(46)} ${s.median.toFixed(0).padStart(10)} ${s.max.toFixed(0).padStart(8)} ${
        String(target).padStart(10)
      } ${(s.median / target).toFixed(3).padStart(14)} ${
        (s.median / 1000).toFixed(3).padStart(16)
      }`,
    );
  }
  console.log(`\nCommand: deno run -A tests/bench/diagnose_bench.ts --rounds ${ROUNDS}`);
} finally {
  unregister();
  await labDown(name);
}
