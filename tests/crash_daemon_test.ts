/**
 * Crash injection on the node daemon (root): two real `skein daemon`s (vxlan, one shared file
 * store, nodes "a" and "b" in two namespaces joined by a veth pair) and 300 synthetic peer leases
 * are SIGKILLed at seeded random moments, many times over: during start-up, the first lease
 * acquisition, the device setup, the reconcile of every peer's neighbour, FDB entry and route,
 * the lease-file writes and renewals (TTL 6 s), and in the middle of a SIGTERM shutdown. Between
 * runs the test changes what the daemons will find, as the world would while they are dead: peers
 * leave and join, a peer's VTEP MAC changes, the node's own record expires (a clock jump) or is
 * dated far ahead, its subnet.json is truncated or turned into garbage, a stale route, neighbour
 * or FDB entry of skein's is left behind, the device is deleted, the node "reboots" after its TTL
 * (record expired, subnet.json and device gone: it must get its subnet back), its record is
 * deleted and its subnet taken by a new node (it must take another one, never share it).
 *
 * After every kill: each node has at most one lease record and it is still the subnet it got
 * first; the two nodes never hold the same subnet; a lease file, when present, is whole. Every
 * fifth run (and at the end) both daemons run to readiness and each kernel must hold exactly the
 * plan: one vxlan device, and a route, permanent neighbour and FDB entry for every other live
 * lease, nothing else of skein's (no stale entry of a departed peer, no duplicate device), one
 * masquerade table for its own subnet (ipMasq is on, so kills land in the nft transaction too), and
 * the temporary files a writer killed between write and rename would leave are gone.
 *
 * Seeded: `SKEIN_CRASH_SEED=<n>` repeats a run (the seed is printed); `SKEIN_CRASH_RUNS` sets
 * the number of kill rounds (default 15; the suite runs with a fresh seed each time). No timing assertions: kill moments are drawn from the
 * time this machine took to get ready, so they land in every phase on a slow machine too.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { FileStore } from "../store/file.ts";
import type { Lease } from "../store/types.ts";
import { withNamespaces } from "./_netns.ts";
import { bridgej, eth0Pair, ip, ipj, type Json, nsNameOf } from "./net_oracle.ts";
import { DaemonProc, freePort, httpGet, waitFor } from "./_daemon_proc.ts";

const RUNS = Number(Deno.env.get("SKEIN_CRASH_RUNS") ?? 15);
const SEED = Number(Deno.env.get("SKEIN_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const PEERS = 300;
const TTL = 6;
/** Lines a start logs, in order (info level): kills are aimed at these moments too. */
const MARKS = [
  "starting",
  "uplink chosen",
  "backend ready",
  "lease acquired",
  "lease file written",
  "masquerade rules in place",
  "routes programmed",
  "lease renewed", // TTL / 3 after the acquisition
];
const NODE_IP = { a: "192.168.77.1", b: "192.168.77.2" } as const;
type NodeName = keyof typeof NODE_IP;

/**
 * The nodes' uplink: a veth "eth0" from a to b; each node in `up` gets its NODE_IP (/24) on
 * it and sets it up (a lone daemon needs only a's end).
 */
function wire(ns: Record<string, string | undefined>, up: readonly NodeName[]): void {
  eth0Pair(ns.a!, ns.b!);
  for (const n of up) {
    ip(ns[n]!, "addr", "add", `${NODE_IP[n]}/24`, "dev", "eth0");
    ip(ns[n]!, "link", "set", "eth0", "up");
  }
}

/** mulberry32: a small seeded PRNG, so a failing run can be repeated. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function peerMac(i: number, gen = 0): string {
  const h = (n: number) => n.toString(16).padStart(2, "0");
  return `0a:77:${h(gen)}:00:${h(i >> 8)}:${h(i & 255)}`;
}

/** Writes peer i's lease as its daemon would (a node on a routed underlay). */
function addPeer(store: FileStore, i: number, gen = 0): Promise<Lease> {
  return store.acquire({
    node: `peer-${i}`,
    publicIP: `10.77.${i >> 7}.${(i & 127) + 1}`,
    backendType: "vxlan",
    backendData: { VtepMAC: peerMac(i, gen) },
    ttlSeconds: 3600,
  });
}

function config(dir: string, node: NodeName, ns: string, listen: string): string {
  return `name: ${node}
network: 10.240.0.0/12
backend: {type: vxlan}
datastore: {type: file, dir: ${dir}/store, ttl: ${TTL}}
iface: eth0
netns: ${ns}
listen: ${listen}
leaseFile: ${dir}/${node}/run/subnet.json
subnetEnv: ${dir}/${node}/run/subnet.env
stateDir: ${dir}/${node}/state
cniSocket: none
ipMasq: true
reconcileInterval: 3
leaseGrace: 0
logLevel: debug
`;
}

/** The store's records, read raw (expired and corrupt ones too): node → subnets. */
function recordsByNode(dir: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const e of Deno.readDirSync(`${dir}/store/subnets`)) {
    if (!e.name.endsWith(".json") || e.name.startsWith(".")) continue;
    let node = "(unreadable)";
    try {
      node = JSON.parse(Deno.readTextFileSync(`${dir}/store/subnets/${e.name}`)).Node ?? node;
    } catch { /* counted as unreadable */ }
    m.set(node, [...(m.get(node) ?? []), e.name.replace(/-(\d+)\.json$/, "/$1")]);
  }
  return m;
}

/** What each node's kernel must hold: every live lease but its own. */
interface Expected {
  routes: string[];
  neighs: string[];
  fdbs: string[];
}

function expected(leases: Lease[], own: string): Expected {
  const others = leases.filter((l) => l.node !== own);
  return {
    routes: others.map((l) => l.subnet).sort(),
    neighs: others.map((l) => `${l.subnet.split("/")[0]} ${l.backendData!.VtepMAC}`).sort(),
    fdbs: others.map((l) => `${l.backendData!.VtepMAC} ${l.publicIP}`).sort(),
  };
}

/** What the kernel of `ns` holds of skein's (ip -j as the oracle), in the same shape. */
function actual(ns: string): Expected & { links: string[] } {
  const links = ipj(ns, "-d", "link", "show").map((l: Json) =>
    `${l.ifname}${l.linkinfo?.info_kind ? `:${l.linkinfo.info_kind}` : ""}`
  ).sort();
  const hasDev = links.includes("skein.1:vxlan");
  return {
    links,
    routes: ipj(ns, "route", "show", "proto", "100").map((r: Json) => r.dst).sort(),
    neighs: hasDev
      ? ipj(ns, "neigh", "show", "dev", "skein.1", "nud", "permanent")
        .map((n: Json) => `${n.dst} ${n.lladdr}`).sort()
      : [],
    fdbs: hasDev
      ? bridgej(ns, "fdb", "show", "dev", "skein.1").filter((f: Json) => f.dst)
        .map((f: Json) => `${f.mac} ${f.dst}`).sort()
      : [],
  };
}

Deno.test({
  name: "daemon SIGKILLed at random moments: same subnet, no duplicate, kernel converges exactly",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    console.log(`SKEIN_CRASH_SEED=${SEED} SKEIN_CRASH_RUNS=${RUNS}`);
    const rnd = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    await withNamespaces(["a", "b"], async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "skein-crash-daemon-" });
      const procs: DaemonProc[] = [];
      try {
        wire(ns, ["a", "b"]);
        const listen = { a: `127.0.0.1:${freePort()}`, b: `127.0.0.1:${freePort()}` };
        const cfg = { a: `${dir}/a.yaml`, b: `${dir}/b.yaml` };
        for (const n of ["a", "b"] as const) {
          Deno.writeTextFileSync(cfg[n], config(dir, n, ns[n]!, listen[n]));
        }
        const store = new FileStore({ dir: `${dir}/store` });
        await store.putNetworkConfigIfAbsent({
          network: "10.240.0.0/12",
          subnetLen: 24,
          backend: { type: "vxlan" },
        });
        const peers = new Map<number, number>(); // peer index → MAC generation
        for (let i = 0; i < PEERS; i++) {
          await addPeer(store, i);
          peers.set(i, 0);
        }
        let nextPeer = PEERS;
        const start = (n: NodeName) => {
          const p = new DaemonProc(cfg[n]);
          procs.push(p);
          return p;
        };
        const subnetOf = { a: "", b: "" };
        const readSubnet = (n: NodeName) => {
          const s = recordsByNode(dir).get(n);
          return s?.length === 1 ? s[0]! : "";
        };

        /** Both daemons to readiness, then each kernel must hold exactly the plan. */
        const converge = async (round: number) => {
          // What writers killed between write and rename leave (a dead pid's temporary files).
          const planted = [
            `${dir}/store/subnets/.10.241.45.0-24.json.999999.0badf00d.tmp`,
            `${dir}/store/.revision.999999.0badf00d.tmp`,
            `${dir}/a/run/.subnet.json.999999.0badf00d.tmp`,
            `${dir}/b/run/.subnet.env.999999.0badf00d.tmp`,
          ];
          for (const p of planted) {
            Deno.mkdirSync(p.slice(0, p.lastIndexOf("/")), { recursive: true });
            Deno.writeTextFileSync(p, '{"Subnet": "10.2');
          }
          const d = { a: start("a"), b: start("b") };
          const log = () => `a:\n${d.a.log()}\nb:\n${d.b.log()}`;
          for (const n of ["a", "b"] as const) {
            await waitFor(
              `${n} ready (round ${round})`,
              async () => (await httpGet(listen[n], "/readyz")).status === 200,
              { ms: 90_000, log },
            );
          }
          for (const n of ["a", "b"] as const) {
            if (!subnetOf[n]) subnetOf[n] = readSubnet(n);
            assertEquals(readSubnet(n), subnetOf[n], `${n} keeps its subnet (round ${round})`);
          }
          for (const n of ["a", "b"] as const) {
            let last: unknown;
            await waitFor(`${n}'s kernel holds exactly the plan (round ${round})`, async () => {
              const want = expected((await store.list()).leases, n);
              const got = actual(ns[n]!);
              last = { want, got };
              return got.links.join() === "eth0:veth,lo,skein.1:vxlan" &&
                got.routes.join() === want.routes.join() &&
                got.neighs.join() === want.neighs.join() &&
                got.fdbs.join() === want.fdbs.join();
            }, { ms: 60_000, log: () => `${JSON.stringify(last).slice(0, 3000)}\n${log()}` });
          }
          // One masquerade table per node, for its own subnet (an nft killed mid-script can
          // have applied a prefix of it: the next start puts the whole table back).
          for (const n of ["a", "b"] as const) {
            const tables = nftIn(ns[n]!, "list", "tables").split("\n")
              .filter((l) => l.includes("skein-masq"));
            assertEquals(tables, ["table inet skein-masq"], `round ${round}: ${n}'s nft tables`);
            const t = nftIn(ns[n]!, "list", "table", "inet", "skein-masq");
            assert(t.includes(`elements = { ${subnetOf[n]} }`), `round ${round}: ${n}: ${t}`);
            assert(t.includes("masquerade"), t);
          }
          const exists = (p: string) => {
            try {
              return Deno.lstatSync(p) !== undefined;
            } catch {
              return false;
            }
          };
          assertEquals(planted.filter(exists), [], "abandoned temporary files removed at start");
          await Promise.all([d.a.stop("SIGKILL"), d.b.stop("SIGKILL")]);
          return d.a.lines;
        };

        // Round 0: how long this machine takes from start to ready draws the kill moments.
        const t0 = performance.now();
        const first = await converge(0);
        const readyMs = performance.now() - t0;
        console.log("a start logs:", [...new Set(first.map(msgOf))].join(" | "));
        assert(subnetOf.a && subnetOf.b && subnetOf.a !== subnetOf.b, JSON.stringify(subnetOf));
        console.log(`ready in ${readyMs.toFixed(0)} ms; subnets ${JSON.stringify(subnetOf)}`);

        const phases = new Map<string, number>();
        const mutations = new Map<string, number>();
        const broken = new Set<NodeName>(); // subnet.json broken by the test, not yet rewritten
        for (let round = 1; round <= RUNS; round++) {
          const what = await mutate(rnd, pick, { dir, ns, store, peers, next: () => nextPeer++ });
          for (const m of what) mutations.set(m, (mutations.get(m) ?? 0) + 1);
          for (const n of ["a", "b"] as const) {
            // Its subnet went to another node: it must take a new one (learned when it does),
            // and its subnet.json names the old one until it is rewritten.
            if (what.includes(`${n}:own-stolen`)) {
              subnetOf[n] = "";
              broken.add(n);
            }
          }
          const d = { a: start("a"), b: start("b") };
          const plans = {
            a: planKill(rnd, pick, readyMs, MARKS),
            b: planKill(rnd, pick, readyMs, MARKS),
          };
          await Promise.all((["a", "b"] as const).map(async (n) => {
            await kill(d[n], plans[n]);
            const last = d[n].lines.findLast((l) => l.includes("msg="));
            const phase = last ? msgOf(last) : "(nothing logged)";
            phases.set(phase, (phases.get(phase) ?? 0) + 1);
          }));
          // Invariants right after the kill.
          const recs = recordsByNode(dir);
          for (const n of ["a", "b"] as const) {
            const mine = recs.get(n) ?? [];
            assert(mine.length <= 1, `round ${round}: ${n} holds ${mine.join(", ")}`);
            if (mine.length === 1) {
              if (!subnetOf[n]) subnetOf[n] = mine[0]!;
              assertEquals(mine[0], subnetOf[n], `round ${round} (${what}): ${n}'s subnet`);
            }
            // Whole and right, unless the test broke it and no daemon has rewritten it since.
            const file = `${dir}/${n}/run/subnet.json`;
            if (what.includes(`${n}:subnet.json`)) broken.add(n);
            let text: string | undefined;
            try {
              text = Deno.readTextFileSync(file);
            } catch (e) {
              if (!(e instanceof Deno.errors.NotFound)) throw e;
            }
            let subnet: string | undefined;
            try {
              subnet = text === undefined ? undefined : JSON.parse(text).subnet;
            } catch { /* not JSON */ }
            if (subnet === subnetOf[n]) broken.delete(n);
            else if (text !== undefined && !broken.has(n)) {
              throw new Error(`round ${round}: ${n}'s subnet.json is ${JSON.stringify(text)}`);
            }
          }
          const all = [...recs.values()].flat();
          assertEquals(new Set(all).size, all.length, `round ${round}: a subnet held twice`);
          for (const [node, subnets] of recs) {
            if (node === "(unreadable)") throw new Error(`round ${round}: unreadable record`);
            assertEquals(subnets.length, 1, `${node} has one record`);
          }
          if (round % 5 === 0 || round === RUNS) await converge(round);
        }
        console.log("last log line before each kill:", Object.fromEntries(phases));
        console.log("changes made while the daemons were dead:", Object.fromEntries(mutations));
        assert(phases.size >= 3, "the kills landed in several phases");
      } finally {
        for (const p of procs) await p.stop("SIGKILL");
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  },
});

/** `nft ARGS` inside the namespace `ns` (the oracle for the masquerade table). */
function nftIn(ns: string, ...args: string[]): string {
  const out = new Deno.Command("nsenter", { args: [`--net=${ns}`, "nft", ...args] }).outputSync();
  return new TextDecoder().decode(out.stdout);
}

/** The msg of a log line (`ts=... level=info msg="lease acquired" ...`). */
function msgOf(line: string): string {
  const m = line.match(/msg=("[^"]*"|\S+)/)?.[1] ?? "?";
  return m.replace(/^"|"$/g, "");
}

/** Where one kill lands, drawn before anything runs so a seed gives the same kills. */
interface KillPlan {
  /** Kill this many ms after start, or ... */
  afterMs?: number;
  /** ... this many ms after this line is logged. */
  mark?: { msg: string; ms: number };
  /** SIGTERM first, then SIGKILL this many ms later (in the middle of the shutdown). */
  termFirstMs?: number;
}

/**
 * A random kill: a third of the time anywhere in the first 1.3x of the time a start took,
 * otherwise within 40 ms after a random one of the lines a start logs; one kill in five is
 * preceded by a SIGTERM.
 */
function planKill(
  rnd: () => number,
  pick: <T>(xs: readonly T[]) => T,
  readyMs: number,
  marks: string[],
): KillPlan {
  const p: KillPlan = rnd() < 1 / 3 || marks.length === 0
    ? { afterMs: rnd() * readyMs * 1.3 }
    : { mark: { msg: pick(marks), ms: rnd() * 40 } };
  if (rnd() < 0.2) p.termFirstMs = rnd() * 300;
  return p;
}

async function kill(d: DaemonProc, p: KillPlan): Promise<void> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  if (p.mark) {
    const end = Date.now() + 30_000;
    while (Date.now() < end && !d.lines.some((l) => msgOf(l) === p.mark!.msg)) await sleep(3);
    await sleep(p.mark.ms);
  } else await sleep(p.afterMs ?? 0);
  if (p.termFirstMs !== undefined) {
    try {
      d.child.kill("SIGTERM");
    } catch { /* exited */ }
    await sleep(p.termFirstMs);
  }
  await d.stop("SIGKILL");
}

/** Changes the world while both daemons are dead; returns what it did. */
async function mutate(
  rnd: () => number,
  pick: <T>(xs: readonly T[]) => T,
  w: {
    dir: string;
    ns: Record<string, string>;
    store: FileStore;
    peers: Map<number, number>;
    next: () => number;
  },
): Promise<string[]> {
  const done: string[] = [];
  const n = pick(["a", "b"] as const);
  const ns = w.ns[n]!;
  const kind = pick(
    [
      "none",
      "peers-leave",
      "peers-join",
      "peer-mac",
      "own-expired",
      "own-far-future",
      "subnet.json",
      "stale-kernel",
      "device-gone",
      "reboot-after-ttl",
      "own-stolen",
    ] as const,
  );
  const ownFile = () => {
    for (const e of Deno.readDirSync(`${w.dir}/store/subnets`)) {
      const p = `${w.dir}/store/subnets/${e.name}`;
      try {
        if (JSON.parse(Deno.readTextFileSync(p)).Node === n) return p;
      } catch { /* not a record */ }
    }
    return undefined;
  };
  switch (kind) {
    case "peers-leave": {
      for (let k = 0; k < 1 + Math.floor(rnd() * 10); k++) {
        const i = pick([...w.peers.keys()]);
        if (i === undefined) break;
        const f = [...Deno.readDirSync(`${w.dir}/store/subnets`)].find((e) => {
          try {
            return JSON.parse(Deno.readTextFileSync(`${w.dir}/store/subnets/${e.name}`)).Node ===
              `peer-${i}`;
          } catch {
            return false;
          }
        });
        if (f) Deno.removeSync(`${w.dir}/store/subnets/${f.name}`);
        w.peers.delete(i);
      }
      done.push(kind);
      break;
    }
    case "peers-join":
      for (let k = 0; k < 1 + Math.floor(rnd() * 10); k++) {
        const i = w.next();
        w.peers.set(i, 0);
        await addPeer(w.store, i);
      }
      done.push(kind);
      break;
    case "peer-mac": {
      const i = pick([...w.peers.keys()]);
      if (i !== undefined) {
        const gen = w.peers.get(i)! + 1;
        w.peers.set(i, gen);
        await addPeer(w.store, i, gen);
      }
      done.push(kind);
      break;
    }
    case "own-expired":
    case "own-far-future": {
      const p = ownFile();
      if (p) {
        const rec = JSON.parse(Deno.readTextFileSync(p));
        rec.Expiration = kind === "own-expired"
          ? new Date(Date.now() - 86_400_000).toISOString()
          : new Date(Date.now() + 10 * 365 * 86_400_000).toISOString();
        Deno.writeTextFileSync(p, JSON.stringify(rec));
      }
      done.push(`${n}:${kind}`);
      break;
    }
    case "subnet.json": {
      const f = `${w.dir}/${n}/run/subnet.json`;
      Deno.mkdirSync(`${w.dir}/${n}/run`, { recursive: true });
      Deno.writeTextFileSync(f, pick(["", '{"subnet": "10.244.', "\u0000garbage", "[]"]));
      done.push(`${n}:subnet.json`);
      break;
    }
    case "stale-kernel": {
      if (ipj(ns, "link", "show").some((l: Json) => l.ifname === "skein.1")) {
        ip(
          ns,
          "route",
          "replace",
          "10.244.250.0/24",
          "via",
          "10.244.250.0",
          "dev",
          "skein.1",
          "onlink",
          "proto",
          "100",
        );
        ip(
          ns,
          "neigh",
          "replace",
          "10.244.251.0",
          "lladdr",
          "0a:66:00:00:00:01",
          "dev",
          "skein.1",
          "nud",
          "permanent",
        );
        new Deno.Command("bridge", {
          args: [
            "-n",
            nsNameOf(ns),
            "fdb",
            "append",
            "0a:66:00:00:00:02",
            "dev",
            "skein.1",
            "dst",
            "10.66.0.2",
            "self",
            "permanent",
          ],
          stdout: "null",
          stderr: "null",
        }).outputSync();
      }
      done.push(`${n}:${kind}`);
      break;
    }
    case "reboot-after-ttl": {
      // Down past its TTL and rebooted: the record expired, /run (a tmpfs) and the device gone.
      const p = ownFile();
      if (p) {
        const rec = JSON.parse(Deno.readTextFileSync(p));
        rec.Expiration = new Date(Date.now() - 60_000).toISOString();
        Deno.writeTextFileSync(p, JSON.stringify(rec));
      }
      Deno.removeSync(`${w.dir}/${n}/run`, { recursive: true });
      try {
        ip(ns, "link", "del", "skein.1");
      } catch { /* not there yet */ }
      done.push(`${n}:${kind}`);
      break;
    }
    case "own-stolen": {
      // An operator deleted its record while it was down and a new node took the subnet.
      const p = ownFile();
      if (p) {
        const rec = JSON.parse(Deno.readTextFileSync(p));
        Deno.removeSync(p);
        const i = w.next();
        w.peers.set(i, 0);
        await w.store.acquire({
          node: `peer-${i}`,
          publicIP: `10.77.${i >> 7}.${(i & 127) + 1}`,
          backendType: "vxlan",
          backendData: { VtepMAC: peerMac(i) },
          ttlSeconds: 3600,
          previousSubnet: rec.Subnet,
        });
        done.push(`${n}:${kind}`);
      } else done.push(`${n}:own-stolen-none`);
      break;
    }
    case "device-gone":
      try {
        ip(ns, "link", "del", "skein.1");
      } catch { /* not there yet */ }
      done.push(`${n}:${kind}`);
      break;
    default:
      done.push(kind);
  }
  return done;
}

Deno.test({
  name: "two daemons started at once for one node: one runs, the other refuses and changes nothing",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withNamespaces(["a", "b"], async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "skein-crash-twin-" });
      const procs: DaemonProc[] = [];
      try {
        wire(ns, ["a"]);
        const store = new FileStore({ dir: `${dir}/store` });
        await store.putNetworkConfigIfAbsent({
          network: "10.240.0.0/12",
          subnetLen: 24,
          backend: { type: "vxlan" },
        });
        for (let i = 0; i < 20; i++) await addPeer(store, i);
        // Same node, another listen address and backend: before, both ran and undid each
        // other's work (vxlan against host-gw: ~50 runs a second, the device recreated 200
        // times in 15 s), both answering ready.
        for (let round = 0; round < 3; round++) {
          const listen = [`127.0.0.1:${freePort()}`, `127.0.0.1:${freePort()}`];
          const files = listen.map((l, k) => {
            const f = `${dir}/d${k}.yaml`;
            const text = config(dir, "a", ns.a!, l).replace("{type: vxlan}", "{type: host-gw}");
            Deno.writeTextFileSync(f, k === 0 ? config(dir, "a", ns.a!, l) : text);
            return f;
          });
          const d = files.map((f) => new DaemonProc(f));
          procs.push(...d);
          const log = () => d.map((x, k) => `daemon ${k}:\n${x.log()}`).join("\n");
          // Exactly one of them exits, with code 1 and the reason.
          let timer: ReturnType<typeof setTimeout> | undefined;
          const loser = await Promise.race([
            ...d.map((x, k) => x.child.status.then(() => k)),
            new Promise<never>((_, reject) => {
              timer = setTimeout(
                () => reject(new Error(`both daemons run for one node after 60 s\n${log()}`)),
                60_000,
              );
            }),
          ]).finally(() => clearTimeout(timer));
          const st = await d[loser]!.child.status;
          assertEquals(st.code, 1, log());
          await d[loser]!.stop();
          assert(
            d[loser]!.log().includes("another skein daemon runs for this node"),
            log(),
          );
          const winner = 1 - loser;
          await waitFor(
            `the other daemon ready (round ${round})`,
            async () => (await httpGet(listen[winner]!, "/readyz")).status === 200,
            { ms: 60_000, log },
          );
          assert(!d[loser]!.log().includes("backend ready"), "the refused one touched nothing");
          await d[winner]!.stop("SIGKILL");
        }
      } finally {
        for (const p of procs) await p.stop("SIGKILL");
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  },
});

Deno.test({
  name: "a read-only stateDir: the daemon warns, still starts and gets ready (vxlan)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withNamespaces(["a", "b"], async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "skein-crash-rostate-" });
      let child: Deno.ChildProcess | undefined;
      try {
        wire(ns, ["a"]);
        const listen = `127.0.0.1:${freePort()}`;
        Deno.writeTextFileSync(`${dir}/a.yaml`, config(dir, "a", ns.a!, listen));
        Deno.mkdirSync(`${dir}/a/state`, { recursive: true });
        // Read-only only in the daemon's private mount namespace: the host sees no change.
        const main = new URL("../main.ts", import.meta.url).pathname;
        const script = `mount --bind -o ro '${dir}/a/state' '${dir}/a/state' && ` +
          `exec '${Deno.execPath()}' run -A --no-prompt '${main}' daemon --config '${dir}/a.yaml'`;
        child = new Deno.Command("unshare", {
          args: ["-m", "--propagation", "private", "sh", "-c", script],
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const lines: string[] = [];
        const done = (async () => {
          for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) lines.push(c);
        })();
        const log = () => lines.join("");
        // Before: the VTEP MAC's write failed (EROFS) and the daemon exited with "daemon failed".
        await waitFor(
          "/readyz 200 with a read-only stateDir",
          async () => (await httpGet(listen, "/readyz")).status === 200,
          { ms: 60_000, log },
        );
        assert(log().includes("cannot take the node lock; running without it"), log());
        assertEquals(actual(ns.a!).links.join(), "eth0:veth,lo,skein.1:vxlan");
        child.kill("SIGKILL");
        await child.status;
        await done;
        child = undefined;
      } finally {
        try {
          child?.kill("SIGKILL");
          await child?.status;
        } catch { /* exited */ }
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  },
});

Deno.test({
  name:
    "a FIFO planted as subnet.json: replaced, the lease-file watch goes on, SIGTERM still stops the daemon",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withNamespaces(["a", "b"], async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "skein-crash-fifo-" });
      let d: DaemonProc | undefined;
      try {
        wire(ns, ["a"]);
        const listen = `127.0.0.1:${freePort()}`;
        // The timer (3600 s) never runs: only the lease-file watch can see what follows.
        Deno.writeTextFileSync(
          `${dir}/a.yaml`,
          config(dir, "a", ns.a!, listen).replace(
            "reconcileInterval: 3",
            "reconcileInterval: 3600",
          ),
        );
        d = new DaemonProc(`${dir}/a.yaml`);
        const log = d.log;
        await waitFor("ready", async () => (await httpGet(listen, "/readyz")).status === 200, {
          ms: 60_000,
          log,
        });
        const lease = `${dir}/a/run/subnet.json`;
        const isFile = (p: string) => {
          try {
            return Deno.lstatSync(p).isFile;
          } catch {
            return false;
          }
        };
        // Made in the watched directory (Deno.watchFs's thread, the watch used before, opened it
        // and waited for a writer; net/inotify.ts never opens it).
        const r = new Deno.Command("mkfifo", { args: [`${lease}.fifo`] }).outputSync();
        assert(r.success, "mkfifo");
        Deno.renameSync(`${lease}.fifo`, lease);
        await waitFor("subnet.json a regular file again", () => isFile(lease), { log });
        // The watch still reports changes (before, its thread stayed stuck in the FIFO's open).
        Deno.removeSync(`${dir}/a/run/subnet.env`);
        await waitFor("subnet.env rewritten", () => isFile(`${dir}/a/run/subnet.env`), { log });
        // And SIGTERM still stops it (before, closing the stuck watcher stalled the event loop).
        let timer: ReturnType<typeof setTimeout> | undefined;
        const st = await Promise.race([
          d.stop("SIGTERM"),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`SIGTERM did not stop it\n${log()}`)),
              30_000,
            );
          }),
        ]).finally(() => clearTimeout(timer));
        assertEquals(st.code, 0, log());
        d = undefined;
      } finally {
        await d?.stop("SIGKILL");
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  },
});
