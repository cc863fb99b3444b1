/**
 * Runs the connectivity matrix: `ping` from inside each pod namespace to every other pod, many
 * pairs at once.
 *
 * @module
 */
import { mapLimit, runCommand } from "./_proc.ts";
import { nsenterArgs } from "../node/nsenter.ts";
import { sleep } from "../store/sleeper.ts";
import { matrixPairs, type MatrixPod, type MatrixResult } from "./matrix.ts";

/** Options for pingMatrix(). */
export interface PingOptions {
  /** Pairs in flight at once (default 16). */
  parallel?: number;
  /** Attempts per pair before it counts as failed (default 3). */
  attempts?: number;
  /** Seconds ping waits for each reply (default 1). */
  waitSeconds?: number;
}

/** One ping (`nsenter --net=<from> ping -n -c 1 -W <wait> <ip>`), retried. */
export async function pingOnce(
  from: MatrixPod,
  ip: string,
  opts: PingOptions = {},
): Promise<{ ok: boolean; rttMs?: number; error?: string }> {
  const attempts = opts.attempts ?? 3;
  let error = "";
  for (let i = 0; i < attempts; i++) {
    const r = await runCommand([
      ...nsenterArgs(from.netnsPath),
      "ping",
      "-n",
      "-q",
      "-c",
      "1",
      "-W",
      String(opts.waitSeconds ?? 1),
      ip,
    ]);
    if (r.success) {
      const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
      return { ok: true, rttMs: m ? Number(m[1]) : undefined };
    }
    const lines = (r.stdout + r.stderr).trim().split("\n").filter((l) => l.trim());
    error = lines.find((l) => /loss|unreachable|error|cannot/i.test(l)) ?? lines.pop() ??
      `exit ${r.code}`;
    if (i + 1 < attempts) await sleep(200);
  }
  return { ok: false, error: error.trim() };
}

/** Pings every ordered pair of distinct pods. */
export function pingMatrix(
  pods: readonly MatrixPod[],
  opts: PingOptions = {},
): Promise<MatrixResult[]> {
  return mapLimit(matrixPairs(pods.length), opts.parallel ?? 16, async (p) => {
    const r = await pingOnce(pods[p.from]!, pods[p.to]!.ip, opts);
    return { ...p, ...r };
  });
}
