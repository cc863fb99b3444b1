/**
 * Helpers for tests and benchmarks that run `skein daemon` as a real process: the process with
 * its stderr collected, a free loopback port, polling waits, and a tolerant HTTP GET.
 *
 * @module
 */

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * A running `skein daemon --config FILE` (deno run main.ts) whose stderr lines are collected.
 * `opts.netns` (a /run/netns path): the process runs inside that network namespace (nsenter
 * execs deno, so `pid` is the daemon's).
 */
export class DaemonProc {
  readonly child: Deno.ChildProcess;
  lines: string[] = [];
  #done: Promise<void>;
  constructor(configFile: string, opts: { netns?: string } = {}) {
    const cmd = [
      Deno.execPath(),
      "run",
      "-A",
      "--no-prompt",
      MAIN,
      "daemon",
      "--config",
      configFile,
    ];
    const [bin, ...args] = opts.netns ? ["nsenter", `--net=${opts.netns}`, ...cmd] : cmd;
    this.child = new Deno.Command(bin!, { args, stdout: "null", stderr: "piped" }).spawn();
    const stderr = this.child.stderr;
    this.#done = (async () => {
      for await (const chunk of stderr.pipeThrough(new TextDecoderStream())) {
        this.lines.push(...chunk.split("\n").filter((l) => l));
      }
    })();
  }
  /** The process id. */
  get pid(): number {
    return this.child.pid;
  }
  /** Everything logged so far. */
  log = (): string => this.lines.join("\n");
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill("SIGCONT"); // a stopped process cannot act on SIGTERM
      this.child.kill(signal);
    } catch { /* already exited */ }
    const st = await this.child.status;
    await this.#done;
    return st;
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Polls `fn` every `everyMs` until it returns a truthy value; throws after `ms` with `log()`. */
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { ms?: number; everyMs?: number; log?: () => string } = {},
): Promise<T> {
  const end = Date.now() + (opts.ms ?? 20_000);
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
  }
  throw new Error(`timed out waiting for ${what}${opts.log ? `\ndaemon log:\n${opts.log()}` : ""}`);
}

/**
 * GET http://<listen><path>: status and body (status 0 with the error text when unreachable).
 * `netns` (a /run/netns path): asked from inside that namespace (with curl).
 */
export async function httpGet(
  listen: string,
  path: string,
  netns?: string,
): Promise<{ status: number; body: string }> {
  if (netns) return await curlIn(netns, `http://${listen}${path}`);
  try {
    const r = await fetch(`http://${listen}${path}`, { signal: AbortSignal.timeout(1000) });
    return { status: r.status, body: await r.text() };
  } catch (e) {
    return { status: 0, body: (e as Error).message };
  }
}

async function curlIn(netns: string, url: string): Promise<{ status: number; body: string }> {
  const out = await new Deno.Command("nsenter", {
    args: [`--net=${netns}`, "curl", "-s", "--max-time", "1", "-w", "\n%{http_code}", url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const nl = text.lastIndexOf("\n");
  const status = Number(text.slice(nl + 1));
  if (!out.success || !status) {
    return { status: 0, body: new TextDecoder().decode(out.stderr) || `curl exit ${out.code}` };
  }
  return { status, body: text.slice(0, nl) };
}
