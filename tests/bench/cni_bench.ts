/**
 * CNI benchmark (root): skein vs the reference `bridge` + `host-local` on the same config
 * shape, same run. ADD and DEL latency (median, p95 over N pods, sequential) and wall time of
 * C concurrent ADDs, for skein served by the daemon (the plugin forwards to the CNI service
 * running in the host namespace) and in-process (no daemon), each printed side by side with
 * the reference and the ratio skein / reference. Also the start-up floor: an empty `deno run`,
 * skein's VERSION, and a call the daemon answers at once (the forwarding client's cost: the
 * launcher's perl client, cni/forward_fast.pl, and the Deno client it falls back to).
 *
 *   deno run -A tests/bench/cni_bench.ts [--pods 50] [--concurrent 30]
 *
 * skein runs through the launcher form (`deno run -A --cached-only main.ts`), or the installed
 * skein named by $SKEIN_BIN (e.g. install.sh's launcher), with the minimal environment a
 * container runtime gives.
 */
import { parseArgs } from "node:util";
import { withNamespaces } from "../_netns.ts";
import { callOk, callPlugin, cniBinDir, cniService, inNs } from "../_cni.ts";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "50" },
    concurrent: { type: "string", default: "30" },
  },
});
const PODS = Number(values.pods);
const CONC = Number(values.concurrent);

function stats(ms: number[]): { median: number; p95: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { median: at(0.5), p95: at(0.95) };
}

interface Impl {
  label: string;
  plugin: string;
  /** "daemon": forward to the CNI service; "off": in-process. */
  socket?: "daemon" | "off";
  conf: (dataDir: string) => Record<string, unknown>;
}

const skeinConf = (name: string, bridge: string, subnet: string) => (dataDir: string) => ({
  cniVersion: "1.0.0",
  name,
  type: "skein",
  bridge,
  isGateway: true,
  isDefaultGateway: true,
  ipam: { type: "skein", dataDir, subnet },
});

const impls: Impl[] = [
  {
    label: "bridge+host-local",
    plugin: "bridge",
    conf: (dataDir) => ({
      cniVersion: "1.0.0",
      name: "bench-ref",
      type: "bridge",
      bridge: "bref0",
      isGateway: true,
      isDefaultGateway: true,
      ipam: { type: "host-local", dataDir, subnet: "10.254.4.0/22" },
    }),
  },
  {
    label: "in-process",
    plugin: "skein",
    socket: "off",
    conf: skeinConf("bench-skein", "bsk0", "10.254.0.0/22"),
  },
  {
    label: "daemon",
    plugin: "skein",
    socket: "daemon",
    conf: skeinConf("bench-skeind", "bskd0", "10.254.8.0/22"),
  },
];

/**
 * CPU time (user + system, ms) of the processes this one has reaped: each plugin call is one
 * process (nsenter, env and the launcher exec into it), so the difference around a sequential
 * call is that call's CPU, whatever else the machine is doing.
 */
const rusage = Deno.dlopen("libc.so.6", {
  /** int getrusage(int who, struct rusage *usage) */
  getrusage: { parameters: ["i32", "buffer"], result: "i32" },
}).symbols;
function childrenCpuMs(): number {
  const ru = new BigInt64Array(18);
  rusage.getrusage(-1, /* RUSAGE_CHILDREN */ ru);
  return Number(ru[0]! + ru[2]!) * 1000 + Number(ru[1]! + ru[3]!) / 1000;
}

/** CPU ms of a process since it started (/proc/PID/stat utime + stime, at 100 ticks/s). */
function processCpuMs(pid: number): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Median wall time of `n` runs of a process inside `ns` with the runtime's bare environment. */
async function startup(ns: string, argv: string[], env: string[], n = 20): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    ms.push(
      await timeIt(() =>
        new Deno.Command("nsenter", {
          args: [`--net=${ns}`, "env", "-i", ...env, ...argv],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).output()
      ),
    );
  }
  return stats(ms).median;
}

const results: Record<
  string,
  { add: number[]; del: number[]; conc: number; cpuAdd: number[]; cpuDel: number[] }
> = {};
/** CPU ms the daemon's CNI service spent on the sequential ADDs and DELs. */
const daemonCpu = { add: 0, del: 0 };
const floor: Record<string, number> = {};
cniBinDir();
await withNamespaces(
  ["bhost", ...Array.from({ length: Math.max(PODS, CONC) }, (_, i) => `bp${i}`)],
  async (ns) => {
    const host = ns.bhost!;
    inNs(host, ["ip", "link", "set", "lo", "up"]);
    const pods = Array.from({ length: Math.max(PODS, CONC) }, (_, i) => ns[`bp${i}`]!);
    const socket = cniService(host);
    // The three take turns pod by pod (each with its own interface name in the pod), so a
    // change in the machine's load hits all of them alike.
    const dataDirs = impls.map(() => Deno.makeTempDirSync({ prefix: "skein-bench-" }));
    try {
      const calls = impls.map((impl, k) => {
        const conf = impl.conf(dataDirs[k]!);
        return (command: "ADD" | "DEL", i: number, prefix: string) =>
          callOk({
            command,
            conf,
            containerId: `${prefix}${i}`,
            netns: pods[i],
            ifName: `eth${k}`,
            hostNs: host,
            plugin: impl.plugin,
            env: { SKEIN_CNI_SOCKET: impl.socket === "daemon" ? socket : "off" },
          });
      });
      for (const call of calls) {
        // warm-up (creates the bridge, warms caches)
        await call("ADD", 0, "warm");
        await call("DEL", 0, "warm");
      }
      impls.forEach((impl) =>
        results[impl.label] = { add: [], del: [], conc: 0, cpuAdd: [], cpuDel: [] }
      );
      const servicePid = Number(
        new TextDecoder().decode(
          new Deno.Command("pgrep", { args: ["-f", socket], stdout: "piped" }).outputSync().stdout,
        ).trim().split("\n")[0],
      );
      for (const verb of ["ADD", "DEL"] as const) {
        for (let i = 0; i < PODS; i++) {
          for (const [k, call] of calls.entries()) {
            const r = results[impls[k]!.label]!;
            const cpu0 = childrenCpuMs();
            const d0 = impls[k]!.socket === "daemon" ? processCpuMs(servicePid) : 0;
            (verb === "ADD" ? r.add : r.del).push(await timeIt(() => call(verb, i, "s")));
            (verb === "ADD" ? r.cpuAdd : r.cpuDel).push(childrenCpuMs() - cpu0);
            if (impls[k]!.socket === "daemon") {
              daemonCpu[verb === "ADD" ? "add" : "del"] += processCpuMs(servicePid) - d0;
            }
          }
        }
      }
      for (const [k, call] of calls.entries()) {
        results[impls[k]!.label]!.conc = await timeIt(() =>
          Promise.all(Array.from({ length: CONC }, (_, i) => call("ADD", i, "c")))
        );
        await Promise.all(Array.from({ length: CONC }, (_, i) => call("DEL", i, "c")));
      }
    } finally {
      for (const d of dataDirs) Deno.removeSync(d, { recursive: true });
    }
    // Start-up floor, same launcher form as the plugin.
    const empty = Deno.makeTempFileSync({ prefix: "skein-empty-", suffix: ".ts" });
    const launcher = Deno.readTextFileSync(`${cniBinDir()}/skein`);
    // The daemon answers at once (CNI_IFNAME missing): the forwarding client's whole cost.
    const clientEnv = [
      "CNI_COMMAND=DEL",
      "CNI_CONTAINERID=x",
      "CNI_PATH=/usr/lib/cni",
      `SKEIN_CNI_SOCKET=${socket}`,
    ];
    // The launcher without its perl forwarding client: the Deno client (cni/forward.ts).
    const denoOnly = launcher.replaceAll("[ -x /usr/bin/perl ]", "false");
    const denoLauncher = `${empty}.deno.sh`;
    Deno.writeTextFileSync(denoLauncher, denoOnly, { mode: 0o755 });
    if (/main\.[jt]s'/.test(launcher)) {
      // The same launcher with an empty module instead of main.ts (and the plugin's bundled
      // main.js), run the way a plugin call is (CNI_* set: the launcher's plugin branch).
      const emptyLauncher = `${empty}.sh`;
      Deno.writeTextFileSync(
        emptyLauncher,
        denoOnly.replaceAll(/'[^']*main\.[jt]s'/g, `'${empty}'`),
        { mode: 0o755 },
      );
      floor["empty deno run"] = await startup(host, [emptyLauncher], clientEnv);
      // What 30 processes of any Deno program cost at once on this machine (against the
      // reference's 30 concurrent ADDs, same run): the floor of the concurrent rows.
      floor[`${CONC} concurrent empty deno runs`] = await timeIt(() =>
        Promise.all(Array.from({ length: CONC }, () =>
          new Deno.Command("nsenter", {
            args: [`--net=${host}`, "env", "-i", ...clientEnv, emptyLauncher],
            stdin: "null",
            stdout: "null",
            stderr: "null",
          }).output()))
      );
      Deno.removeSync(emptyLauncher);
    }
    const skein = `${cniBinDir()}/skein`;
    floor["skein VERSION (launcher answers)"] = await startup(host, [skein], [
      "CNI_COMMAND=VERSION",
    ]);
    // `skein cni` skips the launcher's shell answer: main.ts answers before loading anything.
    floor["skein VERSION (main.ts answers)"] = await startup(host, [skein, "cni"], [
      "CNI_COMMAND=VERSION",
    ]);
    floor["forwarded call, daemon answers"] = await startup(host, [skein], clientEnv);
    floor["same, through the Deno client"] = await startup(host, [denoLauncher], clientEnv);
    Deno.removeSync(denoLauncher);
    const probe = await callPlugin({
      command: "DEL",
      conf: impls[1]!.conf("/tmp"),
      containerId: "x",
      hostNs: host,
      env: { SKEIN_CNI_SOCKET: socket, CNI_IFNAME: undefined },
    });
    if (probe.json?.code !== 4) throw new Error(`unexpected probe answer: ${probe.stdout}`);
    Deno.removeSync(empty);
  },
);

const ref = results["bridge+host-local"]!;
const row = (name: string, a: number, b: number) =>
  console.log(
    `${name.padEnd(34)} ${a.toFixed(1).padStart(9)} ${b.toFixed(1).padStart(9)} ${
      (a / b).toFixed(2).padStart(7)
    }`,
  );
console.log(`CNI benchmark: ${PODS} sequential pods, ${CONC} concurrent ADDs (times in ms)`);
console.log(`${"".padEnd(34)} ${"skein".padStart(9)} ${"ref".padStart(9)} ${"ratio".padStart(7)}`);
const r = stats(ref.add), rd = stats(ref.del);
for (const mode of ["daemon", "in-process"]) {
  const sk = results[mode]!;
  const a = stats(sk.add), d = stats(sk.del);
  row(`ADD median (${mode})`, a.median, r.median);
  row(`ADD p95 (${mode})`, a.p95, r.p95);
  row(`DEL median (${mode})`, d.median, rd.median);
  row(`DEL p95 (${mode})`, d.p95, rd.p95);
  row(`${CONC} concurrent ADDs (${mode})`, sk.conc, ref.conc);
}
console.log(`\nCPU per call (user + system of the plugin process, median; ms)`);
const cpu = (xs: number[]) => stats(xs).median;
for (const mode of ["daemon", "in-process"]) {
  const sk = results[mode]!;
  row(`ADD CPU (${mode})`, cpu(sk.cpuAdd), cpu(ref.cpuAdd));
  row(`DEL CPU (${mode})`, cpu(sk.cpuDel), cpu(ref.cpuDel));
}
row("ADD CPU in the daemon (mean)", daemonCpu.add / PODS, cpu(ref.cpuAdd));
row("DEL CPU in the daemon (mean)", daemonCpu.del / PODS, cpu(ref.cpuDel));
console.log(`\nStart-up floor (median of 20, ms; ratio to the empty deno run)`);
const e = floor["empty deno run"] ?? NaN;
for (const [k, v] of Object.entries(floor)) {
  if (k.includes("concurrent")) row(`${k} (ref: ADDs)`, v, ref.conc);
  else row(k, v, e);
}
const over = (k: string) => (floor[k]! - e).toFixed(1);
console.log(
  `forwarding client over the empty deno run: ${over("forwarded call, daemon answers")} ms ` +
    `(Deno client: ${over("same, through the Deno client")} ms; target <= 5 ms)`,
);
