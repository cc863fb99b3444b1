/**
 * Operations on a running lab that tests and demos use: kill or restart one node's daemon.
 *
 * @module
 */
import { processAlive, stopProcess } from "./_proc.ts";
import { startDaemon, waitReady } from "./daemons.ts";
import type { NodePlan } from "./plan.ts";
import type { Lab } from "./up.ts";

function nodeOf(lab: Lab, name: string): NodePlan {
  const n = lab.plan.nodes.find((x) => x.name === name);
  if (!n) throw new RangeError(`Lab ${lab.plan.options.name} has no node "${name}"`);
  return n;
}

/** Stops node `name`'s daemon with `signal` (SIGKILL: `kill -9`, no clean shutdown). */
export async function stopNodeDaemon(
  lab: Lab,
  name: string,
  signal: Deno.Signal = "SIGTERM",
): Promise<void> {
  const node = nodeOf(lab, name);
  const d = lab.state.daemons.find((x) => x.node === name);
  if (!d) return;
  await stopProcess(d.pid, node.configFile, { signal });
}

/**
 * Starts node `name`'s daemon again on the same health address (after stopNodeDaemon or a crash)
 * and waits for /readyz. Returns the new pid.
 */
export async function restartNodeDaemon(lab: Lab, name: string): Promise<number> {
  const node = nodeOf(lab, name);
  const d = lab.state.daemons.find((x) => x.node === name);
  if (!d) throw new RangeError(`Lab ${lab.plan.options.name}: node ${name} never had a daemon`);
  if (processAlive(d.pid, node.configFile)) await stopProcess(d.pid, node.configFile);
  d.pid = await startDaemon(lab.plan, node, d.listen);
  d.startedAt = new Date().toISOString();
  lab.save();
  await waitReady(node, d.pid, d.listen);
  return d.pid;
}
