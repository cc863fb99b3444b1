/**
 * `skein lab down`: stop the lab's processes, delete its namespaces (also leftovers of a partial
 * build that match its naming pattern), remove its state directory.
 *
 * @module
 */
import { pidsWithMarker, processCmdline, stopProcess } from "./_proc.ts";
import { LAB_ROOT, planLab, validateLabName } from "./plan.ts";
import { type LabState, readLabState } from "./state.ts";
import { deleteLabNamespaces } from "./topology.ts";
import type { Progress } from "./up.ts";
import { kubeTeardown } from "./k8s/teardown.ts";

function existsDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** True when pid runs a `skein lab up` (its command line has the words lab and up). */
function isLabUp(pid: number): boolean {
  const words = processCmdline(pid)?.split(/\s+/) ?? [];
  const i = words.indexOf("lab");
  return i >= 0 && words[i + 1] === "up";
}

/**
 * A lab still "building" whose `lab up` runs in another process: that process is asked to stop
 * (SIGTERM: it removes what it built, cmd/lab.ts) and waited for, so it creates nothing after
 * this teardown. Killed when it does not end within a minute.
 */
async function stopBuilder(state: LabState, progress: Progress): Promise<number | undefined> {
  const pid = state.upPid;
  if (state.phase !== "building" || !pid || pid === Deno.pid || !isLabUp(pid)) return undefined;
  progress(`stopping "skein lab up" (pid ${pid}), which is still building the lab`);
  const cmdline = processCmdline(pid)!;
  return await stopProcess(pid, cmdline, { graceMs: 60_000 }) ? pid : undefined;
}

/** What labDown() did. */
export interface DownResult {
  /** lab.json existed. */
  found: boolean;
  stopped: number[];
  deletedNamespaces: string[];
  errors: string[];
}

/** Tears lab `name` down; idempotent (a second call finds nothing and succeeds). */
export async function labDown(
  name: string,
  progress: Progress = () => {},
  root: string = LAB_ROOT,
): Promise<DownResult> {
  validateLabName(name);
  const stateDir = `${root}/${name}`;
  const errors: string[] = [];
  let state: LabState | undefined;
  try {
    state = readLabState(`${stateDir}/lab.json`);
  } catch (e) {
    // A corrupt lab.json does not stop the teardown: the scans below find what it made.
    progress(`${(e as Error).message}; removing what matches the lab's names instead`);
  }
  const found = state !== undefined;
  const stopped: number[] = [];
  const builder = state && await stopBuilder(state, progress);
  if (builder) {
    stopped.push(builder);
    // It removed what it had built (or part of it): read again what is left.
    try {
      state = readLabState(`${stateDir}/lab.json`);
    } catch {
      state = undefined;
    }
  }
  // A Kubernetes lab's nodes first (kubelets, containerds, containers), then the control plane.
  if (state?.kube || existsDir(`${stateDir}/mnt`)) {
    const k = await kubeTeardown(stateDir, state?.kube, progress);
    stopped.push(...k.stopped);
    errors.push(...k.errors);
  }
  if (state) {
    const plan = planLab(state.options, root);
    await Promise.all(state.daemons.map(async (d) => {
      const node = plan.nodes.find((n) => n.name === d.node);
      if (!node) return;
      if (await stopProcess(d.pid, node.configFile)) {
        stopped.push(d.pid);
        progress(`stopped daemon ${d.node} (pid ${d.pid})`);
      }
    }));
    await Promise.all(state.processes.map(async (p) => {
      const marker = p.dir ?? String(p.pid);
      if (await stopProcess(p.pid, marker)) {
        stopped.push(p.pid);
        progress(`stopped ${p.name} (pid ${p.pid})`);
      }
    }));
  }
  // Any process still running with a path of this lab on its command line (a daemon or etcd that
  // lab.json does not know about, e.g. after a crash between starting it and recording it).
  for (const pid of pidsWithMarker(`${stateDir}/`)) {
    if (await stopProcess(pid, `${stateDir}/`)) {
      stopped.push(pid);
      progress(`stopped unrecorded process ${pid}`);
    }
  }
  const ns = deleteLabNamespaces(name, state?.namespaces ?? []);
  if (ns.deleted.length) progress(`deleted namespaces ${ns.deleted.join(" ")}`);
  errors.push(...ns.errors);
  try {
    Deno.removeSync(stateDir, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      errors.push(`Cannot remove ${stateDir}: ${(e as Error).message}`);
    }
  }
  return { found, stopped, deletedNamespaces: ns.deleted, errors };
}
