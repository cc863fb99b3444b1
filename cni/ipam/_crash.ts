/**
 * Test-only crash injection. When the environment variable `SKEIN_TEST_CRASH_AT` names a point,
 * the process kills itself with SIGKILL when it reaches that point, so tests can prove that a
 * process dying anywhere in ADD loses nothing. Without the variable (production) every call is a
 * no-op after one environment lookup; without env permission it is a no-op too.
 *
 * Points (in the order an ADD reaches them): `after-lock`, `after-temp-write`, `after-link`,
 * `after-reserve` (first range set fully reserved, before the next one), `before-unlock`,
 * `after-unlock`.
 *
 * @module
 */

let target: string | undefined | null = null;

/** The crash points an ADD passes through. */
export const CRASH_POINTS = [
  "after-lock",
  "after-temp-write",
  "after-link",
  "after-reserve",
  "before-unlock",
  "after-unlock",
] as const;

/** Kills the process with SIGKILL if `SKEIN_TEST_CRASH_AT` equals `point`. */
export function crashPoint(point: (typeof CRASH_POINTS)[number]): void {
  if (target === null) {
    try {
      target = Deno.env.get("SKEIN_TEST_CRASH_AT");
    } catch {
      target = undefined;
    }
  }
  if (target === point) Deno.kill(Deno.pid, "SIGKILL");
}
