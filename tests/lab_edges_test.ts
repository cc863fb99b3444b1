/**
 * `skein lab up` at the edges of its options (root), through the command line: one node, no pods.
 * Each is exit 0 with output that says what it did, and `lab down` leaves nothing.
 *
 * @module
 */
import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { netnsList } from "../net/mod.ts";
import { cleanupOnInterrupt, testPrefix } from "./_netns.ts";
import { LAB_ROOT } from "../lab/mod.ts";
import { pidsWithMarker } from "../lab/_proc.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

async function cli(args: string[]): Promise<[number, string, string]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-prompt", "--config", CONFIG, MAIN, ...args],
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return [out.code, dec.decode(out.stdout), dec.decode(out.stderr)];
}

function leftovers(name: string): string[] {
  const left = netnsList().filter((n) => n.startsWith(`${name}-`));
  left.push(...pidsWithMarker(`${LAB_ROOT}/${name}/`).map(String));
  try {
    Deno.statSync(`${LAB_ROOT}/${name}`);
    left.push(`${LAB_ROOT}/${name}`);
  } catch { /* gone */ }
  return left;
}

const CASES: [string, string[], string][] = [
  ["one node, two pods", ["--nodes", "1", "--pods-per-node", "2"], "2/2 pairs reachable"],
  [
    "two nodes, no pods",
    ["--nodes", "2", "--pods-per-node", "0"],
    "no pair of pods to ping (0 pods",
  ],
  [
    "one node, one pod",
    ["--nodes", "1", "--pods-per-node", "1"],
    "no pair of pods to ping (1 pod;",
  ],
];

for (const [[what, args, says], i] of CASES.map((c, i) => [c, i] as const)) {
  Deno.test({
    name: `lab up with ${what}: exit 0, the output says "${says}"; down leaves nothing`,
    ignore: Deno.uid() !== 0,
    async fn() {
      const name = `${testPrefix()}e${i}`;
      const unregister = cleanupOnInterrupt(() => {
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--quiet", "--config", CONFIG, MAIN, "lab", "down", "--name", name],
        }).outputSync();
      });
      try {
        const [code, out, err] = await cli(["lab", "up", "--name", name, ...args]);
        assertEquals(code, 0, err);
        assertStringIncludes(out, says);
        assertStringIncludes(out, `skein lab down --name ${name}`);
      } finally {
        const [code, , err] = await cli(["lab", "down", "--name", name]);
        unregister();
        assertEquals(code, 0, err);
        assertEquals(leftovers(name), []);
      }
    },
  });
}
