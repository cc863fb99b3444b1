/**
 * Atomic file replacement: write a temporary file beside the target, then rename it over the
 * target, so a reader sees the old content or the new, never half a file, and a crash leaves at
 * most a temporary file.
 *
 * @module
 */

/** Options for atomicWriteFile(). */
export interface AtomicWriteOptions {
  /** Permission bits of the new file (set exactly, whatever the umask). Default 0o644. */
  mode?: number;
  /** Create the parent directory (and its parents, mode 0755 before the umask) first. */
  mkdir?: boolean;
  /**
   * The temporary file's name up to the pid: default `.<name>.`, giving `.<name>.<pid>.<random>.tmp`
   * beside the target. Give one when a cleaner removes leftovers by prefix.
   */
  tempPrefix?: string;
}

/** The directory part of a path ("." for a bare name, "/" for a file in the root). */
function dirOf(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

function removeQuiet(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* never created, or already gone */ }
}

/**
 * Replaces `path` with `data` atomically (temp file + rename in the same directory). The
 * temporary file is created exclusively under an unpredictable name, so a symlink or file planted
 * beside the target is never written through; a symlink at `path` itself is replaced, not
 * followed. On failure the temporary file is removed and the error (a `Deno.errors.*`) rethrown
 * unchanged: callers wrap it in their own typed error.
 *
 * @example
 * ```ts
 * import { atomicWriteFile } from "./atomic_write.ts";
 * const dir = Deno.makeTempDirSync();
 * atomicWriteFile(`${dir}/run/subnet.json`, "{}\n", { mkdir: true });
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function atomicWriteFile(
  path: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = {},
): void {
  const dir = dirOf(path);
  if (opts.mkdir) Deno.mkdirSync(dir, { recursive: true, mode: 0o755 }); // never 0777 & ~umask
  const prefix = opts.tempPrefix ?? `.${path.slice(path.lastIndexOf("/") + 1)}.`;
  const tmp = `${dir}/${prefix}${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const options = { createNew: true, mode: opts.mode ?? 0o644 };
  const fifo = holdFifo(path);
  try {
    if (typeof data === "string") Deno.writeTextFileSync(tmp, data, options);
    else Deno.writeFileSync(tmp, data, options);
    Deno.renameSync(tmp, path);
  } catch (e) {
    removeQuiet(tmp);
    throw e;
  } finally {
    fifo?.close();
  }
}

/**
 * A FIFO planted at `path`, opened read-write (which never blocks) while it is replaced: whoever
 * waits in its open() for a writer gets through, and reads EOF once it is closed. skein's own
 * directory watches (net/inotify.ts) never open what they report; this releases any other reader
 * (Deno.watchFs's thread, for one, opens each file created in a directory it watches).
 */
function holdFifo(path: string): Deno.FsFile | undefined {
  try {
    if (!Deno.lstatSync(path).isFifo) return undefined;
    return Deno.openSync(path, { read: true, write: true });
  } catch {
    return undefined; // absent (the usual case) or gone meanwhile
  }
}

/**
 * Removes the temporary files that atomicWriteFile() calls for `path` left behind when their
 * process died between the write and the rename (`.<name>.<pid>.<8 hex>.tmp` beside it, or
 * `tempPrefix` + `<pid>.<8 hex>.tmp`). Only for a caller that knows no other writer of `path` is
 * running (it holds the lock every writer takes). Returns the names removed; never throws.
 *
 * @example
 * ```ts
 * import { removeAbandonedTemps } from "./atomic_write.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/.subnet.json.4242.0a1b2c3d.tmp`, "{");
 * removeAbandonedTemps(`${dir}/subnet.json`); // [".subnet.json.4242.0a1b2c3d.tmp"]
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function removeAbandonedTemps(path: string, opts: { tempPrefix?: string } = {}): string[] {
  const dir = dirOf(path);
  const prefix = opts.tempPrefix ?? `.${path.slice(path.lastIndexOf("/") + 1)}.`;
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return removed; // no directory yet: nothing was left
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.startsWith(prefix)) continue;
    if (!/^[0-9]+\.[0-9a-f]{8}\.tmp$/.test(e.name.slice(prefix.length))) continue;
    try {
      Deno.removeSync(`${dir}/${e.name}`);
      removed.push(e.name);
    } catch { /* gone meanwhile, or not ours to remove: left as it is */ }
  }
  return removed;
}
