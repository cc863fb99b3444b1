/**
 * One daemon per node: `skein daemon` holds `flock(LOCK_EX)` on `<stateDir>/daemon.lock` for its
 * whole life (the kernel drops it when the process dies, SIGKILL included, so nothing is ever
 * left to clean up). Two daemons given one node with different settings (another backend, port or
 * uplink) each undo what the other plans: measured with vxlan against host-gw, about 50 runs a
 * second, the device recreated 200 times in 15 s, and both answering ready. A second daemon is
 * refused at start, naming the process that holds the lock.
 *
 * Deno has no non-blocking flock, so the holder is read from `/proc/locks` (which lists each
 * granted flock with the pid and the file's device and inode, and a waiter behind `->`): a lock
 * held by another live process is a refusal; otherwise the blocking lock is taken (a racing
 * starter that got it first shows up in /proc/locks while this one waits, and is refused then).
 *
 * @module
 */

/** Another process holds the node's daemon lock. */
export class NodeLockedError extends Error {
  /** The lock file. */
  readonly path: string;
  /** The process that holds it. */
  readonly pid: number;
  /**
   * Creates the error.
   * @param path the lock file
   * @param pid the holder
   */
  constructor(path: string, pid: number) {
    super(
      `Another skein daemon (pid ${pid}) already runs for this node: it holds ${path}. ` +
        "Stop it first; two daemons for one node undo each other's routes and devices",
    );
    this.name = "NodeLockedError";
    this.path = path;
    this.pid = pid;
  }
}

/** A held node lock; `release()` (or the process's end) drops it. */
export interface NodeLock {
  /** The lock file. */
  readonly path: string;
  /** Drops the lock. */
  release(): void;
}

/** glibc's gnu_dev_major/gnu_dev_minor of an st_dev. */
function devParts(dev: number): { major: number; minor: number } {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * The pids holding a granted FLOCK on the file (device, inode) according to `/proc/locks` text.
 * Waiters (`->` lines) are not holders.
 *
 * @example
 * ```ts
 * import { flockHolders } from "./node_lock.ts";
 * const text = "1: FLOCK  ADVISORY  WRITE 4242 00:2a:1234 0 EOF\n" +
 *   "1: -> FLOCK  ADVISORY  WRITE 4343 00:2a:1234 0 EOF\n";
 * flockHolders(text, { major: 0, minor: 42 }, 1234); // [4242]
 * ```
 */
export function flockHolders(
  procLocks: string,
  dev: { major: number; minor: number },
  ino: number,
): number[] {
  const out: number[] = [];
  for (const line of procLocks.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== "FLOCK") continue; // also skips waiters: "N: -> FLOCK ..."
    const m = /^([0-9a-f]+):([0-9a-f]+):([0-9]+)$/.exec(f[5] ?? "");
    if (!m) continue;
    if (
      parseInt(m[1]!, 16) === dev.major && parseInt(m[2]!, 16) === dev.minor &&
      Number(m[3]) === ino
    ) {
      const pid = Number(f[4]);
      if (Number.isSafeInteger(pid) && pid > 0) out.push(pid);
    }
  }
  return out;
}

function otherHolder(info: Deno.FileInfo): number | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/locks");
  } catch {
    return undefined; // no /proc: the blocking lock below still decides
  }
  return flockHolders(text, devParts(info.dev), info.ino ?? -1).find((p) => p !== Deno.pid);
}

/**
 * Takes the node lock `path` (creating its directory, mode 0755): resolves once it is held;
 * throws NodeLockedError when another process holds it, and the `Deno.errors.*` of a lock file
 * that cannot be opened. `pollMs` is how often a blocked attempt looks at /proc/locks again.
 */
export async function lockNode(path: string, opts: { pollMs?: number } = {}): Promise<NodeLock> {
  const dir = path.slice(0, Math.max(0, path.lastIndexOf("/")));
  if (dir) Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const f = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o644 });
  try {
    const info = f.statSync();
    const before = otherHolder(info);
    if (before !== undefined) throw new NodeLockedError(path, before);
    let held = false;
    const taking = f.lock(true).then(() => (held = true));
    while (!held) {
      await Promise.race([taking, new Promise((r) => setTimeout(r, opts.pollMs ?? 200))]);
      const other = held ? undefined : otherHolder(info);
      // The process ends after this refusal: the pending lock call never returns to anyone.
      if (other !== undefined) throw new NodeLockedError(path, other);
    }
    try {
      f.truncateSync(0);
      f.writeSync(new TextEncoder().encode(`${Deno.pid}\n`)); // for people: who holds it
    } catch { /* a full disk: the lock is held all the same */ }
  } catch (e) {
    f.close();
    throw e;
  }
  return {
    path,
    release: () => {
      try {
        f.close(); // closing drops the flock
      } catch { /* already closed */ }
    },
  };
}
