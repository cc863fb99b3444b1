/**
 * `skein lab up` and `lab down` of one name at the same time (root), through the command line:
 * - two `up` at once: one builds, the other is exit 2 saying so and touches nothing;
 * - `up` over a state directory without lab.json (another `up` that has just begun, or one
 *   killed before it wrote anything): exit 2, nothing built;
 * - `up` over a running or half-dead lab: exit 2, the lab unchanged;
 * - `down` while `up` builds (after the k-th progress line): `down` stops that `up`, then
 *   nothing of the lab is left and no later step of `up` makes anything again;
 * - `down` twice: exit 0 both times.
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { netnsList } from "../net/mod.ts";
import { cleanupOnInterrupt, testPrefix } from "./_netns.ts";
import { LAB_ROOT, loadLab } from "../lab/mod.ts";
import { pidsWithMarker } from "../lab/_proc.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const SMALL = ["--nodes", "2", "--pods-per-node", "1"];

function skein(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-prompt", "--config", CONFIG, MAIN, ...args],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
  });
}

async function cli(args: string[]): Promise<[number, string]> {
  const out = await skein(args).output();
  return [out.code, new TextDecoder().decode(out.stderr)];
}

/** What is left of lab `name` on this machine (empty when nothing). */
function leftovers(name: string): string[] {
  const left: string[] = [];
  const ns = netnsList().filter((n) => n.startsWith(`${name}-`));
  if (ns.length) left.push(`namespaces ${ns.join(" ")}`);
  const pids = pidsWithMarker(`${LAB_ROOT}/${name}/`);
  if (pids.length) left.push(`processes ${pids.join(" ")}`);
  try {
    Deno.statSync(`${LAB_ROOT}/${name}`);
    left.push(`${LAB_ROOT}/${name}`);
  } catch { /* gone */ }
  return left;
}

/** Runs `fn` with a fresh lab name; `lab down` in finally (and on Ctrl-C). */
async function withLab(suffix: string, fn: (name: string) => Promise<void>): Promise<void> {
  const name = `${testPrefix()}${suffix}`;
  const unregister = cleanupOnInterrupt(() => {
    skein(["lab", "down", "--name", name]).outputSync();
  });
  try {
    await fn(name);
  } finally {
    await cli(["lab", "down", "--name", name]);
    unregister();
  }
}

const opts = { ignore: Deno.uid() !== 0, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  ...opts,
  name: "two lab up of one name at once: one builds, the other is exit 2; down leaves nothing",
  async fn() {
    await withLab("c1", async (name) => {
      const [a, b] = await Promise.all([
        cli(["lab", "up", "--name", name, ...SMALL]),
        cli(["lab", "up", "--name", name, ...SMALL]),
      ]);
      const codes = [a[0], b[0]].sort();
      assertEquals(codes, [0, 2], `first:\n${a[1]}\nsecond:\n${b[1]}`);
      const loser = a[0] === 2 ? a[1] : b[1];
      assertStringIncludes(loser, `skein lab down --name ${name}`);
      assertEquals(loadLab(name)?.state.phase, "ready");
      assertEquals(await cli(["lab", "status", "--name", name]).then((r) => r[0]), 0);
      for (let i = 0; i < 2; i++) assertEquals((await cli(["lab", "down", "--name", name]))[0], 0);
      assertEquals(leftovers(name), []);
    });
  },
});

Deno.test({
  ...opts,
  name: "lab up over a state directory without lab.json: exit 2 naming lab down, nothing built",
  async fn() {
    await withLab("c2", async (name) => {
      Deno.mkdirSync(`${LAB_ROOT}/${name}`, { recursive: true });
      const [code, err] = await cli(["lab", "up", "--name", name, ...SMALL]);
      assertEquals(code, 2, err);
      assertStringIncludes(err, `skein lab down --name ${name}`);
      assertEquals(err.trim().split("\n").length, 1, err);
      assertEquals(netnsList().filter((n) => n.startsWith(`${name}-`)), []);
      assertEquals((await cli(["lab", "down", "--name", name]))[0], 0);
      assertEquals(leftovers(name), []);
    });
  },
});

Deno.test({
  ...opts,
  name: "lab up over a running lab, then over a half-dead one: exit 2, the lab unchanged",
  async fn() {
    await withLab("c3", async (name) => {
      const [code, err] = await cli(["lab", "up", "--name", name, ...SMALL]);
      assertEquals(code, 0, err);
      const before = JSON.stringify(loadLab(name)!.state);
      const again = await cli(["lab", "up", "--name", name, ...SMALL]);
      assertEquals(again[0], 2, again[1]);
      assertStringIncludes(again[1], "already exists");
      assertEquals(JSON.stringify(loadLab(name)!.state), before);
      // Half-dead: a daemon killed.
      Deno.kill(loadLab(name)!.state.daemons[0]!.pid, "SIGKILL");
      const third = await cli(["lab", "up", "--name", name, ...SMALL]);
      assertEquals(third[0], 2, third[1]);
      assertEquals(JSON.stringify(loadLab(name)!.state), before);
      assertEquals((await cli(["lab", "down", "--name", name]))[0], 0);
      assertEquals(leftovers(name), []);
    });
  },
});

/** Starts `lab up`; resolves `atLine` after its k-th progress line (or its end). */
function upUntilLine(name: string, k: number) {
  const child = skein(["lab", "up", "--name", name, "--nodes", "3", "--pods-per-node", "2"])
    .spawn();
  let reached!: () => void;
  const atLine = new Promise<void>((r) => reached = r);
  const stderr = (async () => {
    let all = "";
    let n = 0;
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      all += chunk;
      n += chunk.split("\n").filter((l) => l.startsWith("lab: ")).length;
      if (n >= k) reached();
    }
    reached();
    return all;
  })();
  return { child, atLine, stderr };
}

for (const k of [2, 6, 9, 13]) {
  Deno.test({
    ...opts,
    name: `lab down while lab up builds (after its progress line ${k}): nothing is left`,
    async fn() {
      await withLab(`d${k}`, async (name) => {
        const up = upUntilLine(name, k);
        await up.atLine;
        const [dcode, derr] = await cli(["lab", "down", "--name", name]);
        const status = await up.child.status;
        const uperr = await up.stderr;
        const what = `down:\n${derr}\nup (exit ${status.code}):\n${uperr}`;
        assertEquals(dcode, 0, what);
        assert(status.code !== 0 || / up in /.test(uperr), what);
        assertEquals(leftovers(name), [], what);
      });
    },
  });
}
