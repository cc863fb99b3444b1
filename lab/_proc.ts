/**
 * Process helpers for the lab: background processes that outlive `lab up`, liveness checks
 * that guard against pid reuse, and one-shot commands with stdin.
 *
 * @module
 */
import { processAlive, processCmdline } from "../node/process.ts";
import { sleep } from "../store/sleeper.ts";

/** Liveness by /proc (node/process.ts), re-exported for the lab's modules. */
export { processAlive, processCmdline };

const dec = new TextDecoder();

/**
 * Starts `argv` as a background process in its own session, with stdout and stderr appended to
 * `logFile` (through `sh -c 'exec ...'`, so the pid is the program's own; with `netns` through
 * `nsenter --net=/run/netns/NETNS`, which execs it too, and with `mountNs` also
 * `--mount=FILE`), and lets this process
 * exit while it runs. Resolves with its pid once the child carries its own command line (between
 * fork and exec it still shows ours, which would fool a liveness check by command line), or
 * once it has already exited.
 */
export async function spawnDetached(
  argv: string[],
  opts: {
    logFile: string;
    env?: Record<string, string>;
    netns?: string;
    mountNs?: string;
    /** The command line it ends up with when argv execs another program (default argv's). */
    finalArgv?: string[];
  },
): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd) throw new TypeError("Cannot start a process: empty command");
  const ns = [
    ...(opts.mountNs === undefined ? [] : [`--mount=${opts.mountNs}`]),
    ...(opts.netns === undefined ? [] : [`--net=/run/netns/${opts.netns}`]),
  ];
  const enter = ns.length ? ["nsenter", ...ns] : [];
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'log="$1"; shift; exec "$@" >>"$log" 2>&1 </dev/null',
      "sh",
      opts.logFile,
      ...enter,
      cmd,
      ...rest,
    ],
    env: opts.env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  child.unref();
  let exited = false;
  // Reap it if it dies while we still run, so it does not linger as a zombie.
  child.status.then(() => exited = true, () => exited = true);
  // Until the exec, the process is the `sh -c ...` whose arguments also hold `argv`: wait for
  // the command line to start with it.
  const needle = (opts.finalArgv ?? argv).join(" ");
  for (let i = 0; i < 500 && !exited; i++) {
    if (processCmdline(child.pid)?.startsWith(needle)) break;
    await sleep(2);
  }
  return child.pid;
}

/** Pids of live processes (other than this one) whose command line contains `marker`. */
export function pidsWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    if (pid !== Deno.pid && processAlive(pid, marker)) pids.push(pid);
  }
  return pids;
}

/**
 * Stops a process the lab started: SIGTERM (or `signal`), then SIGKILL after `graceMs`.
 * Does nothing when the pid no longer carries `marker`. Returns true if it had to act.
 */
export async function stopProcess(
  pid: number,
  marker: string,
  opts: { graceMs?: number; signal?: Deno.Signal } = {},
): Promise<boolean> {
  if (!processAlive(pid, marker)) return false;
  try {
    Deno.kill(pid, opts.signal ?? "SIGTERM");
  } catch {
    return false;
  }
  const deadline = Date.now() + (opts.graceMs ?? 3000);
  while (Date.now() < deadline) {
    if (!processAlive(pid, marker)) return true;
    await sleep(25);
  }
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
  for (let i = 0; i < 100 && processAlive(pid, marker); i++) await sleep(20);
  return true;
}

/** Result of runCommand(). */
export interface CommandResult {
  code: number;
  success: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with optional stdin text and extra environment. */
export async function runCommand(
  argv: string[],
  opts: { stdin?: string; env?: Record<string, string>; clearEnv?: boolean; signal?: AbortSignal } =
    {},
): Promise<CommandResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new TypeError("Cannot run a command: empty command");
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    clearEnv: opts.clearEnv,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: opts.signal,
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    success: out.success,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** A free TCP port on 127.0.0.1 (bound and released; a small race is accepted). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Runs `fn` over `items` with at most `limit` in flight; results in input order. When a call
 * fails no new one starts, and the first error is thrown only once every call in flight has
 * settled: nothing of the work goes on after mapLimit returns (an interrupted `lab up` removes
 * its state directory right after, and a late write into it would make that fail).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const settled = await Promise.allSettled(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  const failure = settled.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;
  return out;
}

/** The last `n` lines of a file, or "" when it cannot be read. */
export function tailFile(path: string, n = 15): string {
  try {
    return Deno.readTextFileSync(path).trimEnd().split("\n").slice(-n).join("\n");
  } catch {
    return "";
  }
}
