/**
 * A single-member etcd for a lab (`--datastore etcd` without `--etcd-endpoints`): Debian's
 * `/usr/bin/etcd` (3.4) on 127.0.0.1 in the root namespace, where the daemons' processes are.
 *
 * @module
 */
import { freePort, processAlive, spawnDetached, tailFile } from "./_proc.ts";
import { sleep } from "../store/sleeper.ts";

/** The etcd binary (override with SKEIN_ETCD). */
export function etcdBinary(): string {
  return Deno.env.get("SKEIN_ETCD") ?? "/usr/bin/etcd";
}

/** A started etcd. */
export interface EtcdProcess {
  pid: number;
  /** Client URL "http://127.0.0.1:PORT". */
  url: string;
  /** Its data directory (removed by `lab down`). */
  dir: string;
  /** The marker its command line carries (its data dir). */
  marker: string;
}

/**
 * Starts etcd with its data in `dir` and waits until `/health` says true.
 * `etcd --data-dir DIR --listen-client-urls http://127.0.0.1:P --listen-peer-urls ...`
 */
export async function startEtcd(dir: string, timeoutMs = 30_000): Promise<EtcdProcess> {
  const bin = etcdBinary();
  try {
    Deno.statSync(bin);
  } catch {
    throw new Error(`Cannot start etcd: ${bin} not found (apt-get install etcd-server)`);
  }
  Deno.mkdirSync(dir, { recursive: true });
  const client = freePort(), peer = freePort();
  const url = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const log = `${dir}/etcd.log`;
  const pid = await spawnDetached([
    bin,
    "--name",
    "lab",
    "--data-dir",
    `${dir}/data`,
    "--listen-client-urls",
    url,
    "--advertise-client-urls",
    url,
    "--listen-peer-urls",
    peerUrl,
    "--initial-advertise-peer-urls",
    peerUrl,
    "--initial-cluster",
    `lab=${peerUrl}`,
    "--log-level",
    "warn",
  ], { logFile: log, env: { ETCD_UNSUPPORTED_ARCH: Deno.build.arch === "x86_64" ? "" : "arm64" } });
  const marker = `${dir}/data`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid, marker)) {
      throw new Error(`etcd exited at start; its log ${log}:\n${tailFile(log)}`);
    }
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      const body = await r.text();
      if (r.ok && body.includes("true")) return { pid, url, dir, marker };
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(
    `etcd not healthy after ${timeoutMs / 1000} s; its log ${log}:\n${tailFile(log)}`,
  );
}
