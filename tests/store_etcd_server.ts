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
  /** The network namespace it runs in (a /run/netns path), if not here. */
  netns?: string;
  /** `etcdctl --endpoints=<endpoint> ...args` (inside the namespace, if any); its stdout. */
  ctl(...args: string[]): string;
}

/** `cmd` inside the network namespace at `netns` (a /run/netns path), or here when undefined. */
function inNetns(netns: string | undefined, cmd: string[]): [string, string[]] {
  return netns ? ["nsenter", [`--net=${netns}`, ...cmd]] : [cmd[0]!, cmd.slice(1)];
}

async function healthy(endpoint: string, netns: string | undefined): Promise<boolean> {
  if (!netns) {
    try {
      const r = await fetch(`${endpoint}/health`);
      await r.body?.cancel();
      return r.ok;
    } catch {
      return false; // not up yet
    }
  }
  const [bin, args] = inNetns(netns, ["curl", "-s", "--max-time", "1", `${endpoint}/health`]);
  const out = await new Deno.Command(bin, { args, stdout: "piped", stderr: "null" }).output();
  return out.success && new TextDecoder().decode(out.stdout).includes("true");
}

/**
 * Runs `fn` with a fresh etcd; kills it and removes its data in `finally`. `opts.dir`: where its
 * data directory goes (e.g. "/dev/shm": on tmpfs etcd's fsync per write costs nothing, for tests
 * that write a lot on a busy disk). `opts.netns` (a /run/netns path): etcd runs inside that
 * namespace, on its 127.0.0.1:2379 (its loopback is brought up), reachable from processes started
 * in it (`ctl()` runs etcdctl there).
 */
export async function withEtcd(
  fn: (etcd: TestEtcd) => Promise<void>,
  opts: { dir?: string; netns?: string } = {},
): Promise<void> {
  const netns = opts.netns;
  if (netns) {
    const [bin, args] = inNetns(netns, ["ip", "link", "set", "lo", "up"]);
    const out = new Deno.Command(bin, { args, stderr: "piped" }).outputSync();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  }
  const dataDir = await Deno.makeTempDir({ prefix: "skein-etcd-", dir: opts.dir });
  const client = netns ? 2379 : freePort();
  const peer = netns ? 2380 : freePort();
  const endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const name = "skeintest";
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    const [bin, args] = inNetns(netns, [
      ETCD_BIN,
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
    ]);
    // nsenter execs etcd: the child is etcd itself.
    child = new Deno.Command(bin, { args, stdout: "null", stderr: "null" }).spawn();
    for (let i = 0; i < 100; i++) {
      if (await healthy(endpoint, netns)) return;
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
  const ctl = (...args: string[]): string => {
    const [bin, a] = inNetns(netns, ["/usr/bin/etcdctl", `--endpoints=${endpoint}`, ...args]);
    const out = new Deno.Command(bin, {
      args: a,
      env: { ETCDCTL_API: "3" },
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const dec = new TextDecoder();
    if (!out.success) throw new Error(`etcdctl ${args.join(" ")}: ${dec.decode(out.stderr)}`);
    return dec.decode(out.stdout);
  };
  try {
    await start();
    await fn({ endpoint, dataDir, name, peerUrl, stop, start, ctl, netns });
  } finally {
    await stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}
