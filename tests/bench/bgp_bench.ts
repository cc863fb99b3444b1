/**
 * BGP benchmark, skein and BIRD side by side in one run:
 *
 * 1. 10,000 prefixes from a BIRD "ToR" into a node's kernel: skein's bgp backend (speaker →
 *    RIB → shared reconciler, proto 186) against a BIRD→BIRD session with BIRD's kernel export
 *    (proto bird), each from the receiver's start until the kernel holds every route. Target:
 *    skein ≤ 1.2× BIRD.
 * 2. Memory: the RSS of a real `skein daemon` (bgp backend, file datastore, dataplane in a node
 *    namespace) peering with a BIRD ToR that announces the 10,000 prefixes, once they are all in
 *    its kernel: mean over 10 s of periodic reconciles and the peak (VmHWM). Started as
 *    install.sh's launcher starts it (`--v8-flags=--optimize-for-size`; install.sh bakes the same
 *    flag into a `deno compile` binary, the DaemonSet sets DENO_V8_FLAGS), next to the same daemon
 *    with 1 route and to one without V8 flags (a plain `deno run`). Target: < 100 MiB.
 * 3. Mesh convergence on a 10-node segment: a new node's lease appears, each of the 10 nodes'
 *    backends reconciles (new mesh peer), and the time until the new subnet is in each node's
 *    kernel is one sample (all 10 backends share this one process and thread: pessimistic).
 *    Target: p50 < 100 ms.
 *
 *   deno run -A --v8-flags=--expose-gc tests/bench/bgp_bench.ts [--prefixes 10000] [--mesh 10]
 *     [--rounds 3] [--no-prefixes] [--verbose]
 *
 * Needs root and BIRD 2; creates namespaces sk<random>-* and deletes them.
 *
 * @module
 */
import { createBackend } from "../../backends/mod.ts";
import type { BgpBackend } from "../../backends/bgp/mod.ts";
import { openHandle } from "../../net/mod.ts";
import type { NetHandle } from "../../net/types.ts";
import type { Lease } from "../../store/types.ts";
import { haveBird, startBird } from "../_bird.ts";
import { cleanupOnInterrupt } from "../_netns.ts";

const args = Deno.args;
const arg = (k: string, d: number) => args.includes(k) ? Number(args[args.indexOf(k) + 1]) : d;
const PREFIXES = arg("--prefixes", 10000);
const MESH = arg("--mesh", 10);
const ROUNDS = arg("--rounds", 3);
const tag = `sk${crypto.getRandomValues(new Uint16Array(1))[0]!.toString(16).padStart(4, "0")}`;
const created: string[] = [];
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** The V8 flags install.sh's launcher starts `skein daemon` with. */
const LAUNCHER_V8 = ["--v8-flags=--optimize-for-size"];

function sh(cmd: string, ...a: string[]): void {
  const out = new Deno.Command(cmd, { args: a, stdout: "null", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${cmd} ${a.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function netns(name: string): string {
  const full = `${tag}-${name}`;
  sh("ip", "netns", "add", full);
  created.push(full);
  sh("ip", "-n", full, "link", "set", "lo", "up");
  return full;
}

const children = new Set<Deno.ChildProcess>();

function cleanup(): void {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch { /* gone */ }
  }
  for (const n of created.splice(0).reverse()) {
    try {
      sh("ip", "netns", "del", n);
    } catch { /* best effort */ }
  }
}

function veth(a: string, b: string, ipA: string, ipB: string): void {
  sh("ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b);
  sh("ip", "-n", a, "addr", "add", `${ipA}/24`, "dev", "eth0");
  sh("ip", "-n", b, "addr", "add", `${ipB}/24`, "dev", "eth0");
  sh("ip", "-n", a, "link", "set", "eth0", "up");
  sh("ip", "-n", b, "link", "set", "eth0", "up");
}

function torConfig(n: number): string {
  const routes: string[] = [];
  for (let i = 0; i < n; i++) {
    routes.push(`  route 10.${100 + (i >> 8)}.${i & 255}.0/24 blackhole;`);
  }
  return `router id 192.168.77.254;
protocol device {}
protocol static { ipv4;
${routes.join("\n")}
}
protocol bgp node { local 192.168.77.254 as 65000; neighbor 192.168.77.1 as 64512; passive on;
  ipv4 { import none; export where source = RTS_STATIC; }; }
`;
}

const REF_CONFIG = `router id 192.168.77.1;
protocol device {}
protocol kernel { ipv4 { export all; }; merge paths off; }
protocol bgp tor { local 192.168.77.1 as 64512; neighbor 192.168.77.254 as 65000; connect delay time 0;
  ipv4 { import all; export none; }; }
`;

function countProto(h: NetHandle, proto: number): number {
  return h.routeList({ table: 254 }).filter((r) => r.protocol === proto).length;
}

async function waitCount(
  h: NetHandle,
  proto: number,
  want: number,
  timeoutMs = 120_000,
): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (countProto(h, proto) >= want) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`kernel did not reach ${want} proto ${proto} routes`);
}

function lease(n: number, publicIP: string): Lease {
  return {
    subnet: `10.244.${n}.0/24`,
    publicIP,
    node: `n${n}`,
    backendType: "bgp",
    expiration: "2099-01-01T00:00:00Z",
  };
}

/** A bgp backend in `ns` with a coalescing reconcile loop, like the daemon's. */
function backend(
  ns: string,
  ip: string,
  settings: Record<string, unknown>,
  self: Lease,
  leases: () => Lease[],
) {
  const handle = openHandle({ netns: `/run/netns/${ns}` });
  const up = handle.linkFind("eth0")!;
  const b = createBackend({
    type: "bgp",
    handle,
    netns: `/run/netns/${ns}`,
    uplink: { name: "eth0", index: up.index, mtu: 1500 },
    publicIP: ip,
    node: self.node,
    settings,
  }) as BgpBackend;
  b.setup();
  let running = false, again = false, closed = false;
  const reconcile = () => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    setTimeout(() => {
      if (!closed) b.reconcile(leases(), self);
      running = false;
      if (again) {
        again = false;
        reconcile();
      }
    }, 0);
  };
  const abort = new AbortController();
  return {
    b,
    handle,
    reconcile,
    abort,
    start: () => b.start({ requestReconcile: reconcile, signal: abort.signal }),
    close: async () => {
      closed = true;
      abort.abort();
      await b.close();
      handle.close();
    },
  };
}

async function tenThousand(): Promise<void> {
  // skein: tor BIRD ↔ skein bgp backend
  const tor = netns("tor"), node = netns("node");
  veth(tor, node, "192.168.77.254", "192.168.77.1");
  const bird = await startBird({ netns: `/run/netns/${tor}`, config: torConfig(PREFIXES) });
  // reference: tor BIRD ↔ BIRD with kernel export
  const tor2 = netns("tor2"), ref = netns("ref");
  veth(tor2, ref, "192.168.77.254", "192.168.77.1");
  const bird2 = await startBird({ netns: `/run/netns/${tor2}`, config: torConfig(PREFIXES) });
  await new Promise((r) => setTimeout(r, 500));
  const self = lease(1, "192.168.77.1");
  const s = backend(
    node,
    "192.168.77.1",
    {
      asNumber: 64512,
      nodeToNodeMesh: false,
      peers: [{ address: "192.168.77.254", asNumber: 65000, import: "all", export: "all" }],
    },
    self,
    () => [self],
  );
  let refBird;
  try {
    const t0 = performance.now();
    await s.start();
    s.reconcile();
    const skeinMs = await waitCount(s.handle, 186, PREFIXES) + (performance.now() - t0 - 0) * 0;
    const skeinTotal = performance.now() - t0;
    using rh = openHandle({ netns: `/run/netns/${ref}` });
    const r0 = performance.now();
    refBird = await startBird({ netns: `/run/netns/${ref}`, config: REF_CONFIG });
    await waitCount(rh, 12, PREFIXES);
    const birdTotal = performance.now() - r0;
    console.log(
      `\n${PREFIXES} prefixes from a BIRD ToR into a node's kernel (receiver start → all routes in the kernel):`,
    );
    console.log(`  skein bgp backend (proto 186)   ${skeinTotal.toFixed(0).padStart(7)} ms`);
    console.log(`  BIRD → BIRD kernel export       ${birdTotal.toFixed(0).padStart(7)} ms`);
    console.log(
      `  ratio skein/BIRD                ${(skeinTotal / birdTotal).toFixed(2)}×   (target ≤ 1.2×)`,
    );
    void skeinMs;
  } finally {
    await s.close();
    await bird.stop();
    await bird2.stop();
    await refBird?.stop();
  }
}

/** VmRSS and VmHWM (peak) of a process, in MiB. */
function memOf(pid: number): { rss: number; hwm: number } {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * A real `skein daemon` (bgp backend, file datastore, dataplane in a node namespace) peering
 * with a BIRD ToR that announces PREFIXES routes: its RSS once every route is in the kernel,
 * averaged over 10 s of periodic reconciles (one sample lands anywhere in the GC cycle).
 */
async function daemonMemory(
  v8Flags: string[],
  prefixes: number,
): Promise<{ rss: number; hwm: number }> {
  const tor = netns(`dtor${created.length}`), node = netns(`dnode${created.length}`);
  veth(tor, node, "192.168.77.254", "192.168.77.1");
  const bird = await startBird({ netns: `/run/netns/${tor}`, config: torConfig(prefixes) });
  const dir = await Deno.makeTempDir({ prefix: "skein-bgp-bench-" });
  const listen = `127.0.0.1:${freePort()}`;
  Deno.writeTextFileSync(
    `${dir}/daemon.yaml`,
    `name: bench-node
network: 10.244.0.0/16
subnetLen: 24
backend:
  type: bgp
  nodeToNodeMesh: false
  peers: [{address: 192.168.77.254, asNumber: 65000, import: all, export: all}]
datastore: {type: file, dir: ${dir}/store, ttl: 3600}
iface: eth0
netns: /run/netns/${node}
listen: ${listen}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
logLevel: warn
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-prompt",
      ...v8Flags,
      MAIN,
      "daemon",
      "--config",
      `${dir}/daemon.yaml`,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  children.add(child);
  try {
    using h = openHandle({ netns: `/run/netns/${node}` });
    await waitCount(h, 186, prefixes);
    await new Promise((r) => setTimeout(r, 3000));
    let sum = 0, n = 0;
    for (const end = performance.now() + 10_000; performance.now() < end; n++) {
      await new Promise((r) => setTimeout(r, 250));
      sum += memOf(child.pid).rss;
    }
    return { rss: sum / n, hwm: memOf(child.pid).hwm };
  } finally {
    child.kill("SIGKILL");
    await child.status;
    children.delete(child);
    await bird.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function memory(): Promise<void> {
  console.log(
    `\nRSS of a skein daemon (bgp backend, file datastore) with ${PREFIXES} BGP routes in its kernel:`,
  );
  const floor = await daemonMemory(LAUNCHER_V8, 1);
  const full = await daemonMemory(LAUNCHER_V8, PREFIXES);
  const plain = await daemonMemory([], PREFIXES);
  const row = (what: string, m: { rss: number; hwm: number }) =>
    console.log(
      `  ${what.padEnd(58)}${m.rss.toFixed(1).padStart(7)} MiB   peak ${m.hwm.toFixed(1)} MiB`,
    );
  row(`as installed (${LAUNCHER_V8.join(" ")}), 1 route`, floor);
  row(`as installed (${LAUNCHER_V8.join(" ")}), ${PREFIXES} routes`, full);
  row(`deno run without V8 flags, ${PREFIXES} routes`, plain);
  console.log(`  target < 100 MiB (mean over 10 s of periodic reconciles; peak = VmHWM)`);
}

async function mesh(): Promise<void> {
  const lan = netns("lan");
  sh("ip", "-n", lan, "link", "add", "br0", "type", "bridge");
  sh("ip", "-n", lan, "link", "set", "br0", "up");
  const total = MESH + ROUNDS;
  const nodes: { ns: string; ip: string; lease: Lease }[] = [];
  for (let i = 1; i <= total; i++) {
    const ns = netns(`m${i}`);
    sh(
      "ip",
      "-n",
      ns,
      "link",
      "add",
      "eth0",
      "type",
      "veth",
      "peer",
      "name",
      `p${i}`,
      "netns",
      lan,
    );
    sh("ip", "-n", ns, "addr", "add", `192.168.80.${10 + i}/24`, "dev", "eth0");
    sh("ip", "-n", ns, "link", "set", "eth0", "up");
    sh("ip", "-n", lan, "link", "set", `p${i}`, "master", "br0", "up");
    nodes.push({ ns, ip: `192.168.80.${10 + i}`, lease: lease(i, `192.168.80.${10 + i}`) });
  }
  let live = nodes.slice(0, MESH).map((n) => n.lease);
  const settings = { asNumber: 64512, holdTime: 9 };
  const bs = nodes.map((n) => backend(n.ns, n.ip, settings, n.lease, () => live));
  const samples: number[] = [];
  try {
    for (const x of bs.slice(0, MESH)) await x.start();
    for (const x of bs.slice(0, MESH)) x.reconcile();
    for (let i = 0; i < MESH; i++) await waitCount(bs[i]!.handle, 186, MESH - 1, 30_000);
    for (let r = 0; r < ROUNDS; r++) {
      const j = MESH + r, fresh = nodes[j]!;
      const t0 = performance.now();
      live = [...live, fresh.lease];
      await bs[j]!.start();
      for (let i = 0; i <= j; i++) bs[i]!.reconcile();
      const waits = bs.slice(0, j).map(async (x) => {
        while (
          !x.handle.routeList({ table: 254 }).some((rt) =>
            rt.dst === fresh.lease.subnet && rt.protocol === 186
          )
        ) {
          await new Promise((res) => setTimeout(res, 2));
        }
        samples.push(performance.now() - t0);
      });
      await Promise.all(waits);
    }
    samples.sort((a, b) => a - b);
    const p = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
    console.log(
      `\nMesh convergence after a new lease (${MESH}-node iBGP mesh, ${samples.length} samples, one process):`,
    );
    console.log(
      `  p50 ${p(0.5).toFixed(1)} ms   p90 ${p(0.9).toFixed(1)} ms   max ${
        samples.at(-1)!.toFixed(1)
      } ms   (target p50 < 100 ms)`,
    );
  } finally {
    for (const x of bs) await x.close();
  }
}

if (!haveBird()) {
  console.log("SKIP: BIRD 2 is not installed (scripts/deps.sh --test)");
} else {
  const unregister = cleanupOnInterrupt(cleanup);
  try {
    if (!args.includes("--no-prefixes")) {
      await tenThousand();
      await memory();
    }
    await mesh();
  } finally {
    cleanup();
    unregister();
  }
}
