/**
 * A single-member etcd for a lab (`--datastore etcd` without `--etcd-endpoints`): Debian's
 * `/usr/bin/etcd` (3.4) on 127.0.0.1 in the root namespace, where the daemons' processes are.
 *
 * @module
 */
import { freePort, processAlive, spawnDetached, tailFile } from "./_proc.ts";
import { sleep } from "../store/sleeper.ts";
import { TcpSocket } from "../net/tcp.ts";

/** True when 127.0.0.1:`port` inside namespace `netns` accepts a TCP connection. */
async function acceptsInNetns(netns: string, port: number): Promise<boolean> {
  try {
    const s = await TcpSocket.connect({
      netns: `/run/netns/${netns}`,
      remote: { address: "127.0.0.1", port },
      timeoutMs: 1000,
    });
    s.close();
    return true;
  } catch {
    return false;
  }
}

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
 * With `netns` it runs inside that namespace (`nsenter --net=/run/netns/NETNS etcd ...`) on its
 * 127.0.0.1:2379, out of reach from here: it waits until the port accepts a connection made
 * inside the namespace (the apiserver's /readyz checks etcd's health after that).
 */
export async function startEtcd(
  dir: string,
  opts: { timeoutMs?: number; netns?: string } = {},
): Promise<EtcdProcess> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const bin = etcdBinary();
  try {
    Deno.statSync(bin);
  } catch {
    throw new Error(`Cannot start etcd: ${bin} not found (apt-get install etcd-server)`);
  }
  Deno.mkdirSync(dir, { recursive: true });
  const [client, peer] = opts.netns === undefined ? [freePort(), freePort()] : [2379, 2380];
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
  ], {
    logFile: log,
    env: { ETCD_UNSUPPORTED_ARCH: Deno.build.arch === "x86_64" ? "" : "arm64" },
    netns: opts.netns,
  });
  const marker = `${dir}/data`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid, marker)) {
      throw new Error(`etcd exited at start; its log ${log}:\n${tailFile(log)}`);
    }
    if (opts.netns !== undefined) {
      if (await acceptsInNetns(opts.netns, client)) return { pid, url, dir, marker };
      await sleep(100);
      continue;
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
