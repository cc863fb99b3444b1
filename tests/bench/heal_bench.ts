/**
 * Heal-latency benchmark (issue 14): how long a deleted skein route stays missing.
 *
 * Two real `skein daemon` processes (host-gw, file store, 1,000 peer leases each), each running
 * the dataplane of its own namespace, with the same reconcile interval:
 * - "events": the default, kernel notifications trigger a reconcile;
 * - "timer only": `kernelEvents: false`, what the daemon did before (the periodic timer heals).
 * The bench deletes routes with its own netlink handle and times, with its own rtnetlink monitor,
 * until the kernel reports each route added back. Both daemons are measured in the same run.
 *
 *   deno run -A tests/bench/heal_bench.ts [--leases 1000] [--samples 10] [--bulk 3] [--interval 5]
 *
 * Needs root; creates and deletes two namespaces named sk<random>-heal-*.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FileStore } from "../../store/file.ts";
import {
  KernelMonitor,
  netnsAdd,
  netnsDel,
  openHandle,
  type Route,
  SKEIN_ROUTE_PROTOCOL,
} from "../../net/mod.ts";
import { cleanupOnInterrupt, testPrefix } from "../_netns.ts";
import { DaemonProc, freePort, httpGet, waitFor } from "../_daemon_proc.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    leases: { type: "string", default: "1000" },
    samples: { type: "string", default: "10" },
    bulk: { type: "string", default: "3" },
    interval: { type: "string", default: "5" },
  },
});
const LEASES = Number(flags.leases);
const SAMPLES = Number(flags.samples);
const BULK = Number(flags.bulk);
const INTERVAL = Number(flags.interval);

interface Node {
  label: string;
  ns: string;
  dir: string;
  listen: string;
  proc?: DaemonProc;
}

function ip(ns: string, ...args: string[]): void {
  const out = new Deno.Command("ip", { args: ["-n", ns, ...args], stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`ip -n ${ns} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Peer leases 172.16+.x.0/24 at node IPs 10.1.x.y (on-link on the /16 uplink). */
async function writeLeases(dir: string): Promise<void> {
  const store = new FileStore({ dir });
  await store.putNetworkConfigIfAbsent({
    network: "172.16.0.0/12",
    subnetLen: 24,
    backend: { type: "host-gw" },
  });
  for (let i = 0; i < LEASES; i++) {
    await store.acquire({
      node: `peer${i}`,
      publicIP: `10.1.${(i + 2) >> 8}.${(i + 2) & 255}`,
      backendType: "host-gw",
      ttlSeconds: 86400,
      previousSubnet: `172.${16 + (i >> 8)}.${i & 255}.0/24`,
    });
  }
  await store.close();
}

async function startNode(n: Node, kernelEvents: boolean, storeDir: string): Promise<void> {
  netnsAdd(n.ns);
  ip(n.ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
  ip(n.ns, "addr", "add", "10.1.0.1/16", "dev", "eth0");
  for (const l of ["eth0", "eth0p", "lo"]) ip(n.ns, "link", "set", l, "up");
  const cfg = `${n.dir}/daemon.yaml`;
  Deno.writeTextFileSync(
    cfg,
    `name: self-${n.label.replace(/ /g, "-")}
network: 172.16.0.0/12
subnetLen: 24
backend: {type: host-gw}
datastore: {type: file, dir: ${storeDir}, ttl: 86400}
iface: eth0
netns: /run/netns/${n.ns}
listen: ${n.listen}
leaseFile: ${n.dir}/run/subnet.json
subnetEnv: ${n.dir}/run/subnet.env
stateDir: ${n.dir}/state
reconcileInterval: ${INTERVAL}
kernelEvents: ${kernelEvents}
logLevel: ${Deno.env.get("HEAL_BENCH_LOG") ?? "warn"}
`,
  );
  n.proc = new DaemonProc(cfg);
  await waitFor(
    `${n.label}: ready`,
    async () => (await httpGet(n.listen, "/readyz")).status === 200,
    {
      ms: 120_000,
      log: n.proc.log,
    },
  );
}

function ownedRoutes(ns: string): Route[] {
  using h = openHandle({ netns: ns });
  return h.routeList({ family: 4 }).filter((r) =>
    r.protocol === SKEIN_ROUTE_PROTOCOL && r.gateway !== undefined
  );
}

/** Deletes `routes` (one netlink batch) and returns ms until the kernel reported all back. */
async function healTime(ns: string, routes: Route[]): Promise<number> {
  const mon = KernelMonitor.open({ netns: ns, groups: ["route4"] });
  try {
    using h = openHandle({ netns: ns });
    const missing = new Set(routes.map((r) => r.dst));
    const errs = h.routeBatch(routes.map((r) => ({
      op: "del" as const,
      route: { dst: r.dst, gateway: r.gateway, dev: r.oif, protocol: r.protocol },
    })));
    const t0 = performance.now();
    const bad = errs.find((e) => e);
    if (bad) throw bad;
    while (missing.size > 0) {
      for (const ev of mon.read()) {
        if (ev.kind === "route" && ev.op === "new") missing.delete(ev.route.dst);
        if (ev.kind === "lost") throw new Error("the bench's monitor lost notifications");
      }
      if (missing.size === 0) break;
      if (performance.now() - t0 > (INTERVAL + 30) * 1000) {
        throw new Error(`${missing.size} routes not back after ${INTERVAL + 30} s`);
      }
      await mon.wait(1000);
    }
    return performance.now() - t0;
  } finally {
    mon.close();
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function ms(v: number): string {
  return v < 10
    ? `${v.toFixed(2)} ms`
    : v < 1000
    ? `${v.toFixed(1)} ms`
    : `${(v / 1000).toFixed(2)} s`;
}

const prefix = `${testPrefix()}-heal`;
const base = await Deno.makeTempDir({ prefix: "skein-heal-bench-" });
const nodes: Node[] = [
  { label: "events", ns: `${prefix}-ev`, dir: `${base}/ev`, listen: `127.0.0.1:${freePort()}` },
  { label: "timer only", ns: `${prefix}-tm`, dir: `${base}/tm`, listen: `127.0.0.1:${freePort()}` },
];
const cleanup = () => {
  for (const n of nodes) {
    try {
      if (n.proc) Deno.kill(n.proc.pid, "SIGKILL");
    } catch { /* gone */ }
    try {
      netnsDel(n.ns);
    } catch { /* never made */ }
  }
  try {
    Deno.removeSync(base, { recursive: true });
  } catch { /* gone */ }
};
const unregister = cleanupOnInterrupt(cleanup);
try {
  await writeLeases(`${base}/store-ev`);
  await new Deno.Command("cp", { args: ["-a", `${base}/store-ev`, `${base}/store-tm`] }).output();
  for (const n of nodes) Deno.mkdirSync(n.dir, { recursive: true });
  await startNode(nodes[0]!, true, `${base}/store-ev`);
  await startNode(nodes[1]!, false, `${base}/store-tm`);
  const results = new Map<string, { one: number[]; bulk: number[] }>();
  for (const n of nodes) {
    await waitFor(`${n.label}: ${LEASES} routes`, () => ownedRoutes(n.ns).length === LEASES, {
      ms: 60_000,
      log: n.proc!.log,
    });
    const routes = ownedRoutes(n.ns);
    // Warm-up (untimed): the daemon's first repairs run through code V8 has not optimised yet.
    await healTime(n.ns, [routes[1]!]);
    await healTime(n.ns, ownedRoutes(n.ns));
    const one: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      one.push(await healTime(n.ns, [routes[(i * 97) % routes.length]!]));
      // A random phase against the timer (else every sample would wait a whole interval).
      await new Promise((r) => setTimeout(r, 50 + Math.random() * INTERVAL * 1000));
    }
    const bulk: number[] = [];
    for (let i = 0; i < BULK; i++) {
      bulk.push(await healTime(n.ns, ownedRoutes(n.ns)));
      await new Promise((r) => setTimeout(r, 100 + Math.random() * INTERVAL * 1000));
    }
    results.set(n.label, { one, bulk });
  }
  const ev = results.get("events")!;
  const tm = results.get("timer only")!;
  console.log(
    `\nheal latency: skein daemon (host-gw, ${LEASES} leases, reconcile interval ${INTERVAL} s), ` +
      `with kernel events vs timer only; time from the delete until the kernel reports the route(s) back`,
  );
  const rows: [string, number[], number[]][] = [
    [`1 route deleted: p50 (${SAMPLES} runs)`, ev.one, tm.one],
    [`1 route deleted: p90`, ev.one, tm.one],
    [`${LEASES} routes deleted at once: p50 (${BULK} runs)`, ev.bulk, tm.bulk],
    [`${LEASES} routes deleted at once: max`, ev.bulk, tm.bulk],
  ];
  const p = [50, 90, 50, 100];
  console.log(
    `${"".padEnd(44)} ${"events".padStart(10)} ${"timer only".padStart(11)} ${
      "timer/events".padStart(13)
    }`,
  );
  rows.forEach(([label, a, b], i) => {
    const x = pct(a, p[i]!);
    const y = pct(b, p[i]!);
    console.log(
      `${label.padEnd(44)} ${ms(x).padStart(10)} ${ms(y).padStart(11)} ${
        (y / x).toFixed(0).padStart(12)
      }x`,
    );
  });
  if (Deno.env.get("HEAL_BENCH_LOG")) {
    for (const n of nodes) console.log(`--- ${n.label}\n${n.proc!.log()}`);
  }
} finally {
  for (const n of nodes) await n.proc?.stop("SIGKILL");
  unregister();
  cleanup();
}
