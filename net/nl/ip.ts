/**
 * Fast paths for IPv4 text ↔ bytes (the hot path of route batches); everything else falls back
 * to the general parser in ../cidr.ts.
 *
 * @module
 */

/**
 * Parses strict dotted-quad IPv4 text ("10.0.0.1": four decimal parts 0-255, no leading zeros)
 * into an unsigned 32-bit number, or returns -1.
 */
export function parseV4(s: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
      continue;
    }
    if (c < 48 || c > 57) return -1;
    if (digits > 0 && part === 0) return -1; // leading zero
    part = part * 10 + (c - 48);
    digits++;
    if (part > 255) return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

/** Formats 4 network-order bytes at `off` as dotted-quad text. */
export function formatV4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}
