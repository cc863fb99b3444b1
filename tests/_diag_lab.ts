/**
 * Shared by the diagnose integration tests: a lab per test with a per-run name, torn down in
 * `finally` (and on SIGINT/SIGTERM: the daemons killed and the namespaces deleted), and the CLI.
 *
 * @module
 */
import { assertEquals } from "../testing/assert.ts";
import { netnsList } from "../net/mod.ts";
import { cleanupOnInterrupt, testPrefix } from "./_netns.ts";
import { type Lab, labDefaults, labDown, type LabOptions, labUp, loadLab } from "../lab/mod.ts";
import { deleteLabNamespaces } from "../lab/topology.ts";
import { runCommand } from "../lab/_proc.ts";
import { upFailure } from "./_lab_logs.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** Builds a lab named `<prefix><suffix>`, runs `fn`, and removes the lab whatever happens. */
export async function withLab(
  suffix: string,
  partial: Partial<LabOptions>,
  fn: (lab: Lab) => Promise<void>,
): Promise<void> {
  const o = labDefaults({
    name: `${testPrefix()}${suffix}`,
    nodes: 3,
    podsPerNode: 1,
    leaseTtl: 30,
    reconcilePeriod: 1,
    ...partial,
  });
  const unregister = cleanupOnInterrupt(() => {
    const lab = loadLab(o.name);
    for (const d of lab?.state.daemons ?? []) {
      try {
        Deno.kill(d.pid, "SIGKILL");
      } catch { /* gone */ }
    }
    deleteLabNamespaces(o.name, lab?.state.namespaces ?? []);
  });
  try {
    const r = await labUp(o);
    if (!r.ok) throw new Error(`lab ${o.name} is not healthy after up:\n${upFailure(r)}`);
    await fn(r.lab);
  } finally {
    unregister();
    const d = await labDown(o.name);
    assertEquals(d.errors, []);
    assertEquals(netnsList().filter((n) => n.startsWith(`${o.name}-`)), [], "namespaces left");
  }
}

/** Runs `skein ARGS...` from source; returns exit code and output. */
export async function skein(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runCommand([
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    "--cached-only",
    "--config",
    CONFIG,
    MAIN,
    ...args,
  ]);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}
