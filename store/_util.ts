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
