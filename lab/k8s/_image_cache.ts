/**
 * The lab's image cache: one directory per built image, named after the image and a hash of
 * everything it is built from (`<name>-<key>`), holding `image.tar` and `image.json`. A build
 * happens in a temporary directory beside it and is renamed into place, so a half-built image is
 * never found, and two builds of the same key at once both end with one good entry.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** An image cannot be built (a missing tool or package, install.sh failed, ...). */
export class ImageBuildError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ImageBuildError";
  }
}

/** What `image.json` records about a cached image archive. */
export interface CachedImage {
  ref: string;
  /** The image id ("sha256:..." of its config). */
  id: string;
  /** Archive size in bytes. */
  size: number;
  /** Extra facts of the build (e.g. whether skein is a launcher). */
  notes?: Record<string, string | boolean | number>;
}

/** One input of a cache key: literal text, or a file's path and contents. */
export type KeyPart = string | { file: string };

/** sha256 (hex) over the parts, each framed by its kind and length (files streamed). */
export async function contentKey(parts: KeyPart[]): Promise<string> {
  const h = createHash("sha256");
  for (const p of parts) {
    if (typeof p === "string") {
      h.update(`text ${p.length}\n${p}\n`);
      continue;
    }
    const f = await Deno.open(p.file, { read: true });
    try {
      h.update(`file ${p.file}\n`);
      const buf = new Uint8Array(1 << 20);
      for (let n = await f.read(buf); n !== null; n = await f.read(buf)) {
        h.update(buf.subarray(0, n));
      }
      h.update("\n");
    } finally {
      f.close();
    }
  }
  return h.digest("hex");
}

/** The cache entry directory for image `name` and key. */
export function entryDir(cacheDir: string, name: string, key: string): string {
  return `${cacheDir}/${name}-${key.slice(0, 20)}`;
}

/** The cached image in `dir` when it is complete (archive of the recorded size), else undefined. */
export function readEntry(dir: string): CachedImage | undefined {
  try {
    const meta = JSON.parse(Deno.readTextFileSync(`${dir}/image.json`)) as CachedImage;
    if (Deno.statSync(`${dir}/image.tar`).size !== meta.size) return undefined;
    const now = new Date();
    Deno.utimeSync(`${dir}/image.json`, now, now); // last use, for pruning
    return meta;
  } catch {
    return undefined;
  }
}

/**
 * Moves the finished build `tmp` into place as `dir` (with `meta` as its image.json) and
 * returns what is there now: a concurrent build of the same key may have won, then `tmp` is
 * removed and the winner is used.
 */
export function commitEntry(tmp: string, dir: string, meta: CachedImage): CachedImage {
  Deno.writeTextFileSync(`${tmp}/image.json`, JSON.stringify(meta, null, 2) + "\n");
  try {
    Deno.renameSync(tmp, dir);
    return meta;
  } catch (e) {
    const there = readEntry(dir);
    removeTree(tmp);
    if (there) return there;
    throw e;
  }
}

/**
 * Removes the entries of image `name` other than the `keep` most recently used, and builds
 * left behind by a killed process (`.build-<name>-*` older than an hour).
 */
export function pruneEntries(cacheDir: string, name: string, keep = 3): void {
  const entries: Array<{ path: string; used: number }> = [];
  for (const e of safeReadDir(cacheDir)) {
    const path = `${cacheDir}/${e.name}`;
    if (e.isDirectory && e.name.startsWith(`.build-${name}-`)) {
      const age = Date.now() - (safeStat(path)?.mtime?.getTime() ?? Date.now());
      if (age > 3600_000) removeTree(path);
    } else if (e.isDirectory && new RegExp(`^${name}-[0-9a-f]{20}$`).test(e.name)) {
      entries.push({ path, used: safeStat(`${path}/image.json`)?.mtime?.getTime() ?? 0 });
    }
  }
  entries.sort((a, b) => b.used - a.used);
  for (const e of entries.slice(keep)) removeTree(e.path);
}

/** A fresh build directory for image `name` in the cache. */
export function buildDir(cacheDir: string, name: string): string {
  Deno.mkdirSync(cacheDir, { recursive: true });
  return Deno.makeTempDirSync({ dir: cacheDir, prefix: `.build-${name}-` });
}

/** `rm -rf`, quietly. */
export function removeTree(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch {
    // gone
  }
}

function safeReadDir(dir: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
}

function safeStat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch {
    return undefined;
  }
}
