/**
 * Running one `skein daemon` per lab node.
 *
 * Choice: the daemon process stays in the ROOT namespace and runs its dataplane in the node's
 * namespace (`--netns /run/netns/<lab>-n<i>`: every kernel call goes through handles opened
 * there). So it reaches the shared file datastore and an etcd on 127.0.0.1 like any local
 * process, and its health/metrics endpoint listens on 127.0.0.1:<port> in the root namespace,
 * where `lab status` and the tests can reach it. Its log goes to `<node dir>/daemon.log`.
 *
 * @module
 */
import { stringify } from "yaml";
import { processAlive, processCmdline, spawnDetached, tailFile } from "./_proc.ts";
import { tryReadLeaseFile } from "../node/lease_file.ts";
import { sleep } from "../store/sleeper.ts";
import type { LabPlan, NodePlan } from "./plan.ts";
import { skeinArgv, skeinCommand } from "./skein_bin.ts";
import { labDatastoreSection } from "./store.ts";

/** The daemon config file the lab writes for a node (YAML, see `skein daemon --help`). */
export function daemonConfig(
  plan: LabPlan,
  node: NodePlan,
  listen: string,
): Record<string, unknown> {
  const o = plan.options;
  const datastore = labDatastoreSection(plan);
  return {
    name: node.nodeName,
    network: o.network,
    subnetLen: o.subnetLen,
    backend: {
      type: o.backend,
      ...(o.directRouting ? { directRouting: true } : {}),
      ...(o.bgp?.asNumber !== undefined ? { asNumber: o.bgp.asNumber } : {}),
      ...(o.bgp?.mesh === false ? { nodeToNodeMesh: false } : {}),
      ...(o.bgp?.peers?.length
        ? { peers: o.bgp.peers.map((p) => ({ ...p, import: "all", export: "all" })) }
        : {}),
      ...(o.bgp?.encapsulation ? { encapsulation: o.bgp.encapsulation } : {}),
      ...(o.bgp?.crossSubnet ? { crossSubnet: true } : {}),
    },
    datastore,
    iface: "eth0",
    netns: `/run/netns/${node.netns}`,
    listen,
    leaseFile: node.leaseFile,
    subnetEnv: node.subnetEnv,
    stateDir: `${node.dir}/state`,
    reconcileInterval: o.reconcilePeriod,
    ipMasq: false,
    logLevel: "info",
  };
}

/** Writes the node's daemon config and starts `skein daemon --config <file>`; returns the pid. */
export function startDaemon(plan: LabPlan, node: NodePlan, listen: string): Promise<number> {
  Deno.mkdirSync(`${node.dir}/state`, { recursive: true });
  Deno.writeTextFileSync(node.configFile, stringify(daemonConfig(plan, node, listen)), {
    mode: 0o644,
  });
  const [cmd, args] = skeinArgv(skeinCommand(), ["daemon", "--config", node.configFile]);
  Deno.writeTextFileSync(node.logFile, `--- ${new Date().toISOString()} starting daemon\n`, {
    append: true,
  });
  return spawnDetached([cmd, ...args], { logFile: node.logFile });
}

/** What `/readyz` said. */
export interface Health {
  ok: boolean;
  status?: number;
  body: string;
}

/** GET http://<listen>/<path> with a short timeout. */
export async function probe(listen: string, path = "/readyz", timeoutMs = 1000): Promise<Health> {
  try {
    const r = await fetch(`http://${listen}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await r.text()).trim();
    return { ok: r.status === 200, status: r.status, body };
  } catch (e) {
    const timedOut = (e as Error).name === "TimeoutError";
    return {
      ok: false,
      body: timedOut ? `no answer within ${timeoutMs} ms` : (e as Error).message,
    };
  }
}

/** Options of {@linkcode waitReady}. */
export interface WaitReadyOptions {
  /** Give up after this long (ms, default 60000). */
  timeoutMs?: number;
  /** Also wait until the daemon programmed routes to these pod subnets (`/readyz?subnets=`). */
  subnets?: readonly string[];
}

/**
 * Waits until the daemon's /readyz answers 200 (with `subnets`: until it also has routes to
 * those subnets) and its lease file names its subnet. Throws with the log tail when the process
 * exits or the time runs out.
 */
export async function waitReady(
  node: NodePlan,
  pid: number,
  listen: string,
  opts: WaitReadyOptions = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const path = opts.subnets?.length ? `/readyz?subnets=${opts.subnets.join(",")}` : "/readyz";
  const deadline = Date.now() + timeoutMs;
  let last: Health = { ok: false, body: "no answer yet" };
  while (Date.now() < deadline) {
    // An empty command line is a process in the middle of its exec (the kernel shows none then).
    if (!processAlive(pid, node.configFile) && processCmdline(pid) !== "") {
      throw new Error(
        `Daemon of node ${node.name} (pid ${pid}) exited before it was ready; its log ${node.logFile}:\n${
          tailFile(node.logFile)
        }`,
      );
    }
    last = await probe(listen, path);
    // Ready also means its lease file names the subnet (the answer is this daemon's, not one
    // that happens to hold the port while this one fails to bind it).
    if (last.ok && nodeSubnet(node) !== undefined) return;
    if (last.ok) {
      last = {
        ok: false,
        status: last.status,
        body: `${last.body}, but ${node.leaseFile} names no subnet`,
      };
    }
    await sleep(opts.subnets?.length ? 20 : 100);
  }
  throw new Error(
    `Daemon of node ${node.name} (pid ${pid}) not ready after ${
      timeoutMs / 1000
    } s (last ${path}: ${last.status ?? "-"} ${last.body}); its log ${node.logFile}:\n${
      tailFile(node.logFile)
    }`,
  );
}

/** The pod subnet a node's daemon published in its lease file; undefined before it did. */
export function nodeSubnet(node: NodePlan): string | undefined {
  return tryReadLeaseFile(node.leaseFile)?.subnet;
}
