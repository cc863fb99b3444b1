/**
 * The IPAM kill -9 soak (issue 13): the installed CNI plugin run the way a container runtime
 * runs it, with ADD, DEL and GC processes SIGKILLed at uniform random moments, then the
 * runtime's DEL for every container. Counts what must be zero: leaked reservations (any file
 * left when every container has been deleted) and duplicates (an address handed to a second
 * attachment while its holder still had it, or a live attachment's reservation lost).
 *
 * One iteration: a fresh pod namespace, an ADD sent SIGKILL with probability 0.75 at a moment
 * uniform in 0-1.5x the median ADD time (of the last 21 completed ADDs, so it follows the load):
 * about 60% die before they finish, as in the run (589 of 1,000; the rest of the kills
 * land after the process exited); the runtime DELs containers in order, a few iterations later
 * (so several attachments are live at once in a small range and kills hit a busy store); a
 * quarter of the DELs run after the pod namespace is gone, half of those without CNI_NETNS; a
 * third of the DELs are themselves killed first (then repeated, as a runtime retries DEL); every
 * ~20 iterations a GC with the runtime's containers as valid attachments, killed half the time;
 * in 4% of the iterations a writer dies holding the store lock after creating a reservation file
 * and before filling it (as host-local can), 1% leaving garbage instead: the next DEL, GC or
 * ADD that finds the range full must reclaim it.
 *
 * ```sh
 * deno task soak:ipam                                   # 3 seeds x 1,000 iterations
 * deno run -A tests/ipam_soak.ts --seeds 7 --iterations 100
 * ```
 * Prints `leaked / duplicates / iterations` per seed and in total; exits 1 when not 0 / 0.
 * Needs root (namespaces); the plugin is this checkout's (or $SKEIN_BIN, see tests/_cni.ts).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { netnsAdd, netnsDel } from "../net/netns.ts";
import { cniBinDir, inNs } from "./_cni.ts";
import { cleanupOnInterrupt, nsName, withNamespaces } from "./_netns.ts";

/** What one soak run found. */
export interface SoakResult {
  seed: number;
  iterations: number;
  /** Files left in the network directory after every container was deleted. */
  leaked: number;
  /** Addresses handed to a second attachment, or live reservations lost. */
  duplicates: number;
  /** What was left, for the report (file name → content). */
  leftovers: Record<string, string>;
  /** Host veths left in the node namespace. */
  veths: number;
  /** ADD / DEL / GC processes killed, and ADDs that ran to completion. */
  killed: { add: number; del: number; gc: number };
  added: number;
  /** Abandoned reservation files planted by dead writers (see deadWriter()). */
  planted: number;
  /** ADDs refused because the range was full (not an error: addresses come back on DEL). */
  exhausted: number;
  /** Median plugin call times measured before the run. */
  medianMs: { add: number; del: number; gc: number };
  /** Anything that went wrong besides leaks and duplicates (a DEL that failed, ...). */
  errors: string[];
}

/** Options of runIpamSoak(). */
export interface SoakOptions {
  seed: number;
  iterations: number;
  /** Subnet to allocate from (small, so addresses are reused quickly). */
  subnet?: string;
  /** Progress lines (every 100 iterations). */
  log?: (line: string) => void;
}

const PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const NETWORK = "soak";

/** mulberry32: a small seeded PRNG, so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Call {
  command: "ADD" | "DEL" | "GC";
  conf: unknown;
  containerId: string;
  /** Undefined: CNI_NETNS not set at all. */
  netns?: string;
  hostNs: string;
}

interface Outcome {
  code: number | null;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** One plugin process (nsenter, env and the launcher exec: the pid is the plugin's). */
async function run(c: Call, killAfterMs?: number): Promise<Outcome> {
  const env = [
    PATH,
    `CNI_COMMAND=${c.command}`,
    `CNI_CONTAINERID=${c.containerId}`,
    `CNI_IFNAME=eth0`,
    `CNI_PATH=${cniBinDir()}`,
  ];
  if (c.netns !== undefined) env.push(`CNI_NETNS=${c.netns}`);
  const started = performance.now();
  const child = new Deno.Command("nsenter", {
    args: [`--net=${c.hostNs}`, "env", "-i", ...env, `${cniBinDir()}/skein`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = killAfterMs === undefined ? undefined : setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, killAfterMs);
  const w = child.stdin.getWriter();
  w.write(new TextEncoder().encode(JSON.stringify(c.conf))).then(() => w.close()).catch(() => {});
  try {
    const out = await child.output();
    return {
      code: out.signal ? null : out.code,
      signal: out.signal,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr).slice(0, 300),
      ms: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Every file of the network directory but the lock and the round-robin cursors. */
function leftovers(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (e.name === "lock" || e.name.startsWith("last_reserved_ip.")) continue;
      out[e.name] = Deno.readTextFileSync(`${dir}/${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}

function addressesOf(stdout: string): string[] {
  try {
    const j = JSON.parse(stdout) as { ips?: { address: string }[] };
    return (j.ips ?? []).map((i) => i.address.replace(/\/[0-9]+$/, ""));
  } catch {
    return [];
  }
}

function errorCode(stdout: string): number | undefined {
  try {
    return (JSON.parse(stdout) as { code?: number }).code;
  } catch {
    return undefined;
  }
}

/**
 * Plays a writer that dies holding the store lock: `flock <dir>/lock` runs a shell that creates
 * `<dir>/<ip>` (when free) with `content` (empty: killed between create and fill) and SIGKILLs
 * itself; the lock goes with it, as with any dead process.
 */
function deadWriter(dir: string, ip: string, content: string): void {
  Deno.mkdirSync(dir, { recursive: true });
  const script = `[ -e '${dir}/${ip}' ] || printf '${content}' > '${dir}/${ip}'; kill -9 $$`;
  new Deno.Command("flock", { args: [`${dir}/lock`, "sh", "-c", script], stderr: "null" })
    .outputSync();
}

/** Runs one seed of the soak. Needs root. */
export async function runIpamSoak(opts: SoakOptions): Promise<SoakResult> {
  const rand = prng(opts.seed);
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-ipam-soak-" });
  const dir = `${dataDir}/${NETWORK}`;
  const conf = {
    cniVersion: "1.1.0",
    name: NETWORK,
    type: "skein",
    bridge: "sksoak0",
    isGateway: true,
    ipam: { type: "skein", dataDir, subnet: opts.subnet ?? "10.253.0.0/27" },
  };
  const res: SoakResult = {
    seed: opts.seed,
    iterations: opts.iterations,
    leaked: 0,
    duplicates: 0,
    leftovers: {},
    veths: 0,
    killed: { add: 0, del: 0, gc: 0 },
    added: 0,
    planted: 0,
    exhausted: 0,
    medianMs: { add: 0, del: 0, gc: 0 },
    errors: [],
  };
  const pods = new Set<string>(); // namespace names created and not yet deleted
  const deletePods = () => {
    for (const p of pods) {
      try {
        netnsDel(p);
      } catch {
        // best effort on interrupt
      }
    }
  };
  const unregister = cleanupOnInterrupt(deletePods);
  try {
    await withNamespaces(["node"], async (ns) => {
      const node = ns.node!;
      const podNs = (i: number) => nsName(`p${opts.seed}-${i}`);
      const makePod = (i: number) => {
        const name = podNs(i);
        netnsAdd(name);
        pods.add(name);
        return `/run/netns/${name}`;
      };
      const dropPod = (i: number) => {
        const name = podNs(i);
        if (!pods.delete(name)) return;
        netnsDel(name);
      };
      const gcConf = (valid: string[]) => ({
        ...conf,
        "cni.dev/valid-attachments": valid.map((id) => ({ containerID: id, ifname: "eth0" })),
      });
      // Median call times, from calls that are not killed.
      const t = { add: [] as number[], del: [] as number[], gc: [] as number[] };
      for (let k = 0; k < 5; k++) {
        const id = `warm${k}`;
        const netns = makePod(-1 - k);
        const a = await run({ command: "ADD", conf, containerId: id, netns, hostNs: node });
        if (a.code !== 0) throw new Error(`warm-up ADD failed: ${a.stdout}`);
        t.add.push(a.ms);
        const g = await run({ command: "GC", conf: gcConf([]), containerId: "", hostNs: node });
        t.gc.push(g.ms);
        const d = await run({ command: "DEL", conf, containerId: id, netns, hostNs: node });
        if (d.code !== 0) throw new Error(`warm-up DEL failed: ${d.stdout}`);
        t.del.push(d.ms);
        dropPod(-1 - k);
      }
      res.medianMs = { add: median(t.add), del: median(t.del), gc: median(t.gc) };

      /** Attachments the runtime still has (ADD run, DEL not yet done), in order. */
      const pending: { i: number; id: string; netns: string }[] = [];
      /** Addresses of attachments whose ADD returned a result → container ID. */
      const held = new Map<string, string>();
      const checkHeld = (when: string) => {
        for (const [ip, id] of held) {
          let content = "";
          try {
            content = Deno.readTextFileSync(`${dir}/${ip}`);
          } catch {
            // missing: lost
          }
          if (content !== `${id}\r\neth0`) {
            res.duplicates++;
            res.errors.push(`${when}: ${ip} of ${id} now holds ${JSON.stringify(content)}`);
            held.delete(ip);
          }
        }
      };
      const del = async (p: { i: number; id: string; netns: string }) => {
        const r = rand();
        let netns: string | undefined = p.netns;
        if (r < 0.25) {
          dropPod(p.i); // the pod's namespace went away before the runtime's DEL
          if (r < 0.125) netns = undefined;
        }
        const call: Call = { command: "DEL", conf, containerId: p.id, netns, hostNs: node };
        if (rand() < 1 / 3) {
          const k = await run(call, rand() * 1.5 * res.medianMs.del);
          if (k.signal) res.killed.del++;
        }
        const d = await run(call);
        if (d.code === 0) {
          t.del.push(d.ms);
          if (t.del.length > 21) t.del.shift();
          res.medianMs.del = median(t.del);
        }
        if (d.code !== 0) res.errors.push(`DEL ${p.id} exited ${d.code}: ${d.stdout}${d.stderr}`);
        dropPod(p.i);
        for (const [ip, id] of held) if (id === p.id) held.delete(ip);
        for (const [name, content] of Object.entries(leftovers(dir))) {
          // A DEL frees the attachment's addresses and whatever dead writers left.
          if (content.startsWith(`${p.id}\r\n`) || !/^[^\s]+\r\neth0$/.test(content)) {
            res.errors.push(`DEL ${p.id} left ${name} ${JSON.stringify(content)}`);
          }
        }
      };
      for (let i = 0; i < opts.iterations; i++) {
        const id = `s${opts.seed}-${i}`;
        const w = rand();
        if (w < 0.04) {
          // A host-local-style writer killed between its O_EXCL create and its write (or in the
          // middle of a garbled one), holding the real lock: what skein must reclaim.
          const ip = `${(opts.subnet ?? "10.253.0.0/27").split(".").slice(0, 3).join(".")}.${
            2 + Math.floor(rand() * 28)
          }`;
          deadWriter(dir, ip, w < 0.01 ? "x y" : "");
          res.planted++;
        }
        const netns = makePod(i);
        const kill = rand() < 0.75 ? rand() * 1.5 * res.medianMs.add : undefined;
        const a = await run({ command: "ADD", conf, containerId: id, netns, hostNs: node }, kill);
        pending.push({ i, id, netns });
        if (a.signal) res.killed.add++;
        else if (a.code === 0) {
          res.added++;
          // The median follows the machine's load: the last 21 completed ADDs.
          t.add.push(a.ms);
          if (t.add.length > 21) t.add.shift();
          res.medianMs.add = median(t.add);
          for (const ip of addressesOf(a.stdout)) {
            const other = held.get(ip);
            if (other !== undefined) {
              res.duplicates++;
              res.errors.push(`ADD ${id} got ${ip}, still held by ${other}`);
            }
            held.set(ip, id);
          }
          checkHeld(`after ADD ${id}`);
        } else if (errorCode(a.stdout) === 11) res.exhausted++;
        else res.errors.push(`ADD ${id} exited ${a.code}: ${a.stdout}${a.stderr}`);
        // The runtime DELs in order, 0-6 attachments behind.
        const lag = Math.floor(rand() * 7);
        while (pending.length > lag) await del(pending.shift()!);
        if (rand() < 0.05) {
          const call: Call = {
            command: "GC",
            conf: gcConf(pending.map((p) => p.id)),
            containerId: "",
            hostNs: node,
          };
          const killAt = rand() < 0.5 ? rand() * 1.5 * res.medianMs.gc : undefined;
          const g = await run(call, killAt);
          if (g.signal) res.killed.gc++;
          else if (g.code !== 0) res.errors.push(`GC exited ${g.code}: ${g.stdout}${g.stderr}`);
          checkHeld(`after GC at ${i}`);
        }
        if ((i + 1) % 100 === 0) {
          opts.log?.(
            `seed ${opts.seed}: ${i + 1}/${opts.iterations}, ${res.added} added, killed ${
              JSON.stringify(res.killed)
            }`,
          );
        }
      }
      while (pending.length > 0) await del(pending.shift()!);
      res.leftovers = leftovers(dir);
      res.leaked = Object.keys(res.leftovers).length;
      res.veths = (JSON.parse(inNs(node, ["ip", "-j", "link", "show"])) as { ifname: string }[])
        .filter((l) => l.ifname.startsWith("sk") && l.ifname !== conf.bridge).length;
    });
  } finally {
    deletePods();
    unregister();
    Deno.removeSync(dataDir, { recursive: true });
  }
  return res;
}

/** One line per seed: `seed S: leaked / duplicates / iterations = L / D / N (...)`. */
export function formatSoak(r: SoakResult): string {
  return `seed ${r.seed}: leaked / duplicates / iterations = ${r.leaked} / ${r.duplicates} / ${r.iterations}` +
    ` (ADD completed ${r.added}, killed ADD ${r.killed.add} DEL ${r.killed.del} GC ${r.killed.gc},` +
    ` dead writers ${r.planted}, range full ${r.exhausted}, veths left ${r.veths}, errors ${r.errors.length};` +
    ` median ms ADD ${r.medianMs.add.toFixed(0)} DEL ${r.medianMs.del.toFixed(0)} GC ${
      r.medianMs.gc.toFixed(0)
    })`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { seeds: { type: "string", default: "1,2,3" }, iterations: { type: "string" } },
  });
  const iterations = Number(values.iterations ?? 1000);
  const seeds = values.seeds!.split(",").map(Number);
  let leaked = 0, duplicates = 0, total = 0, errors = 0;
  for (const seed of seeds) {
    const r = await runIpamSoak({ seed, iterations, log: (l) => console.log(l) });
    console.log(formatSoak(r));
    for (const [name, content] of Object.entries(r.leftovers)) {
      console.log(`  left: ${name} ${JSON.stringify(content)}`);
    }
    for (const e of r.errors.slice(0, 20)) console.log(`  error: ${e}`);
    leaked += r.leaked;
    duplicates += r.duplicates;
    total += r.iterations;
    errors += r.errors.length;
  }
  console.log(`total: leaked / duplicates / iterations = ${leaked} / ${duplicates} / ${total}`);
  Deno.exit(leaked === 0 && duplicates === 0 && errors === 0 ? 0 : 1);
}
