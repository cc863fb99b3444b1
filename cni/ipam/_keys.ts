/**
 * The keys of one JSON object of the `ipam` section, read the way host-local reads them (Go's
 * encoding/json matches a key to a field ignoring case: `rangestart` is `rangeStart`), and
 * skein's refusal of keys it does not know (host-local ignores those silently).
 *
 * @module
 */
import { CniCode, CniError } from "../errors.ts";

/** Levenshtein distance of two short (lowercased) key names. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur.push(
        Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)),
      );
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The known key `key` is probably a misspelling of, if any: one edit away (two for names of
 * eight letters or more), so "id" is not taken for "gw".
 */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (d <= (k.length >= 8 ? 2 : 1) && d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

/**
 * `o` with its keys renamed to the spelling in `known`, matched ignoring ASCII case as
 * host-local (Go) does, except the skein-only keys in `exact` (host-local has no such field to
 * be compatible with, and the launcher finds `leaseFile` by its exact name). Throws CniError 2
 * for a key that matches none, naming it (`where.key`), the closest known key and what to do;
 * CniError 7 when two keys name the same field (`rangeStart` and `rangestart`: host-local
 * would take whichever comes last).
 */
export function knownKeys(
  o: Record<string, unknown>,
  known: readonly string[],
  where: string,
  exact: readonly string[] = [],
): Record<string, unknown> {
  const byFold = new Map(
    known.map((k) => [exact.includes(k) ? k : k.toLowerCase(), k]),
  );
  const out: Record<string, unknown> = {};
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(o)) {
    const field = byFold.get(exact.includes(key) ? key : key.toLowerCase());
    if (field === undefined) {
      const near = nearest(key, known);
      throw new CniError(
        CniCode.UnsupportedField,
        `Unsupported IPAM field ${where}.${key}${near ? ` (did you mean "${near}"?)` : ""}`,
        `skein refuses keys it does not implement where host-local would ignore them silently ` +
          `(a misspelt field would be lost); ${where} takes ${known.join(", ")}: ` +
          `${near ? `rename it to "${near}" or ` : ""}remove "${key}" from the network config`,
      );
    }
    const other = seen.get(field);
    if (other !== undefined) {
      throw new CniError(
        CniCode.InvalidConfig,
        `Invalid IPAM config: ${where}: "${other}" and "${key}" both set ${field} (keys match ` +
          `ignoring case, as in host-local); keep one`,
      );
    }
    seen.set(field, key);
    out[field] = value;
  }
  return out;
}

/**
 * The value of `key` in `o` matched ignoring ASCII case, as Go's encoding/json (libcni, the
 * reference plugins) reads it: `"Type"` is `type`, `"DataDir"` is `dataDir`. Undefined when no
 * spelling is there; CniError 7 when two are (Go would take whichever comes last).
 */
export function foldedValue(o: Record<string, unknown>, key: string, where: string): unknown {
  const fold = key.toLowerCase();
  let found: string | undefined;
  for (const k of Object.keys(o)) {
    if (k.toLowerCase() !== fold) continue;
    if (found !== undefined) {
      throw new CniError(
        CniCode.InvalidConfig,
        `Invalid config: ${where}: "${found}" and "${k}" both set ${key} (keys match ignoring ` +
          "case, as in the reference plugins); keep one",
      );
    }
    found = k;
  }
  return found === undefined ? undefined : o[found];
}
