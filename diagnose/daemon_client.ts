/**
 * Asks a node's skein daemon what it knows, read-only: GET /healthz, /readyz, /debug/state
 * (and /metrics for the bundle), each with a short timeout, all at once.
 *
 * @module
 */
import type { DaemonAnswers } from "./context.ts";
import { DebugStateError, parseDebugState } from "./debug_state_parse.ts";

async function get(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: r.status, body: (await r.text()).trim() };
}

/** Asks the daemon at `listen` ("host:port"). Never throws: failures are in the answer. */
export async function askDaemon(
  listen: string,
  opts: { timeoutMs: number; metrics?: boolean },
): Promise<DaemonAnswers> {
  const url = `http://${listen}`;
  const a: DaemonAnswers = { url };
  const [h, r, dbg, m] = await Promise.allSettled([
    get(`${url}/healthz`, opts.timeoutMs),
    get(`${url}/readyz`, opts.timeoutMs),
    get(`${url}/debug/state`, opts.timeoutMs),
    opts.metrics ? get(`${url}/metrics`, opts.timeoutMs) : Promise.reject(new Error("not asked")),
  ]);
  if (h.status === "rejected") {
    a.error = `${url}/healthz: ${(h.reason as Error).message}`;
    return a;
  }
  a.healthz = h.value;
  if (r.status === "fulfilled") a.readyz = r.value;
  if (dbg.status === "rejected") a.debugError = (dbg.reason as Error).message;
  else if (dbg.value.status !== 200) {
    a.debugError = `GET /debug/state answered ${dbg.value.status} (a daemon without the endpoint?)`;
  } else {
    try {
      a.debug = parseDebugState(dbg.value.body);
    } catch (e) {
      a.debugError = e instanceof DebugStateError ? e.message : String(e);
    }
  }
  if (m.status === "fulfilled" && m.value.status === 200) a.metrics = m.value.body;
  return a;
}
