/**
 * CNI spec versions skein speaks. Imports nothing, so the VERSION fast path stays cheap.
 *
 * @module
 */

/** Every CNI spec version skein accepts in a network configuration, oldest first. */
export const SUPPORTED_VERSIONS: readonly string[] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/** The newest spec version skein implements. */
export const LATEST_VERSION = "1.1.0";

/** True when `v` is one of SUPPORTED_VERSIONS. */
export function isSupportedVersion(v: unknown): v is string {
  return typeof v === "string" && SUPPORTED_VERSIONS.includes(v);
}

/** Parses "1.0.0" into [1, 0, 0]; undefined for anything that is not a dotted version. */
export function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/**
 * True when version `a` is at least `b` ("1.0.0" >= "0.4.0"). Unparsable versions compare as
 * older than everything.
 */
export function versionAtLeast(a: string, b: string): boolean {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) return false;
  for (let i = 0; i < 3; i++) {
    if (x[i]! !== y[i]!) return x[i]! > y[i]!;
  }
  return true;
}
