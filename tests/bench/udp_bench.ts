/**
 * udp backend vs vxlan (root), in one run: two 2-node labs (one pod per node) built one after
 * the other, and on each, pod → pod across the nodes:
 *
 * - TCP throughput: `iperf3 -c <pod> -t S -J` (sender bits/s), median of `--rounds`;
 * - round-trip time: `ping -c N -i 0.01` (per-reply times), p50 and p99.
 *
 * Printed side by side with udp/vxlan ratios and the targets of issue 12 (throughput ≥ 25 % of
 * vxlan and ≥ 1 Gb/s; p50 RTT at most 0.2 ms above vxlan's). Also prints the load average: on a
 * shared machine the numbers move with it.
 *
 * Run: deno run -A tests/bench/udp_bench.ts [--rounds N] [--seconds S] [--pings N]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Lab, labDefaults, labDown, labUp } from "../../lab/mod.ts";
import { runCommand } from "../../lab/_proc.ts";
import { sleep } from "../../store/sleeper.ts";
import { testPrefix } from "../_netns.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    pings: { type: "string", default: "300" },
  },
});
const ROUNDS = Number(flags.rounds), SECONDS = Number(flags.seconds), PINGS = Number(flags.pings);

interface Result {
  gbps: number[];
  rttMs: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! : NaN;
}

async function iperf(lab: Lab): Promise<number> {
  const [a, b] = lab.state.pods;
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const server = runCommand(["ip", "netns", "exec", b!.netns, "iperf3", "-s", "-1", "-p", port]);
  await sleep(500);
  const r = await runCommand([
    "ip",
    "netns",
    "exec",
    a!.netns,
    "iperf3",
    "-c",
    b!.ip!,
    "-p",
    port,
    "-t",
    String(SECONDS),
    "-J",
  ]);
  await server;
  if (!r.success) throw new Error(`iperf3 failed: ${r.stderr}${r.stdout.slice(0, 300)}`);
  return JSON.parse(r.stdout).end.sum_sent.bits_per_second / 1e9;
}

async function rtts(lab: Lab): Promise<number[]> {
  const [a, b] = lab.state.pods;
  const r = await runCommand([
    "ip",
    "netns",
    "exec",
    a!.netns,
    "ping",
    "-c",
    String(PINGS),
    "-i",
    "0.01",
    "-q",
    "-n",
    b!.ip!,
  ].filter((x) => x !== "-q"));
  return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

async function measure(backend: "vxlan" | "udp"): Promise<Result> {
  const o = labDefaults({
    name: `${testPrefix()}b${backend[0]}`,
    nodes: 2,
    podsPerNode: 1,
    backend,
    reconcilePeriod: 5,
  });
  try {
    const up = await labUp(o);
    if (!up.ok) throw new Error(`lab ${backend}: pods cannot reach each other\n${up.matrixText}`);
    const res: Result = { gbps: [], rttMs: [] };
    for (let i = 0; i < ROUNDS; i++) res.gbps.push(await iperf(up.lab));
    res.rttMs = await rtts(up.lab); // after the transfers: daemons settled, code warm
    return res;
  } finally {
    await labDown(o.name);
  }
}

const load = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
const loadBefore = load();
const vx = await measure("vxlan");
const udp = await measure("udp");
const row = (name: string, v: number, u: number, digits: number, target: string) =>
  `| ${name.padEnd(26)} | ${v.toFixed(digits).padStart(8)} | ${u.toFixed(digits).padStart(8)} | ${
    (u / v).toFixed(3).padStart(9)
  } | ${target.padEnd(30)} |`;
const tv = median(vx.gbps), tu = median(udp.gbps);
const p50v = pct(vx.rttMs, 0.5), p50u = pct(udp.rttMs, 0.5);
console.log(`udp backend vs vxlan, 2-node lab, pod → pod (load average ${loadBefore} → ${load()})`);
console.log(
  `| ${"".padEnd(26)} | ${"vxlan".padStart(8)} | ${"udp".padStart(8)} | udp/vxlan | ${
    "target (issue 12)".padEnd(30)
  } |`,
);
console.log(
  `|${"-".repeat(28)}|${"-".repeat(10)}|${"-".repeat(10)}|${"-".repeat(11)}|${"-".repeat(32)}|`,
);
console.log(
  row(
    `TCP Gb/s (median of ${ROUNDS})`,
    tv,
    tu,
    2,
    `≥ 0.25 and ≥ 1 Gb/s: ${tu / tv >= 0.25 && tu >= 1 ? "met" : "MISSED"}`,
  ),
);
console.log(
  row(
    `RTT p50 ms (${PINGS} pings)`,
    p50v,
    p50u,
    3,
    `+${(p50u - p50v).toFixed(3)} ms ≤ 0.2: ${p50u - p50v <= 0.2 ? "met" : "MISSED"}`,
  ),
);
console.log(row("RTT p99 ms", pct(vx.rttMs, 0.99), pct(udp.rttMs, 0.99), 3, ""));
console.log(
  `runs: vxlan ${vx.gbps.map((x) => x.toFixed(2)).join(", ")} Gb/s; udp ${
    udp.gbps.map((x) => x.toFixed(2)).join(", ")
  } Gb/s`,
);
console.log(
  `command: deno run -A tests/bench/udp_bench.ts --rounds ${ROUNDS} --seconds ${SECONDS} --pings ${PINGS}`,
);
