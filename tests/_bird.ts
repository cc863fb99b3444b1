/**
 * BIRD 2 as a real BGP peer for tests (Debian `bird2`, installed by scripts/deps.sh --test):
 * started inside a test namespace with its own configuration, control socket and pid file in a
 * temporary directory, stopped by pid. `birdc()` asks it through that socket.
 *
 * ```ts ignore
 * const bird = await startBird({ netns: ns.tor, config: "router id 10.0.0.1; ..." });
 * try { await bird.waitFor("show protocols", /Established/); } finally { await bird.stop(); }
 * ```
 *
 * @module
 */
import { cleanupOnInterrupt } from "./_netns.ts";

/** A running BIRD. */
export interface Bird {
  dir: string;
  /** Runs `birdc -s <socket> <args>` and returns its output. */
  birdc(...args: string[]): Promise<string>;
  /** Polls a birdc command until its output matches (throws after `timeoutMs`). */
  waitFor(cmd: string, re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL; removes the directory. */
  stop(): Promise<void>;
}

/** True when BIRD 2 is installed. */
export function haveBird(): boolean {
  try {
    return new Deno.Command("bird", { args: ["--version"], stderr: "piped", stdout: "piped" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Starts BIRD in `netns` (a /run/netns path) with `config` (`args`: more flags, e.g. -R). */
export async function startBird(
  opts: { netns: string; config: string; args?: string[] },
): Promise<Bird> {
  const dir = await Deno.makeTempDir({ prefix: "skein-bird-" });
  const conf = `${dir}/bird.conf`, sock = `${dir}/bird.ctl`, pidFile = `${dir}/bird.pid`;
  await Deno.writeTextFile(conf, opts.config);
  const out = await new Deno.Command("nsenter", {
    args: [
      `--net=${opts.netns}`,
      "bird",
      "-c",
      conf,
      "-s",
      sock,
      "-P",
      pidFile,
      ...(opts.args ?? []),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(`bird did not start: ${new TextDecoder().decode(out.stderr)}`);
  }
  // bird daemonizes (its parent is init, not this process): an interrupted test or benchmark
  // (SIGINT, SIGTERM from `timeout`) skips `finally`, so the interrupt cleanup kills it by pid
  // and removes its directory.
  const readPid = () => {
    try {
      return Number(Deno.readTextFileSync(pidFile).trim());
    } catch {
      return undefined;
    }
  };
  const unregister = cleanupOnInterrupt(() => {
    const pid = readPid();
    if (pid) Deno.kill(pid, "SIGKILL");
    Deno.removeSync(dir, { recursive: true });
  });
  const birdc = async (...args: string[]) => {
    const r = await new Deno.Command("birdc", {
      args: ["-s", sock, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  };
  return {
    dir,
    birdc,
    async waitFor(cmd, re, timeoutMs = 15000) {
      const end = Date.now() + timeoutMs;
      let last = "";
      while (Date.now() < end) {
        last = await birdc(...cmd.split(" "));
        if (re.test(last)) return last;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`birdc ${cmd}: no ${re} within ${timeoutMs} ms; last output:\n${last}`);
    },
    async stop() {
      unregister();
      try {
        const pid = readPid();
        if (!pid) throw new Error("no pid file");
        Deno.kill(pid, "SIGTERM");
        for (let i = 0; i < 50; i++) {
          await new Promise((r) => setTimeout(r, 20));
          try {
            Deno.kill(pid, "SIGCONT");
          } catch {
            break;
          }
        }
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      } catch {
        // never started or already gone
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
