/**
 * kubectl as the lab's Kubernetes modules use it (Debian's kubernetes-client, installed by
 * scripts/deps.sh): one command against the lab's admin kubeconfig, its JSON output parsed, and
 * a poll loop with a deadline whose error says what was awaited and what was last seen.
 *
 * @module
 */
import { type CommandResult, runCommand } from "../_proc.ts";
import { sleep } from "../../store/sleeper.ts";

/** A kubectl command that failed; the message holds its arguments and stderr. */
export class KubectlError extends Error {
  constructor(readonly args: readonly string[], readonly result: CommandResult) {
    super(`kubectl ${args.join(" ")} failed (exit ${result.code}): ${result.stderr.trim()}`);
    this.name = "KubectlError";
  }
}

/** Waiting for a cluster state took longer than allowed. */
export class KubeWaitError extends Error {
  constructor(what: string, ms: number, lastSeen: string) {
    super(`timed out after ${Math.round(ms / 1000)} s waiting for ${what}; last seen: ${lastSeen}`);
    this.name = "KubeWaitError";
  }
}

/** Runs `kubectl --kubeconfig KUBECONFIG ARGS` (with optional stdin); never throws on exit code. */
export function kubectlRun(
  kubeconfig: string,
  args: readonly string[],
  opts: { stdin?: string } = {},
): Promise<CommandResult> {
  return runCommand(["kubectl", `--kubeconfig=${kubeconfig}`, ...args], opts);
}

/** Runs kubectl and returns stdout; a non-zero exit is a KubectlError. */
export async function kubectl(
  kubeconfig: string,
  args: readonly string[],
  opts: { stdin?: string } = {},
): Promise<string> {
  const r = await kubectlRun(kubeconfig, args, opts);
  if (!r.success) throw new KubectlError(args, r);
  return r.stdout;
}

/** `kubectl get ... -o json`, parsed. */
export async function kubectlJson<T>(kubeconfig: string, args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectl(kubeconfig, [...args, "-o", "json"])) as T;
}

/**
 * Calls `check` every `intervalMs` until it returns `{ done: value }` or `ms` passes; `check`
 * returns `{ seen }` to say what it saw (the timeout's message). A throw from `check` counts as
 * "not yet" (its message is what was seen) unless `fatal` says it is final.
 */
export async function pollUntil<T>(
  what: string,
  ms: number,
  check: () => Promise<{ done: T } | { seen: string }>,
  opts: { intervalMs?: number; fatal?: (e: unknown) => boolean } = {},
): Promise<T> {
  const end = Date.now() + ms;
  let seen = "nothing yet";
  while (true) {
    try {
      const r = await check();
      if ("done" in r) return r.done;
      seen = r.seen;
    } catch (e) {
      if (opts.fatal?.(e)) throw e;
      seen = (e as Error).message;
    }
    if (Date.now() >= end) throw new KubeWaitError(what, ms, seen);
    await sleep(opts.intervalMs ?? 1000);
  }
}

/** The last warning events of namespace `ns` (`kubectl get events --field-selector type=Warning`). */
export async function warningEvents(kubeconfig: string, ns: string): Promise<string> {
  const ev = await kubectlRun(kubeconfig, [
    "-n",
    ns,
    "get",
    "events",
    "--field-selector=type=Warning",
    "--sort-by=.lastTimestamp",
  ]);
  return `warning events in ${ns}:\n${ev.stdout.trim().split("\n").slice(-8).join("\n")}`;
}
