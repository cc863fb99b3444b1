/**
 * `skein lab up` interrupted (root): SIGINT (to the process, and to its process group as Ctrl-C
 * sends it), SIGTERM and SIGKILL, each after the k-th progress line (k seeded, spread over the
 * run; counted in lines, not time, so a loaded machine shifts nothing), for the one-subnet and
 * the two-subnets topology. After SIGINT or SIGTERM nothing may be left: no namespace of the
 * lab, no process with its state directory on the command line, no /run/netns mount, no state
 * directory. After SIGKILL, `skein lab down --name X` must remove all of it, also when lab.json
 * is then truncated or missing.
 *
 * SKEIN_INTERRUPT_POINTS=N (default 3) moments per signal and topology; SKEIN_INTERRUPT_SEED.
 *
 * @module
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { netnsList } from "../net/mod.ts";
import { cleanupOnInterrupt, testPrefix } from "./_netns.ts";
import { LAB_ROOT } from "../lab/mod.ts";
import { pidsWithMarker } from "../lab/_proc.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const POINTS = Number(Deno.env.get("SKEIN_INTERRUPT_POINTS") ?? "3");
const SEED = Number(Deno.env.get("SKEIN_INTERRUPT_SEED") ?? "7");
/** Progress lines of a 3-node, 2-pods-per-node `lab up` (21 with two subnets, a few fewer with one). */
const LINES = 18;

/** A small seeded generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `points` line counts spread over [0, LINES): one per equal slice, seeded within it. */
function moments(points: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: points }, (_, i) => Math.floor((i + r()) * LINES / points));
}

function skein(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-prompt", "--config", CONFIG, MAIN, ...args],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
  });
}

/** What is left of lab `name` on this machine (empty when nothing). */
function leftovers(name: string): string[] {
  const left: string[] = [];
  const ns = netnsList().filter((n) => n.startsWith(`${name}-`));
  if (ns.length) left.push(`namespaces ${ns.join(" ")}`);
  const pids = pidsWithMarker(`${LAB_ROOT}/${name}/`);
  if (pids.length) left.push(`processes ${pids.join(" ")}`);
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .filter((l) => l.includes(`/run/netns/${name}-`));
  if (mounts.length) left.push(`mounts ${mounts.length}`);
  try {
    Deno.statSync(`${LAB_ROOT}/${name}`);
    left.push(`${LAB_ROOT}/${name}`);
  } catch { /* gone */ }
  return left;
}

/** Reads stderr lines; calls `onLine(count)` after each progress line. */
async function readProgress(
  child: Deno.ChildProcess,
  onLine: (count: number, line: string) => void,
): Promise<string> {
  let all = "";
  let count = 0;
  let buf = "";
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    all += chunk;
    buf += chunk;
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const l of lines) if (l.startsWith("lab: ")) onLine(++count, l);
  }
  return all;
}

type Sig = "SIGINT" | "SIGINT-group" | "SIGTERM" | "SIGKILL";

/** One interrupted `up`: returns [exit code, stderr, whether it finished before the signal]. */
async function interruptedUp(
  name: string,
  sig: Sig,
  after: number,
  extra: string[],
): Promise<[number, string, boolean]> {
  // detached: its own session and process group, as a shell job under Ctrl-C.
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", "--quiet", "--no-prompt", "--config", CONFIG, MAIN],
      ...["lab", "up", "--name", name, "--nodes", "3", "--pods-per-node", "2", ...extra],
    ],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
    detached: true,
  });
  const child = cmd.spawn();
  let sent = false;
  let done = false;
  const send = () => {
    if (sent) return;
    sent = true;
    if (sig === "SIGINT-group") Deno.kill(-child.pid, "SIGINT");
    else Deno.kill(child.pid, sig);
  };
  if (after === 0) send();
  const err = await readProgress(child, (n, line) => {
    if (/ up in [\d.]+ s$/.test(line)) done = true;
    if (n >= after && !done) send();
  });
  const status = await child.status;
  // Built before the signal took effect: it printed its end, or (a signal during the report)
  // said the lab stays.
  const built = / up in [\d.]+ s$/m.test(err) || /is built and stays/.test(err);
  return [status.code, err, !sent || done || built];
}

async function down(name: string): Promise<[number, string]> {
  const out = await skein(["lab", "down", "--name", name]).output();
  return [out.code, new TextDecoder().decode(out.stderr)];
}

const TOPOLOGIES: [string, string[]][] = [["one-subnet", []], ["two-subnets", [
  "--topology",
  "two-subnets",
]]];
const SIGS: Sig[] = ["SIGINT", "SIGINT-group", "SIGTERM", "SIGKILL"];

let run = 0;
for (const [topo, extra] of TOPOLOGIES) {
  for (const sig of SIGS) {
    Deno.test({
      name: `lab up (${topo}) interrupted by ${sig} at ${POINTS} seeded moments: ${
        sig === "SIGKILL" ? "lab down removes everything" : "nothing is left"
      }`,
      ignore: Deno.uid() !== 0,
      sanitizeResources: false,
      sanitizeOps: false,
      async fn() {
        const seed = SEED + run;
        const points = moments(POINTS, seed);
        let interrupted = 0;
        for (const [i, after] of points.entries()) {
          const name = `${testPrefix()}i${run++}`;
          const unregister = cleanupOnInterrupt(() => {
            new Deno.Command(Deno.execPath(), {
              args: [
                "run",
                "-A",
                "--quiet",
                "--config",
                CONFIG,
                MAIN,
                "lab",
                "down",
                "--name",
                name,
              ],
            }).outputSync();
          });
          try {
            const [code, err, finished] = await interruptedUp(name, sig, after, extra);
            const what = `${sig} after progress line ${after} (seed ${seed}):\n${err}`;
            if (!finished) interrupted++;
            if (finished) {
              // The build won the race: a lab like any other (exit 0, or the signal's code when
              // it came while the report was printed).
              assert([0, 130, 137, 143].includes(code), what);
            } else if (sig === "SIGKILL") {
              assertEquals(code, 137, what);
              // lab.json as the kill left it, cut in half, or never written.
              const file = `${LAB_ROOT}/${name}/lab.json`;
              try {
                if (i % 3 === 1) {
                  const t = Deno.readTextFileSync(file);
                  Deno.writeTextFileSync(file, t.slice(0, t.length >> 1));
                } else if (i % 3 === 2) Deno.removeSync(file);
              } catch { /* not written yet */ }
            } else {
              assertEquals(code, sig === "SIGTERM" ? 143 : 130, what);
              assertEquals(leftovers(name), [], what);
              // Killed before it had built anything (its handler not yet set): no message due.
              if (/^lab: /m.test(err)) assert(/interrupted/.test(err), what);
            }
            const [dcode, derr] = await down(name);
            assertEquals(dcode, 0, `lab down after ${what}\n${derr}`);
            assertEquals(leftovers(name), [], `after lab down, ${what}\n${derr}`);
          } finally {
            await down(name);
            unregister();
          }
        }
        assert(interrupted > 0, `every up finished before its signal (moments ${points})`);
      },
    });
  }
}

Deno.test({
  name: "lab up interrupted twice (SIGTERM, then SIGINT during the removal): it stops at once " +
    "and names lab down, which removes the rest",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const name = `${testPrefix()}t2`;
    const unregister = cleanupOnInterrupt(() => {
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, "lab", "down", "--name", name],
      }).outputSync();
    });
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          ...["run", "-A", "--quiet", "--no-prompt", "--config", CONFIG, MAIN],
          ...["lab", "up", "--name", name, "--nodes", "3", "--pods-per-node", "2"],
        ],
        stdout: "null",
        stderr: "piped",
        stdin: "null",
        detached: true,
      }).spawn();
      let sent = false;
      const err = await readProgress(child, (n) => {
        if (n < 8 || sent) return;
        sent = true;
        Deno.kill(child.pid, "SIGTERM");
        Deno.kill(child.pid, "SIGINT");
      });
      const { code } = await child.status;
      if (sent) {
        assert(code === 130 || code === 143, `exit ${code}:\n${err}`);
        // Either the removal won (nothing left) or the second signal cut it short (names down).
        if (leftovers(name).length) assert(err.includes(`skein lab down --name ${name}`), err);
      }
      const [dcode, derr] = await down(name);
      assertEquals(dcode, 0, derr);
      assertEquals(leftovers(name), [], derr);
    } finally {
      await down(name);
      unregister();
    }
  },
});
