/**
 * Where a CNI call's time goes (root): runs sequential ADDs and DELs of skein, served by the
 * daemon's CNI service and in-process, with `SKEIN_TRACE=1` in the plugin's and the service's
 * environment, and prints the median time of each step, lined up on the wall clock: from the
 * runtime starting the plugin (spawn) through each mark of the call (cni/_trace.ts: the
 * plugin's own in-process, the service's for a forwarded call) to the plugin's exit as the
 * runtime sees it. The reference `bridge` + `host-local` runs in the same loop for scale.
 *
 *   deno run -A tests/bench/cni_profile.ts [--calls 30]
 *
 * Like cni_bench.ts it runs this checkout's launcher, or the installed skein named by
 * $SKEIN_BIN (`deno task build` then `SKEIN_BIN=$PWD/dist/cni/skein`).
 */
import { parseArgs } from "node:util";
import { withNamespaces } from "../_netns.ts";
import { callPlugin, cniService, inNs } from "../_cni.ts";

const { values } = parseArgs({ options: { calls: { type: "string", default: "30" } } });
const CALLS = Number(values.calls);
// The service started below inherits it: its marks go to its log.
Deno.env.set("SKEIN_TRACE", "1");

/** One mark: what, and when (ms since the epoch). */
type Mark = [label: string, at: number];

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** The marks in `text` (traceFlush() lines), labelled with `who`. */
function marksIn(text: string, who: string): Mark[] {
  const out: Mark[] = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^skein trace .*? ms {2}\+[\d.]+ {2}(.*) {2}@([\d.]+)$/);
    if (m) out.push([`${who}${m[1]}`, Number(m[2])]);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** Per step (previous mark -> this one), the median over the calls; steps in call order. */
function steps(calls: Mark[][]): [string, number, number][] {
  const per = new Map<string, number[]>();
  for (const marks of calls) {
    for (let i = 1; i < marks.length; i++) {
      const key = `${marks[i - 1]![0]} -> ${marks[i]![0]}`;
      if (!per.has(key)) per.set(key, []);
      per.get(key)!.push(marks[i]![1] - marks[i - 1]![1]);
    }
  }
  return [...per].map(([k, v]) => [k, median(v), v.length]);
}

const conf = (name: string, bridge: string, subnet: string, dataDir: string) => ({
  cniVersion: "1.0.0",
  name,
  type: "skein",
  bridge,
  isGateway: true,
  isDefaultGateway: true,
  ipam: { type: "skein", dataDir, subnet },
});
const calls: Record<string, Mark[][]> = {};
const ref: Record<string, number[]> = { ADD: [], DEL: [] };

await withNamespaces(
  ["phost", ...Array.from({ length: CALLS }, (_, i) => `pp${i}`)],
  async (ns) => {
    const host = ns.phost!;
    inNs(host, ["ip", "link", "set", "lo", "up"]);
    const socket = cniService(host);
    const log = `${socket.slice(0, socket.lastIndexOf("/"))}/log`;
    const dirs = [0, 1, 2].map(() => Deno.makeTempDirSync({ prefix: "skein-profile-" }));
    const modes = [
      { mode: "daemon", conf: conf("prof-d", "bprofd0", "10.253.0.0/22", dirs[0]!), socket },
      { mode: "in-process", conf: conf("prof-i", "bprofi0", "10.253.4.0/22", dirs[1]!) },
    ];
    const refConf = {
      ...conf("prof-ref", "bprofr0", "10.253.8.0/22", dirs[2]!),
      type: "bridge",
      ipam: { type: "host-local", dataDir: dirs[2]!, subnet: "10.253.8.0/22" },
    };
    let logOff = 0;
    const serviceMarks = (): Mark[] => {
      const text = Deno.readTextFileSync(log);
      const fresh = text.slice(logOff);
      logOff = text.length;
      return marksIn(fresh, "daemon: ");
    };
    try {
      for (let i = -1; i < CALLS; i++) { // i = -1: warm-up (bridges, caches)
        for (const verb of ["ADD", "DEL"] as const) {
          const netns = ns[`pp${Math.max(i, 0)}`]!;
          const t = now();
          await callPlugin({
            command: verb,
            conf: refConf,
            containerId: `r${i}`,
            netns,
            ifName: "eth9",
            hostNs: host,
            plugin: "bridge",
          });
          if (i >= 0) ref[verb]!.push(now() - t);
          for (const [k, m] of modes.entries()) {
            serviceMarks();
            const start = now();
            const r = await callPlugin({
              command: verb,
              conf: m.conf,
              containerId: `c${i}`,
              netns,
              ifName: `eth${k}`,
              hostNs: host,
              env: { SKEIN_TRACE: "1", SKEIN_CNI_SOCKET: m.socket ?? "off" },
            });
            const end = now();
            if (r.code !== 0) throw new Error(`${m.mode} ${verb} failed: ${r.stdout}${r.stderr}`);
            if (i < 0) continue;
            const marks: Mark[] = [
              ["spawn", start],
              ...marksIn(r.stderr, "plugin: "),
              ...serviceMarks(),
              ["exit seen", end],
            ].sort((a, b) => (a as Mark)[1] - (b as Mark)[1]) as Mark[];
            (calls[`${verb} (${m.mode})`] ??= []).push(marks);
          }
        }
      }
    } finally {
      for (const d of dirs) Deno.removeSync(d, { recursive: true });
    }
  },
);

console.log(`CNI call profile: median ms per step over ${CALLS} sequential calls`);
for (const [what, list] of Object.entries(calls)) {
  const verb = what.slice(0, 3);
  const total = median(list.map((m) => m[m.length - 1]![1] - m[0]![1]));
  console.log(`\n${what}: ${total.toFixed(1)} ms (reference ${median(ref[verb]!).toFixed(1)} ms)`);
  for (const [step, ms, n] of steps(list)) {
    if (n < list.length / 2) continue; // an order seen in few calls
    console.log(`  ${ms.toFixed(2).padStart(7)}  ${step}${n < list.length ? ` (${n} calls)` : ""}`);
  }
}
