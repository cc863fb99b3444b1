/**
 * Small helpers shared by the stores.
 *
 * @module
 */

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The lease without its expiration, as a comparable string (renewals are not changes). */
export function leaseIdentity(l: { expiration: string }): string {
  const { expiration: _e, ...rest } = l;
  return JSON.stringify(rest, Object.keys(rest).sort());
}

/** A warning callback: message plus structured fields. */
export type WarnFn = (msg: string, fields?: Record<string, unknown>) => void;
