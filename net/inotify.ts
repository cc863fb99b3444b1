/**
 * Directory change notices from inotify(7), read through Deno FFI: the equivalent of
 * `inotifywait -m [-r] -e create,modify,attrib,delete,delete_self,move DIR...`.
 *
 * Why not `Deno.watchFs`: its watcher opens new files in a watched directory, so a FIFO created
 * there (under any name) blocks its thread in open() waiting for a writer; change notices stop,
 * and closing the watcher then freezes the process (a daemon no longer stops on SIGTERM). This
 * watcher never opens what it reports: the kernel hands over names, a nonblocking descriptor is
 * read on the main thread, and waiting is the shared poll loop's (net/poller.ts), so close()
 * never blocks and ends the iteration.
 *
 * Reads of a file (IN_ACCESS, IN_OPEN, IN_CLOSE_NOWRITE) are not asked for: a caller's own reads
 * never wake it. An overflowed kernel queue (IN_Q_OVERFLOW) comes out as an "overflow" event:
 * something was missed, rescan.
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import {
  type DirEventKind,
  IN_ATTRIB,
  IN_CREATE,
  IN_DELETE,
  IN_DELETE_SELF,
  IN_DONT_FOLLOW,
  IN_EXCL_UNLINK,
  IN_IGNORED,
  IN_ISDIR,
  IN_MODIFY,
  IN_MOVE_SELF,
  IN_MOVED_FROM,
  IN_MOVED_TO,
  IN_ONLYDIR,
  IN_Q_OVERFLOW,
  inotifyKind,
  type InotifyRecord,
  parseInotifyEvents,
} from "./inotify_event.ts";
import * as L from "./libc.ts";
import { type Poller, sharedPoller } from "./poller.ts";

export type { DirEventKind } from "./inotify_event.ts";

/** One change in a watched directory. */
export interface DirEvent {
  kind: DirEventKind;
  /**
   * The changed entry as the watched path joined with its name (the watched directory itself
   * when the change is its own); empty for "overflow".
   */
  paths: string[];
}

/** A running watch: iterate its events; close() ends the iteration. */
export interface DirWatcher extends AsyncIterable<DirEvent> {
  /** Stops watching and ends the iteration. Never blocks; closing twice is harmless. */
  close(): void;
}

/** Opens a watch of directories (watchDirs, or a test's stand-in). */
export type WatchDirsFn = (
  paths: string | string[],
  options: { recursive: boolean },
) => DirWatcher;

/** Options of {@linkcode watchDirs}. */
export interface WatchDirsOptions {
  /** Also watch every subdirectory, including ones created or moved in later (`inotifywait -r`). */
  recursive?: boolean;
  /** The poll loop that waits for the descriptor (default: the process's shared one). */
  poller?: Poller;
}

/** What every watch asks the kernel for (no reads; never follows a symbolic link). */
const WATCH_MASK = IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_DELETE | IN_DELETE_SELF |
  IN_MOVED_FROM | IN_MOVED_TO | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK;

/** Room for 60 largest records (16 + NAME_MAX + 1 bytes each); a read never splits one. */
const READ_BUFFER = 16 * 1024;

/**
 * Watches `paths` (directories) for changes to their entries: `inotifywait -m [-r] DIR...`.
 * Throws NetlinkError when inotify is unavailable or a path cannot be watched (ENOENT,
 * ENOTDIR, ENOSPC: the per-user watch limit). The iteration ends on close() and when every
 * watched directory is gone.
 *
 * @example
 * ```ts
 * import { watchDirs } from "./inotify.ts";
 * const dir = Deno.makeTempDirSync();
 * const w = watchDirs(dir);
 * Deno.writeTextFileSync(`${dir}/x`, "1");
 * for await (const ev of w) {
 *   if (ev.kind === "create") break; // { kind: "create", paths: [`${dir}/x`] }
 * }
 * w.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function watchDirs(paths: string | string[], options: WatchDirsOptions = {}): DirWatcher {
  return new InotifyWatcher(
    typeof paths === "string" ? [paths] : paths,
    options.recursive ?? false,
    options.poller ?? sharedPoller(),
  );
}

/** The inotify descriptor with its watches (see watchDirs). */
class InotifyWatcher implements DirWatcher {
  #fd: number;
  #recursive: boolean;
  #poller: Poller;
  /** Watch descriptor → the path it was added under. */
  #dirs = new Map<number, string>();
  #closed = false;
  #buf = new Uint8Array(READ_BUFFER);

  constructor(paths: string[], recursive: boolean, poller: Poller) {
    this.#recursive = recursive;
    this.#poller = poller;
    const fd = L.libcInotify().inotify_init1(L.IN_NONBLOCK | L.IN_CLOEXEC);
    if (fd < 0) throw new NetlinkError("Cannot create an inotify instance", L.errno());
    this.#fd = fd;
    try {
      for (const p of paths) this.#add(p, true);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dirs.clear();
    // Wakes a pending wait and closes the descriptor once no poll() can still be watching it.
    this.#poller.release(this.#fd);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<DirEvent> {
    try {
      while (!this.#closed && this.#dirs.size > 0) {
        const n = Number(L.libcPoll().read(this.#fd, this.#buf, BigInt(this.#buf.length)));
        if (n < 0) {
          const e = L.errno();
          if (e === L.EINTR) continue;
          if (e !== L.EAGAIN) throw new NetlinkError("Cannot read inotify events", e);
          await this.#poller.wait(this.#fd, "read");
          continue;
        }
        for (const rec of parseInotifyEvents(this.#buf.subarray(0, n))) {
          if (this.#closed) return;
          const ev = this.#take(rec);
          if (ev) yield ev;
        }
      }
    } finally {
      this.close();
    }
  }

  /** Adds a watch of `path` (and, recursive, of its subdirectories). */
  #add(path: string, required: boolean): void {
    const wd = L.libcInotify().inotify_add_watch(this.#fd, L.cstr(path), WATCH_MASK);
    if (wd < 0) {
      const e = L.errno();
      if (required) throw new NetlinkError(`Cannot watch ${path}`, e);
      return; // gone meanwhile, or no longer a directory
    }
    this.#dirs.set(wd, path);
    if (!this.#recursive) return;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(path)];
    } catch {
      return; // gone meanwhile
    }
    for (const ent of entries) {
      if (ent.isDirectory && !ent.isSymlink) this.#add(join(path, ent.name), false);
    }
  }

  /** Removes the watches of `path` and everything under it (moved away: their paths are stale). */
  #forget(path: string): void {
    for (const [wd, p] of this.#dirs) {
      if (p !== path && !p.startsWith(`${path}/`)) continue;
      this.#dirs.delete(wd);
      L.libcInotify().inotify_rm_watch(this.#fd, wd);
    }
  }

  /** The event of one record (undefined: none to report), keeping the watch table current. */
  #take(rec: InotifyRecord): DirEvent | undefined {
    if (rec.mask & IN_Q_OVERFLOW) return { kind: "overflow", paths: [] };
    if (rec.mask & IN_IGNORED) {
      // The watch is gone: its directory was deleted, or it was removed (#forget).
      this.#dirs.delete(rec.wd);
      return undefined;
    }
    const dir = this.#dirs.get(rec.wd);
    if (dir === undefined) return undefined; // queued before its watch was removed
    const path = rec.name ? join(dir, rec.name) : dir;
    if (this.#recursive && rec.name && rec.mask & IN_ISDIR) {
      if (rec.mask & IN_MOVED_FROM) this.#forget(path);
      if (rec.mask & (IN_CREATE | IN_MOVED_TO)) this.#add(path, false);
    }
    return { kind: inotifyKind(rec.mask), paths: [path] };
  }
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}
