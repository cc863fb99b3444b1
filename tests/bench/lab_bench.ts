/**
 * Lab benchmarks (root), a plain script printing tables and the command that ran it:
 *
 * 1. Convergence: a synthetic node's lease is written to the lab's datastore; time until the
 *    route to its subnet is present in every other node (netlink route dump every `--probe-ms`,
 *    default 2 ms: the resolution of the numbers), and the same for its removal. The daemons' periodic reconcile is set to 300 s so only their
 *    watch can make it happen.
 * 2. Readiness (issue 15): `lab up --nodes 10` (file store, and etcd); from the last lease write
 *    (the latest "lease acquired" in the daemons' logs) until every node has routes to all other
 *    nodes (netlink, probed every `--probe-ms`), until every daemon's `/readyz?subnets=<all 10>`
 *    answers 200 (probed every 5 ms), and until `lab up` says so (its own wait polls every 20 ms).
 * 4. iperf3 pod-to-pod throughput across two nodes with host-gw and with vxlan, next to a plain
 *    veth pair between two namespaces, in the same run (`iperf3 -s -1` in one pod namespace,
 *    `iperf3 -c ... -t 3 -J` from another).
 *
 * Run: deno run -A tests/bench/lab_bench.ts [--rounds N] [--seconds S] [--probe-ms MS]
 *      [--lab-rounds N] [--only convergence|readiness|iperf]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { netnsAdd, netnsDel, openHandle, SKEIN_ROUTE_PROTOCOL } from "../../net/mod.ts";
import {
  type Lab,
  labDefaults,
  labDown,
  type LabPlan,
  labUp,
  nodeSubnet,
  openLabStore,
  planLab,
  probe,
} from "../../lab/mod.ts";
import { runCommand, stopProcess } from "../../lab/_proc.ts";
import { sleep } from "../../store/sleeper.ts";
import { type EtcdProcess, startEtcd } from "../../lab/etcd.ts";
import type { Lease } from "../../store/types.ts";
import { testPrefix } from "../_netns.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "10" },
    seconds: { type: "string", default: "3" },
    "probe-ms": { type: "string", default: "2" },
    only: { type: "string" },
    "lab-rounds": { type: "string", default: "3" },
  },
});
const ROUNDS = Number(flags.rounds);
const SECONDS = Number(flags.seconds);
const PROBE_MS = Number(flags["probe-ms"]);
const LAB_ROUNDS = Number(flags["lab-rounds"]);
if (!(PROBE_MS >= 0)) throw new Error(`--probe-ms: not a number of ms: ${flags["probe-ms"]}`);

function stats(xs: number[]): { median: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), p95: at(0.95), max: s[s.length - 1] ?? NaN };
}

/** Waits until `pred(routes of every node)` holds; returns ms since `t0`. */
async function until(lab: Lab, t0: number, subnet: string, present: boolean): Promise<number> {
  const handles = lab.plan.nodes.map((n) => openHandle({ netns: `/run/netns/${n.netns}` }));
  try {
    const deadline = t0 + 60_000;
    while (performance.now() < deadline) {
      const ok = handles.every((h) =>
        h.routeList({ protocol: SKEIN_ROUTE_PROTOCOL }).some((r) => r.dst === subnet) === present
      );
      if (ok) return performance.now() - t0;
      await sleep(PROBE_MS);
    }
    throw new Error(`route ${subnet} not ${present ? "present" : "gone"} after 60 s`);
  } finally {
    for (const h of handles) h.close();
  }
}

async function convergence(
  backend: "host-gw" | "vxlan",
  etcdUrl?: string,
): Promise<string[]> {
  const name = `${testPrefix()}c${backend === "vxlan" ? "v" : "h"}${etcdUrl ? "e" : ""}`;
  const label = `${backend}/${etcdUrl ? "etcd" : "file"}`;
  const rows: string[] = [];
  try {
    const { lab } = await labUp(
      labDefaults({
        name,
        nodes: 3,
        podsPerNode: 0,
        backend,
        reconcilePeriod: 300,
        leaseTtl: 120,
        ...(etcdUrl ? { datastore: "etcd" as const, etcdEndpoints: [etcdUrl] } : {}),
      }),
    );
    const store = openLabStore(lab.plan);
    const add: number[] = [], del: number[] = [];
    try {
      for (let i = 0; i < ROUNDS; i++) {
        // A random pause, so the change does not always land at the same phase of a poll loop.
        await sleep(Math.random() * 600);
        const lease: Lease = await store.acquire({
          node: `${name}-bench${i}`,
          publicIP: `${lab.plan.options.lanPrefix}.${200 + i}`,
          backendType: backend,
          backendData: backend === "vxlan"
            ? { vtepMAC: `0a:58:0a:00:00:${(16 + i).toString(16)}` }
            : {},
          ttlSeconds: 120,
        });
        const t1 = performance.now();
        add.push(await until(lab, t1, lease.subnet, true));
        await sleep(Math.random() * 600);
        await store.release(lease);
        const t3 = performance.now();
        del.push(await until(lab, t3, lease.subnet, false));
      }
    } finally {
      await store.close();
    }
    for (
      const [what, xs] of [["lease added -> routes on all 3 nodes", add], [
        "lease deleted -> routes gone on all 3",
        del,
      ]] as const
    ) {
      const s = stats(xs);
      rows.push(
        `${label.padEnd(13)} ${what.padEnd(40)} ${s.median.toFixed(0).padStart(7)} ${
          s.p95.toFixed(0).padStart(7)
        } ${s.max.toFixed(0).padStart(7)}  (n=${xs.length})`,
      );
    }
  } finally {
    await labDown(name);
  }
  return rows;
}

/** The latest time (ms since epoch) a daemon logged `msg`; NaN when none did. */
function lastLogged(plan: LabPlan, msg: string): number {
  let last = NaN;
  for (const n of plan.nodes) {
    const text = Deno.readTextFileSync(n.logFile);
    for (const m of text.matchAll(new RegExp(`^ts=(\\S+) level=info msg="${msg}"`, "gm"))) {
      const t = Date.parse(m[1]!);
      if (!(t <= last)) last = t;
    }
  }
  return last;
}

/**
 * One `lab up --nodes 10` while two probes watch it: every node's kernel routes (netlink) and
 * every daemon's /readyz?subnets=<all>. Returns wall-clock times (ms since epoch).
 */
async function readinessRound(
  name: string,
  etcdUrl?: string,
): Promise<
  { lastWrite: number; firstLists: number; routes: number; readyz: number; labUp: number }
> {
  const options = labDefaults({
    name,
    nodes: 10,
    podsPerNode: 0,
    backend: "vxlan",
    reconcilePeriod: 300,
    ...(etcdUrl ? { datastore: "etcd" as const, etcdEndpoints: [etcdUrl] } : {}),
  });
  const plan = planLab(options);
  let upSaid = NaN;
  let routes = NaN;
  let readyz = NaN;
  let done = false;
  const probeRoutes = async (): Promise<void> => {
    let subnets: string[] = [];
    while (!done && subnets.length < plan.nodes.length) {
      subnets = plan.nodes.map(nodeSubnet).filter((x): x is string => x !== undefined);
      await sleep(PROBE_MS);
    }
    const handles = plan.nodes.map((n) => openHandle({ netns: `/run/netns/${n.netns}` }));
    try {
      while (!done) {
        const ok = handles.every((h, i) => {
          const have = new Set(h.routeList({ protocol: SKEIN_ROUTE_PROTOCOL }).map((r) => r.dst));
          return subnets.every((s, j) => j === i || have.has(s));
        });
        if (ok) {
          routes = Date.now();
          return;
        }
        await sleep(PROBE_MS);
      }
    } finally {
      for (const h of handles) h.close();
    }
  };
  const probeReadyz = async (): Promise<void> => {
    let subnets: string[] = [];
    while (!done && subnets.length < plan.nodes.length) {
      subnets = plan.nodes.map(nodeSubnet).filter((x): x is string => x !== undefined);
      await sleep(5);
    }
    const path = `/readyz?subnets=${subnets.join(",")}`;
    while (!done) {
      const listens = readLabListens(plan);
      if (listens.length === plan.nodes.length) {
        const all = await Promise.all(listens.map((l) => probe(l, path)));
        if (all.every((h) => h.ok)) {
          readyz = Date.now();
          return;
        }
      }
      await sleep(5);
    }
  };
  try {
    const probes = Promise.all([probeRoutes(), probeReadyz()]);
    await labUp(options, (msg) => {
      if (msg.startsWith("every daemon has routes")) upSaid = Date.now();
    });
    await Promise.race([probes, sleep(10_000)]);
    return {
      lastWrite: lastLogged(plan, "lease acquired"),
      firstLists: lastLogged(plan, "routes programmed"),
      routes,
      readyz,
      labUp: upSaid,
    };
  } finally {
    done = true;
    await labDown(name);
  }
}

/** The daemons' health addresses as lab.json records them (empty until all are started). */
function readLabListens(plan: LabPlan): string[] {
  try {
    const st = JSON.parse(Deno.readTextFileSync(plan.stateFile)) as {
      daemons?: { listen: string }[];
    };
    return (st.daemons ?? []).map((d) => d.listen);
  } catch {
    return [];
  }
}

/** Section (2): rows of "ms after the last lease write" per datastore. */
async function readiness(): Promise<void> {
  console.log(
    `\n(2) readiness, ms after the last lease write (lab up --nodes 10, vxlan, ${LAB_ROUNDS} rounds; ` +
      `routes probed every ${PROBE_MS} ms, /readyz every 5 ms)`,
  );
  console.log(
    `${"store".padEnd(6)} ${"until".padEnd(44)} ${"median".padStart(7)} ${"p95".padStart(7)} ${
      "max".padStart(7)
    }`,
  );
  const run = async (label: string, etcdUrl?: string) => {
    const rows = {
      firstLists: [] as number[],
      routes: [] as number[],
      readyz: [] as number[],
      labUp: [] as number[],
    };
    for (let i = 0; i < LAB_ROUNDS; i++) {
      const r = await readinessRound(`${testPrefix()}r${etcdUrl ? "e" : "f"}${i}`, etcdUrl);
      rows.firstLists.push(r.firstLists - r.lastWrite);
      rows.routes.push(r.routes - r.lastWrite);
      rows.readyz.push(r.readyz - r.lastWrite);
      rows.labUp.push(r.labUp - r.lastWrite);
    }
    for (
      const [what, xs] of [
        ["every daemon programmed its first list (log)", rows.firstLists],
        ["every node has routes to all 10 (kernel)", rows.routes],
        ["every /readyz?subnets=<all 10> answers 200", rows.readyz],
        ["lab up says every daemon has its routes", rows.labUp],
      ] as const
    ) {
      const s = stats(xs);
      console.log(
        `${label.padEnd(6)} ${what.padEnd(44)} ${s.median.toFixed(0).padStart(7)} ${
          s.p95.toFixed(0).padStart(7)
        } ${s.max.toFixed(0).padStart(7)}  (n=${xs.length})`,
      );
    }
  };
  await run("file");
  const dir = await Deno.makeTempDir({ prefix: `${testPrefix()}-etcd` });
  let etcd: EtcdProcess | undefined;
  try {
    etcd = await startEtcd(dir);
    await run("etcd", etcd.url);
  } catch (e) {
    console.log(`etcd   skipped: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    if (etcd) await stopProcess(etcd.pid, etcd.marker);
    await Deno.remove(dir, { recursive: true });
  }
  console.log(
    "note: the daemons start together; the last lease write is the latest 'lease acquired' in " +
      "their logs (ms resolution). Ready before the last write is impossible: every node waits " +
      "for all 10 subnets.",
  );
}

interface IperfResult {
  gbps: number;
  retransmits?: number;
}

async function iperf(serverNs: string, clientNs: string, serverIp: string): Promise<IperfResult> {
  const port = String(5201 + Math.floor(Math.random() * 500));
  const server = new Deno.Command("nsenter", {
    args: [`--net=/run/netns/${serverNs}`, "iperf3", "-s", "-1", "-p", port, "-B", serverIp],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await sleep(300);
    const r = await runCommand([
      "nsenter",
      `--net=/run/netns/${clientNs}`,
      "iperf3",
      "-c",
      serverIp,
      "-p",
      port,
      "-t",
      String(SECONDS),
      "-J",
    ]);
    const j = JSON.parse(r.stdout);
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    return {
      gbps: j.end.sum_received.bits_per_second / 1e9,
      retransmits: j.end.sum_sent.retransmits,
    };
  } finally {
    try {
      server.kill("SIGKILL");
    } catch { /* done */ }
    await server.status;
  }
}

async function iperfLab(backend: "host-gw" | "vxlan"): Promise<IperfResult> {
  const name = `${testPrefix()}i${backend === "vxlan" ? "v" : "h"}`;
  try {
    const { lab, ok, matrixText } = await labUp(
      labDefaults({ name, nodes: 2, podsPerNode: 1, backend, reconcilePeriod: 30 }),
    );
    if (!ok) throw new Error(`lab ${name} has no connectivity:\n${matrixText}`);
    const [a, b] = lab.state.pods;
    return await iperf(a!.netns, b!.netns, a!.ip!);
  } finally {
    await labDown(name);
  }
}

async function iperfVeth(): Promise<IperfResult> {
  const a = `${testPrefix()}-va`, b = `${testPrefix()}-vb`;
  try {
    const pa = netnsAdd(a), pb = netnsAdd(b);
    {
      using h = openHandle({ netns: pa });
      h.linkAdd({ kind: "veth", name: "eth0", up: true, peer: { name: "eth0", netns: pb } });
      h.addrAdd({ dev: "eth0", cidr: "10.99.0.1/24" });
      h.linkSet("lo", { up: true });
    }
    {
      using h = openHandle({ netns: pb });
      h.addrAdd({ dev: "eth0", cidr: "10.99.0.2/24" });
      h.linkSet("eth0", { up: true });
      h.linkSet("lo", { up: true });
    }
    return await iperf(a, b, "10.99.0.1");
  } finally {
    for (const n of [a, b]) {
      try {
        netnsDel(n);
      } catch { /* not created */ }
    }
  }
}

/** Runs the benchmarks and prints the tables. */
async function main(): Promise<void> {
  if (Deno.uid() !== 0) {
    console.error("lab_bench: needs root (network namespaces)");
    Deno.exit(1);
  }
  console.log(`command: deno run -A tests/bench/lab_bench.ts ${Deno.args.join(" ")}`.trim());
  console.log(`date: ${new Date().toISOString()}  cpus: ${navigator.hardwareConcurrency}`);

  if (flags.only === undefined || flags.only === "readiness") await readiness();

  if (flags.only === undefined || flags.only === "convergence") {
    console.log(
      `\n(1) convergence, ms (3 nodes, periodic reconcile off: 300 s; routes probed every ${PROBE_MS} ms)`,
    );
    console.log(
      `${"backend/store".padEnd(13)} ${"event".padEnd(40)} ${"median".padStart(7)} ${
        "p95".padStart(7)
      } ${"max".padStart(7)}`,
    );
    for (const b of ["host-gw", "vxlan"] as const) {
      for (const row of await convergence(b)) console.log(row);
    }
    const dir = await Deno.makeTempDir({ prefix: `${testPrefix()}-etcd` });
    let etcd: EtcdProcess | undefined;
    try {
      etcd = await startEtcd(dir);
      for (const row of await convergence("vxlan", etcd.url)) console.log(row);
    } catch (e) {
      console.log(`vxlan/etcd    skipped: ${(e as Error).message.split("\n")[0]}`);
    } finally {
      if (etcd) await stopProcess(etcd.pid, etcd.marker);
      await Deno.remove(dir, { recursive: true });
    }
    console.log(
      "note: changes are made at a random moment (0-600 ms pause before each); the file store's " +
        "watch wakes on inotify events (its 1 s revision poll is only a safety net), etcd pushes " +
        "watch events; a daemon reconciles on the next macrotask after an event (no fixed " +
        "debounce). Before that (50 ms debounce, 100 ms file poll; same 2 ms probe), medians " +
        "add/del: host-gw/file 137/137, vxlan/file 132/129, vxlan/etcd 57/56",
    );
  }

  if (flags.only === undefined || flags.only === "iperf") {
    console.log(`\n(4) iperf3 TCP throughput, ${SECONDS} s each, same run`);
    const veth = await iperfVeth();
    const rows: [string, IperfResult][] = [["plain veth pair (reference)", veth]];
    for (const b of ["host-gw", "vxlan"] as const) {
      rows.push([`pod -> pod across nodes, ${b}`, await iperfLab(b)]);
    }
    console.log(
      `${"path".padEnd(36)} ${"Gbit/s".padStart(8)} ${"vs veth".padStart(8)} ${"retr".padStart(6)}`,
    );
    for (const [what, r] of rows) {
      console.log(
        `${what.padEnd(36)} ${r.gbps.toFixed(2).padStart(8)} ${
          (r.gbps / veth.gbps).toFixed(2).padStart(8)
        } ${String(r.retransmits ?? "-").padStart(6)}`,
      );
    }
  }
}

// Only as a script (`deno run`); `deno bench` importing this file runs nothing.
if (import.meta.main) await main();
