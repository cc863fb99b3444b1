/**
 * CNI benchmark (root): skein vs the reference `bridge` + `host-local` on the same config
 * shape, same run. ADD and DEL latency (median, p95 over N pods, sequential) and wall time of
 * C concurrent ADDs, printed side by side with the ratio skein / reference.
 *
 *   deno run -A tests/bench/cni_bench.ts [--pods 50] [--concurrent 30]
 *
 * skein runs through the launcher form (`deno run -A --cached-only main.ts`), or the installed
 * skein named by $SKEIN_BIN (e.g. install.sh's launcher), with the minimal environment a
 * container runtime gives.
 */
import { parseArgs } from "node:util";
import { withNamespaces } from "../_netns.ts";
import { callOk, cniBinDir, inNs } from "../_cni.ts";

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
  conf: (dataDir: string) => Record<string, unknown>;
}

const impls: Impl[] = [
  {
    label: "skein",
    plugin: "skein",
    conf: (dataDir) => ({
      cniVersion: "1.0.0",
      name: "bench-skein",
      type: "skein",
      bridge: "bsk0",
      isGateway: true,
      isDefaultGateway: true,
      ipam: { type: "skein", dataDir, subnet: "10.254.0.0/22" },
    }),
  },
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
];

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const results: Record<string, { add: number[]; del: number[]; conc: number }> = {};
cniBinDir();
await withNamespaces(
  ["bhost", ...Array.from({ length: Math.max(PODS, CONC) }, (_, i) => `bp${i}`)],
  async (ns) => {
    const host = ns.bhost!;
    inNs(host, ["ip", "link", "set", "lo", "up"]);
    const pods = Array.from({ length: Math.max(PODS, CONC) }, (_, i) => ns[`bp${i}`]!);
    for (const impl of impls) {
      const dataDir = Deno.makeTempDirSync({ prefix: "skein-bench-" });
      try {
        const conf = impl.conf(dataDir);
        const call = (command: "ADD" | "DEL", i: number, prefix: string) =>
          callOk({
            command,
            conf,
            containerId: `${prefix}${i}`,
            netns: pods[i],
            hostNs: host,
            plugin: impl.plugin,
          });
        // warm-up (creates the bridge, warms caches)
        await call("ADD", 0, "warm");
        await call("DEL", 0, "warm");
        const add: number[] = [];
        const del: number[] = [];
        for (let i = 0; i < PODS; i++) add.push(await timeIt(() => call("ADD", i, "s")));
        for (let i = 0; i < PODS; i++) del.push(await timeIt(() => call("DEL", i, "s")));
        const conc = await timeIt(() =>
          Promise.all(Array.from({ length: CONC }, (_, i) => call("ADD", i, "c")))
        );
        await Promise.all(Array.from({ length: CONC }, (_, i) => call("DEL", i, "c")));
        results[impl.label] = { add, del, conc };
      } finally {
        Deno.removeSync(dataDir, { recursive: true });
      }
    }
  },
);

const sk = results["skein"]!;
const ref = results["bridge+host-local"]!;
const row = (name: string, a: number, b: number) =>
  console.log(
    `${name.padEnd(28)} ${a.toFixed(1).padStart(9)} ${b.toFixed(1).padStart(9)} ${
      (a / b).toFixed(2).padStart(7)
    }`,
  );
console.log(`CNI benchmark: ${PODS} sequential pods, ${CONC} concurrent ADDs (times in ms)`);
console.log(`${"".padEnd(28)} ${"skein".padStart(9)} ${"ref".padStart(9)} ${"ratio".padStart(7)}`);
const a1 = stats(sk.add), a2 = stats(ref.add), d1 = stats(sk.del), d2 = stats(ref.del);
row("ADD median", a1.median, a2.median);
row("ADD p95", a1.p95, a2.p95);
row("DEL median", d1.median, d2.median);
row("DEL p95", d1.p95, d2.p95);
row(`${CONC} concurrent ADDs (wall)`, sk.conc, ref.conc);
