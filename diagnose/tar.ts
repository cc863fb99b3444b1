/**
 * A minimal tar writer (POSIX ustar: regular files and directories) and gzip through the Web
 * CompressionStream, for `--bundle`. Pure apart from the compression stream; no dependency.
 *
 * @module
 */

/** One file of the archive. */
export interface TarEntry {
  /** Path inside the archive ("nodes/n1/routes.json"); at most 255 bytes. */
  name: string;
  data: Uint8Array | string;
  /** Default 0o644. */
  mode?: number;
  /** Modification time, seconds since the epoch (default now). */
  mtime?: number;
}

const enc = new TextEncoder();
const BLOCK = 512;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function put(h: Uint8Array, off: number, text: string, width: number): void {
  const b = enc.encode(text);
  if (b.length > width) {
    throw new RangeError(`Cannot write tar field "${text}": longer than ${width} bytes`);
  }
  h.set(b, off);
}

/** Splits a long name into ustar's prefix (155) and name (100) at a slash. */
function splitName(name: string): [string, string] {
  const b = enc.encode(name);
  if (b.length <= 100) return ["", name];
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== "/") continue;
    const prefix = name.slice(0, i), rest = name.slice(i + 1);
    if (enc.encode(prefix).length <= 155 && enc.encode(rest).length <= 100) return [prefix, rest];
  }
  throw new RangeError(`Cannot store "${name}" in a tar archive: the name is too long for ustar`);
}

/** The 512-byte ustar header of an entry with `size` bytes. */
export function tarHeader(
  e: { name: string; size: number; mode?: number; mtime?: number; type?: "0" | "5" },
): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const [prefix, name] = splitName(e.name);
  put(h, 0, name, 100);
  put(h, 100, octal(e.mode ?? 0o644, 8), 8);
  put(h, 108, octal(0, 8), 8);
  put(h, 116, octal(0, 8), 8);
  put(h, 124, octal(e.size, 12), 12);
  put(h, 136, octal(Math.floor(e.mtime ?? Date.now() / 1000), 12), 12);
  h.fill(0x20, 148, 156); // checksum field counts as spaces
  put(h, 156, e.type ?? "0", 1);
  put(h, 257, "ustar\0", 6);
  put(h, 263, "00", 2);
  put(h, 265, "root", 32);
  put(h, 297, "root", 32);
  put(h, 345, prefix, 155);
  let sum = 0;
  for (const b of h) sum += b;
  put(h, 148, sum.toString(8).padStart(6, "0") + "\0 ", 8);
  return h;
}

/** The tar archive of `entries` (with the two zero blocks that end it). */
export function tar(entries: readonly TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const e of entries) {
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data;
    const h = tarHeader({ name: e.name, size: data.length, mode: e.mode, mtime: e.mtime });
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    parts.push(h, data, new Uint8Array(pad));
    size += BLOCK + data.length + pad;
  }
  parts.push(new Uint8Array(2 * BLOCK));
  size += 2 * BLOCK;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** gzip of `data` (CompressionStream("gzip")). */
export async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
