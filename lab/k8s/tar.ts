/**
 * The tar format, written by the project (no `tar` binary): POSIX ustar headers, with a PAX
 * extended header (`x`) for what ustar cannot hold (a path or link target longer than its
 * fields, a size of 8 GiB or more, a uid/gid above 0o7777777). GNU tar, containerd and podman
 * read both. Output is a pure function of the entries: no clock, no user database, so the same
 * entries give the same bytes (and the same image digest).
 *
 * `tar -cf`: {@link tarStream} (streamed, file contents read as they are written) and
 * {@link encodeTar} (in memory).
 *
 * @module
 */

/** The modification time every entry gets unless it names one (seconds since the epoch). */
export const TAR_MTIME = 0;

/** File contents read while the archive is written; must yield exactly `size` bytes. */
export interface TarSource {
  size: number;
  read(): AsyncIterable<Uint8Array>;
}

interface TarCommon {
  /** Relative path inside the archive ("usr/bin/sh"), no "." or ".." parts. */
  path: string;
  /** Permission bits (with setuid/setgid/sticky); default 0o755 (dir), 0o777 (symlink), 0o644. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch, default {@link TAR_MTIME}. */
  mtime?: number;
}

/** A regular file. */
export interface TarFile extends TarCommon {
  type: "file";
  content: Uint8Array | TarSource;
}

/** A directory. */
export interface TarDir extends TarCommon {
  type: "dir";
}

/** A symbolic link to `target` (stored as given: relative or absolute). */
export interface TarSymlink extends TarCommon {
  type: "symlink";
  target: string;
}

/** A hard link to an earlier entry's path `target`. */
export interface TarHardlink extends TarCommon {
  type: "hardlink";
  target: string;
}

/** One archive member. */
export type TarEntry = TarFile | TarDir | TarSymlink | TarHardlink;

/** An entry that cannot be written (bad path, wrong content length, ...). */
export class TarError extends Error {
  /** The entry's path. */
  readonly path: string;
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`Cannot write tar entry ${JSON.stringify(path)}: ${message}`, options);
    this.name = "TarError";
    this.path = path;
  }
}

const BLOCK = 512;
const enc = new TextEncoder();

/** Octal field limits: digits that fit (field length minus the NUL). */
const MAX_8 = 0o7777777;
const MAX_12 = 0o77777777777;

/** The size of an entry's content, 0 for everything but files. */
export function entrySize(e: TarEntry): number {
  if (e.type !== "file") return 0;
  return e.content instanceof Uint8Array ? e.content.length : e.content.size;
}

/** Checks that a path is relative and normalized; returns it. */
function checkPath(p: string, what = "path"): string {
  if (p === "" || p.startsWith("/") || p.includes("\0")) {
    throw new TarError(p, `the ${what} must be relative, non-empty and without NUL`);
  }
  for (const part of p.split("/")) {
    if (part === "" || part === "." || part === "..") {
      throw new TarError(p, `the ${what} has an empty, "." or ".." part`);
    }
  }
  return p;
}

function putString(h: Uint8Array, off: number, len: number, s: string | Uint8Array): void {
  const b = typeof s === "string" ? enc.encode(s) : s;
  h.set(b.subarray(0, len), off);
}

function putOctal(h: Uint8Array, off: number, len: number, n: number): void {
  putString(h, off, len, n.toString(8).padStart(len - 1, "0"));
}

/** Splits a UTF-8 path into ustar's prefix (155) and name (100), or undefined when it cannot. */
function splitUstar(b: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | undefined {
  if (b.length <= 100) return { prefix: new Uint8Array(0), name: b };
  // The split is at a '/' with at most 155 bytes before it and 1..100 after it.
  for (let i = Math.min(b.length - 2, 155); i >= b.length - 101 && i > 0; i--) {
    if (b[i] === 0x2f) return { prefix: b.subarray(0, i), name: b.subarray(i + 1) };
  }
  return undefined;
}

/** One PAX record: "LEN key=value\n", LEN counting the whole record in bytes. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = enc.encode(body).length;
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return `${len}${body}`;
}

interface HeaderFields {
  name: Uint8Array;
  prefix: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: string;
  linkname: Uint8Array;
}

/** One 512-byte ustar header block. */
function ustarBlock(f: HeaderFields): Uint8Array {
  const h = new Uint8Array(BLOCK);
  putString(h, 0, 100, f.name);
  putOctal(h, 100, 8, f.mode);
  putOctal(h, 108, 8, f.uid);
  putOctal(h, 116, 8, f.gid);
  putOctal(h, 124, 12, f.size);
  putOctal(h, 136, 12, f.mtime);
  h.fill(0x20, 148, 156); // checksum: spaces while summing
  putString(h, 156, 1, f.type);
  putString(h, 157, 100, f.linkname);
  putString(h, 257, 6, "ustar\0");
  putString(h, 263, 2, "00");
  putString(h, 265, 32, "root");
  putString(h, 297, 32, "root");
  putOctal(h, 329, 8, 0);
  putOctal(h, 337, 8, 0);
  putString(h, 345, 155, f.prefix);
  let sum = 0;
  for (const x of h) sum += x;
  putString(h, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return h;
}

const DEFAULT_MODE = { file: 0o644, hardlink: 0o644, symlink: 0o777, dir: 0o755 } as const;
const TYPE_FLAG = { file: "0", hardlink: "1", symlink: "2", dir: "5" } as const;

/**
 * The header block(s) of an entry: a PAX extended header first when ustar cannot hold its
 * path, link target, size, uid or gid, then the ustar header. Throws TarError on a bad entry.
 */
export function tarHeader(e: TarEntry): Uint8Array {
  checkPath(e.path);
  if (e.type === "hardlink") checkPath(e.target, "hard link target");
  if (e.type === "symlink" && (e.target === "" || e.target.includes("\0"))) {
    throw new TarError(e.path, "a symlink target must be non-empty and without NUL");
  }
  const size = entrySize(e);
  const mode = e.mode ?? DEFAULT_MODE[e.type];
  const uid = e.uid ?? 0, gid = e.gid ?? 0, mtime = e.mtime ?? TAR_MTIME;
  checkNumber(e.path, "size", size, Number.MAX_SAFE_INTEGER);
  checkNumber(e.path, "mtime", mtime, MAX_12);
  checkNumber(e.path, "mode", mode, 0o7777);
  checkNumber(e.path, "uid", uid, Number.MAX_SAFE_INTEGER);
  checkNumber(e.path, "gid", gid, Number.MAX_SAFE_INTEGER);
  const path = e.type === "dir" ? `${e.path}/` : e.path;
  const pathBytes = enc.encode(path);
  const link = e.type === "symlink" || e.type === "hardlink" ? e.target : "";
  const linkBytes = enc.encode(link);
  const pax: string[] = [];
  const split = splitUstar(pathBytes);
  if (!split) pax.push(paxRecord("path", path));
  if (linkBytes.length > 100) pax.push(paxRecord("linkpath", link));
  if (size > MAX_12) pax.push(paxRecord("size", String(size)));
  if (uid > MAX_8) pax.push(paxRecord("uid", String(uid)));
  if (gid > MAX_8) pax.push(paxRecord("gid", String(gid)));
  const main = ustarBlock({
    ...(split ?? { prefix: new Uint8Array(0), name: pathBytes.subarray(0, 100) }),
    mode,
    uid: Math.min(uid, MAX_8),
    gid: Math.min(gid, MAX_8),
    size: Math.min(size, MAX_12),
    mtime,
    type: TYPE_FLAG[e.type],
    linkname: linkBytes.subarray(0, 100),
  });
  if (!pax.length) return main;
  const records = enc.encode(pax.join(""));
  const base = path.replace(/\/$/, "").split("/").pop()!;
  const paxHead = ustarBlock({
    name: enc.encode(`PaxHeaders/${base}`).subarray(0, 100),
    prefix: new Uint8Array(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime,
    type: "x",
    linkname: new Uint8Array(0),
  });
  const out = new Uint8Array(BLOCK + padded(records.length) + BLOCK);
  out.set(paxHead, 0);
  out.set(records, BLOCK);
  out.set(main, BLOCK + padded(records.length));
  return out;
}

function checkNumber(path: string, what: string, v: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new TarError(path, `bad ${what} ${v}`);
}

/** `n` rounded up to whole blocks. */
function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/** The archive's end: two zero blocks. */
const END = new Uint8Array(2 * BLOCK);

/** The number of bytes {@link tarStream} writes for these entries. */
export function tarSize(entries: Iterable<TarEntry>): number {
  let n = END.length;
  for (const e of entries) n += tarHeader(e).length + padded(entrySize(e));
  return n;
}

/**
 * The archive as a stream of chunks (`tar -cf - ...`): each entry's header(s), its content
 * (read from its source when it is streamed, checked against its size) and padding, then the
 * end-of-archive blocks. Throws TarError when a source yields more or fewer bytes than it said.
 */
export async function* tarStream(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
): AsyncGenerator<Uint8Array> {
  for await (const e of entries) {
    yield tarHeader(e);
    if (e.type !== "file") continue;
    let n = 0;
    if (e.content instanceof Uint8Array) {
      yield e.content;
      n = e.content.length;
    } else {
      for await (const chunk of e.content.read()) {
        n += chunk.length;
        if (n > e.content.size) break;
        yield chunk;
      }
      if (n !== e.content.size) {
        throw new TarError(e.path, `its source gave ${n} bytes, not ${e.content.size}`);
      }
    }
    if (padded(n) > n) yield new Uint8Array(padded(n) - n);
  }
  yield END;
}

/** The whole archive in memory, for entries whose contents are in memory (`tar -cf`). */
export function encodeTar(entries: Iterable<TarEntry>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(tarHeader(e));
    if (e.type !== "file") continue;
    if (!(e.content instanceof Uint8Array)) {
      throw new TarError(e.path, "encodeTar() needs contents in memory; use tarStream()");
    }
    parts.push(e.content, new Uint8Array(padded(e.content.length) - e.content.length));
  }
  parts.push(END);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
