/**
 * Small helpers shared by the stores.
 *
 * @module
 */

/** The lease without its expiration, as a comparable string (renewals are not changes). */
export function leaseIdentity(l: { expiration: string }): string {
  const { expiration: _e, ...rest } = l;
  return JSON.stringify(rest, Object.keys(rest).sort());
}

/** A warning callback: message plus structured fields. */
export type WarnFn = (msg: string, fields?: Record<string, unknown>) => void;
