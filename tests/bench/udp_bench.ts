/**
 * udp backend vs vxlan (root), in one run: two 2-node labs (one pod per node), both up at the
 * same time, measured in alternation so both see the same load on a shared machine; on each,
 * pod → pod across the nodes:
 *
 * - TCP throughput: `iperf3 -c <pod> -t S -J` (sender bits/s), one vxlan and one udp run per
 *   round, `--rounds` rounds; the ratio is the median of the per-round ratios;
 * - round-trip time: `ping` (per-reply times) in 5 alternating chunks of `--pings`/5, p50 and
 *   p99 over all, at two spacings: 10 ms (`-i 0.01`: between pings every thread sleeps and the
 *   CPUs go idle, so each of the udp path's three thread wake-ups — the sending node's worker, the
 *   receiving node's, the sending node's again for the reply — may wait for an idle CPU to wake)
 *   and 1 ms (`-i 0.001`: a steady request stream, the threads' wake-ups find the CPUs awake). On
 *   a virtual machine an idle vCPU's wake-up is expensive, and the first spacing shows it.
 *
 * Printed side by side with udp/vxlan ratios and the targets of issue 12 (throughput ≥ 25 % of
 * vxlan and ≥ 1 Gb/s; p50 RTT at most 0.2 ms above vxlan's), and the udp worker's offload
 * counters (super-packets cut and merged). Also prints the load average: on a shared machine the
 * numbers move with it.
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
  /** `ping -i 0.01` */
  rttMs: number[];
  /** `ping -i 0.001` */
  rttBusyMs: number[];
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

async function rtts(lab: Lab, count: number, interval: string): Promise<number[]> {
  const [a, b] = lab.state.pods;
  const r = await runCommand([
    "ip",
    "netns",
    "exec",
    a!.netns,
    "ping",
    "-c",
    String(count),
    "-i",
    interval,
    "-n",
    b!.ip!,
  ]);
  return [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

async function offloadCounters(lab: Lab): Promise<string> {
  const out: string[] = [];
  for (const d of lab.state.daemons) {
    const text = await (await fetch(`http://${d.listen}/metrics`)).text();
    const v = (kind: string) =>
      text.split("\n").find((l) => l.startsWith(`skein_udp_offload_total{kind="${kind}"}`))
        ?.split(" ").pop() ?? "?";
    out.push(`${d.node} cut ${v("segmented")} merged ${v("merged")}`);
  }
  return out.join("; ");
}

/** Lab names, recorded before each is built, so a failed build is torn down too. */
const names: string[] = [];

async function up(backend: "vxlan" | "udp"): Promise<Lab> {
  const o = labDefaults({
    name: `${testPrefix()}b${backend[0]}`,
    nodes: 2,
    podsPerNode: 1,
    backend,
    reconcilePeriod: 5,
  });
  names.push(o.name);
  const r = await labUp(o);
  if (!r.ok) throw new Error(`lab ${backend}: pods cannot reach each other\n${r.matrixText}`);
  return r.lab;
}

const load = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
const loadBefore = load();
const vx: Result = { gbps: [], rttMs: [], rttBusyMs: [] };
const udp: Result = { gbps: [], rttMs: [], rttBusyMs: [] };
const ratios: number[] = [];
let offload = "";
try {
  const lv = await up("vxlan"), lu = await up("udp");
  for (let i = 0; i < ROUNDS; i++) {
    vx.gbps.push(await iperf(lv));
    udp.gbps.push(await iperf(lu));
    ratios.push(udp.gbps[i]! / vx.gbps[i]!);
  }
  // After the transfers: daemons settled, code warm. Alternating chunks share the load.
  for (let i = 0; i < 5; i++) {
    vx.rttMs.push(...await rtts(lv, Math.ceil(PINGS / 5), "0.01"));
    udp.rttMs.push(...await rtts(lu, Math.ceil(PINGS / 5), "0.01"));
    vx.rttBusyMs.push(...await rtts(lv, Math.ceil(PINGS / 5), "0.001"));
    udp.rttBusyMs.push(...await rtts(lu, Math.ceil(PINGS / 5), "0.001"));
  }
  offload = await offloadCounters(lu);
} finally {
  for (const name of names) await labDown(name);
}
const row = (name: string, v: number, u: number, digits: number, target: string, r = u / v) =>
  `| ${name.padEnd(26)} | ${v.toFixed(digits).padStart(8)} | ${u.toFixed(digits).padStart(8)} | ${
    r.toFixed(3).padStart(9)
  } | ${target.padEnd(30)} |`;
const tv = median(vx.gbps), tu = median(udp.gbps), ratio = median(ratios);
const p50v = pct(vx.rttMs, 0.5), p50u = pct(udp.rttMs, 0.5);
const b50v = pct(vx.rttBusyMs, 0.5), b50u = pct(udp.rttBusyMs, 0.5);
console.log(
  `udp backend vs vxlan, 2-node labs, pod → pod, alternating, ${PINGS} pings per spacing (load average ${loadBefore} → ${load()})`,
);
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
    `≥ 0.25 and ≥ 1 Gb/s: ${ratio >= 0.25 && tu >= 1 ? "met" : "MISSED"}`,
    ratio,
  ),
);
console.log(
  row(
    "RTT p50 ms, ping -i 0.01",
    p50v,
    p50u,
    3,
    `+${(p50u - p50v).toFixed(3)} ms ≤ 0.2: ${p50u - p50v <= 0.2 ? "met" : "MISSED"}`,
  ),
);
console.log(row("RTT p99 ms, ping -i 0.01", pct(vx.rttMs, 0.99), pct(udp.rttMs, 0.99), 3, ""));
console.log(
  row(
    "RTT p50 ms, ping -i 0.001",
    b50v,
    b50u,
    3,
    `+${(b50u - b50v).toFixed(3)} ms ≤ 0.2: ${b50u - b50v <= 0.2 ? "met" : "MISSED"}`,
  ),
);
console.log(
  row("RTT p99 ms, ping -i 0.001", pct(vx.rttBusyMs, 0.99), pct(udp.rttBusyMs, 0.99), 3, ""),
);
console.log(
  `runs: vxlan ${vx.gbps.map((x) => x.toFixed(2)).join(", ")} Gb/s; udp ${
    udp.gbps.map((x) => x.toFixed(2)).join(", ")
  } Gb/s; per-round udp/vxlan ${ratios.map((x) => x.toFixed(3)).join(", ")} (median above)`,
);
console.log(`udp offload counters: ${offload}`);
console.log(
  `command: deno run -A tests/bench/udp_bench.ts --rounds ${ROUNDS} --seconds ${SECONDS} --pings ${PINGS}`,
);
