/**
 * Small helpers shared by the stores.
 *
 * @module
 */

/**
 * The lease without its expiration, as a comparable string (renewals are not changes): canonical
 * JSON, keys sorted at every level, so a changed backendData (a new VtepMAC) is a change. (A key
 * list as JSON.stringify's replacer would drop every nested key not in it.)
 */
export function leaseIdentity(l: { expiration: string }): string {
  const { expiration: _e, ...rest } = l;
  return canonicalJson(rest);
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) =>
      x !== null && typeof x === "object" && !Array.isArray(x)
        ? Object.fromEntries(
          Object.keys(x).sort().map((k) => [k, (x as Record<string, unknown>)[k]]),
        )
        : x,
  );
}

/** A warning callback: message plus structured fields. */
export type WarnFn = (msg: string, fields?: Record<string, unknown>) => void;

/**
 * The chunks of `body` until it ends or `signal` aborts. An abort ends the iteration at once by
 * cancelling the reader itself: a fetch whose signal aborted does not always error a read that is
 * already pending (Deno 2.9 left one pending until the server's next chunk, a minute later on a
 * quiet watch, so a stopped informer hung on). A consumer that stops early cancels the body too,
 * as `for await` over a stream does.
 */
export async function* chunksUntilAborted<T>(
  body: ReadableStream<T>,
  signal: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  const reader = body.getReader();
  let ended = false;
  const cancel = () => {
    ended = true;
    reader.cancel(signal.reason).catch(() => {});
  };
  if (signal.aborted) cancel();
  else signal.addEventListener("abort", cancel, { once: true });
  try {
    while (!ended) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      yield value;
    }
  } finally {
    signal.removeEventListener("abort", cancel);
    if (!ended) reader.cancel().catch(() => {});
  }
}
