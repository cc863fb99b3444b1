/**
 * Test helper: a throwaway single-member etcd on loopback (free ports, temp data dir), always
 * killed in `finally`. Skips (returns false from etcdAvailable()) when /usr/bin/etcd is missing.
 *
 * @module
 */

/** The etcd binary tests use. */
export const ETCD_BIN = "/usr/bin/etcd";

/** True when the etcd binary exists; otherwise prints why the test is skipped. */
export function etcdAvailable(what: string): boolean {
  try {
    Deno.statSync(ETCD_BIN);
    return true;
  } catch {
    console.log(`SKIP ${what}: ${ETCD_BIN} is missing (apt-get install etcd-server)`);
    return false;
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A running etcd. */
export interface TestEtcd {
  endpoint: string;
  dataDir: string;
  /** The member's name and peer URL (what `etcdctl snapshot restore` needs to match). */
  name: string;
  peerUrl: string;
  /** Stops it (SIGKILL) and waits. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data dir. */
  start(): Promise<void>;
}

/**
 * Runs `fn` with a fresh etcd; kills it and removes its data in `finally`. `opts.dir`: where its
 * data directory goes (e.g. "/dev/shm": on tmpfs etcd's fsync per write costs nothing, for tests
 * that write a lot on a busy disk).
 */
export async function withEtcd(
  fn: (etcd: TestEtcd) => Promise<void>,
  opts: { dir?: string } = {},
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "skein-etcd-", dir: opts.dir });
  const client = freePort();
  const peer = freePort();
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const name = "skeintest";
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    child = new Deno.Command(ETCD_BIN, {
      args: [
        "--name",
        name,
        "--data-dir",
        dataDir,
        "--listen-client-urls",
        endpoint,
        "--advertise-client-urls",
        endpoint,
        "--listen-peer-urls",
        peerUrl,
        "--initial-advertise-peer-urls",
        peerUrl,
        "--initial-cluster",
        `${name}=${peerUrl}`,
        "--log-level",
        "error",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 100; i++) {
      try {
        const r = await fetch(`${endpoint}/health`);
        await r.body?.cancel();
        if (r.ok) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`etcd did not come up on ${endpoint}`);
  };
  const stop = async () => {
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    child = undefined;
  };
  try {
    await start();
    await fn({ endpoint, dataDir, name, peerUrl, stop, start });
  } finally {
    await stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}
