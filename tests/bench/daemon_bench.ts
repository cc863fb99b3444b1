/**
 * Daemon benchmark (root): resident memory of `skein daemon` with 5,000 leases in the file
 * store (host-gw, dataplane in a throwaway namespace), next to the same daemon with no other
 * lease and to a bare `deno run` process (the runtime's own floor), in the same run. Also prints
 * how long the daemon took from start to /readyz 200 with every route programmed.
 *
 * Run: deno run -A tests/bench/daemon_bench.ts [--leases N] [--daemon-v8-flags FLAGS]
 *
 * A third daemon with the same leases and `renewWorker: true` shows what the renewal Worker (a
 * second V8 isolate) costs.
 *
 * `--daemon-v8-flags` starts the daemons with `--v8-flags=FLAGS` (e.g. `--optimize-for-size`),
 * to compare a launcher setting with the default in one command.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { netnsAdd, netnsDel } from "../../net/mod.ts";
import { cleanupOnInterrupt, testPrefix } from "../_netns.ts";
import { freePort, metric, seedLeases, writeBenchNodeConfig } from "./_node_fixture.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    leases: { type: "string", default: "5000" },
    "daemon-v8-flags": { type: "string", default: "" },
  },
});
const N = Number(flags.leases);
const V8_FLAGS = flags["daemon-v8-flags"] ? [`--v8-flags=${flags["daemon-v8-flags"]}`] : [];
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function ip(...args: string[]): void {
  const out = new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** VmRSS and VmHWM of a process, in MiB. */
function memOf(pid: number): { rss: number; hwm: number } {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

/** User + system CPU seconds of a process. */
function cpuSeconds(pid: number): number {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function runDaemon(
  ns: string,
  leases: number,
  extraConfig = "",
): Promise<
  {
    rss: number;
    hwm: number;
    meanRss: number;
    readyS: number;
    routes: number;
    heap: number;
    cpu: number;
  }
> {
  const dir = await Deno.makeTempDir({ prefix: "skein-daemon-bench-" });
  const listen = `127.0.0.1:${freePort()}`;
  seedLeases(`${dir}/store`, leases);
  writeBenchNodeConfig({ dir, netns: ns, listen, reconcileInterval: 2, extra: extraConfig });
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-prompt",
      ...V8_FLAGS,
      MAIN,
      "daemon",
      "--config",
      `${dir}/daemon.yaml`,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const unregister = cleanupOnInterrupt(() => child.kill("SIGKILL"));
  try {
    let readyS = NaN;
    let routes = 0;
    for (let i = 0; i < 1200; i++) {
      routes = (await metric(listen, "skein_routes_programmed")) ?? 0;
      if ((await metric(listen, "skein_ready")) === 1 && routes >= leases) {
        readyS = (performance.now() - t0) / 1000;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // Let it settle through a few periodic reconciles (every 2 s) before sampling; CPU over 10 s.
    // RSS is also averaged over those 10 s (every 250 ms): one sample lands anywhere in the
    // garbage collector's cycle (±20 MiB with 5,000 leases).
    await new Promise((r) => setTimeout(r, 2000));
    const c0 = cpuSeconds(child.pid);
    let sum = 0;
    let samples = 0;
    for (const end = performance.now() + 10_000; performance.now() < end;) {
      await new Promise((r) => setTimeout(r, 250));
      sum += memOf(child.pid).rss;
      samples++;
    }
    const cpu = ((cpuSeconds(child.pid) - c0) / 10) * 100;
    const m = memOf(child.pid);
    const meanRss = sum / samples;
    const heap = ((await metric(listen, "skein_heap_used_bytes")) ?? NaN) / 2 ** 20;
    return { ...m, meanRss, readyS, routes, heap, cpu };
  } finally {
    unregister();
    child.kill("SIGKILL");
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function bareDeno(): Promise<{ rss: number; hwm: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "await new Promise((r) => setTimeout(r, 60000))"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const unregister = cleanupOnInterrupt(() => child.kill("SIGKILL"));
  try {
    await new Promise((r) => setTimeout(r, 1500));
    return memOf(child.pid);
  } finally {
    unregister();
    child.kill("SIGKILL");
    await child.status;
  }
}

const nsName = `${testPrefix()}-dbench`;
const peerName = `${testPrefix()}-dbpeer`;
const deleteNamespaces = () => {
  for (const n of [nsName, peerName]) {
    try {
      netnsDel(n);
    } catch (e) {
      if (!(e instanceof Error && /ENOENT|No such/.test(e.message))) {
        console.error(`cannot delete ${n}: ${(e as Error).message}`);
      }
    }
  }
};
cleanupOnInterrupt(deleteNamespaces);
const ns = netnsAdd(nsName);
netnsAdd(peerName);
try {
  ip(
    "-n",
    nsName,
    "link",
    "add",
    "eth0",
    "type",
    "veth",
    "peer",
    "name",
    "eth0",
    "netns",
    peerName,
  );
  ip("-n", nsName, "addr", "add", "172.16.0.1/16", "dev", "eth0");
  ip("-n", nsName, "link", "set", "eth0", "up");
  ip("-n", peerName, "link", "set", "eth0", "up");
  const bare = await bareDeno();
  const idle = await runDaemon(ns, 0);
  const full = await runDaemon(ns, N);
  // The renewal Worker's share (a second V8 isolate), in the same run.
  // (ttl 3600 s: renewals run on the main thread unless renewWorker is set.)
  const withWorker = await runDaemon(ns, N, "renewWorker: true\n");
  const f = (x: number) => x.toFixed(1).padStart(8);
  console.log(
    `command: deno run -A tests/bench/daemon_bench.ts --leases ${N}${
      V8_FLAGS.length ? ` --daemon-v8-flags=${flags["daemon-v8-flags"]}` : ""
    }`,
  );
  console.log(
    `${"".padEnd(34)}${"RSS MiB".padStart(8)}${"peak MiB".padStart(10)}  ready (s)  routes`,
  );
  console.log(
    `${"bare deno process (reference)".padEnd(34)}${f(bare.rss)}${f(bare.hwm).padStart(10)}`,
  );
  console.log(
    `${"skein daemon, 0 other leases".padEnd(34)}${f(idle.rss)}${f(idle.hwm).padStart(10)}  ${
      idle.readyS.toFixed(2).padStart(9)
    }  ${idle.routes}`,
  );
  console.log(
    `${`skein daemon, ${N} leases`.padEnd(34)}${f(full.rss)}${f(full.hwm).padStart(10)}  ${
      full.readyS.toFixed(2).padStart(9)
    }  ${full.routes}`,
  );
  console.log(`ratio RSS daemon(${N}) / bare deno: ${(full.rss / bare.rss).toFixed(2)}`);
  console.log(`ratio RSS daemon(${N}) / daemon(0): ${(full.rss / idle.rss).toFixed(2)}`);
  console.log(
    `idle CPU (periodic reconcile every 2 s): daemon(0) ${idle.cpu.toFixed(1)}%, daemon(${N}) ${
      full.cpu.toFixed(1)
    }%`,
  );
  console.log(
    `JS heap in use: daemon(0) ${idle.heap.toFixed(1)} MiB, daemon(${N}) ${
      full.heap.toFixed(1)
    } MiB`,
  );
  console.log(`per lease: ${(((full.rss - idle.rss) * 1024) / N).toFixed(2)} KiB`);
  console.log(
    `mean RSS over 10 s (every 250 ms): daemon(0) ${idle.meanRss.toFixed(1)} MiB, daemon(${N}) ${
      full.meanRss.toFixed(1)
    } MiB; per lease ${(((full.meanRss - idle.meanRss) * 1024) / N).toFixed(2)} KiB`,
  );
  console.log(
    `renewal worker's share: daemon(${N}) with renewWorker: true ${
      withWorker.meanRss.toFixed(1)
    } MiB mean RSS (${withWorker.rss.toFixed(1)} last), so the worker costs ${
      (withWorker.meanRss - full.meanRss).toFixed(1)
    } MiB`,
  );
} finally {
  deleteNamespaces();
}
