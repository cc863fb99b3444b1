/**
 * The on-disk reservation store, laid out exactly like host-local's so a node can switch
 * between the two (and both can run side by side):
 *
 * ```
 * <dataDir>/<network>/lock                 flock(LOCK_EX) held around every change
 * <dataDir>/<network>/<ip>                 "<containerID>\r\n<ifname>", one file per address
 * <dataDir>/<network>/last_reserved_ip.<n> last address reserved from range set n
 * ```
 *
 * Crash rule: skein never creates a reservation file empty. It writes the record into a
 * temporary file (`.skein-tmp.*`, a name that is not an address, so host-local ignores it) and
 * `link()`s it to `<ip>`; link fails with EEXIST when the address is taken, so the file at `<ip>`
 * either does not exist or is complete, and the winner of a race is decided by the kernel. All
 * writers (skein and host-local) write only while holding the lock, so whoever holds the lock
 * knows that temporary files and zero-length reservation files belong to a process that died
 * (skein never makes one; host-local does when killed between its O_EXCL create and its write):
 * they, and corrupt reservation files (no attachment can own them), are removed by the next DEL
 * or GC, and by an ADD that finds its range full or its requested address held by one.
 *
 * @module
 */
import { formatIp, type Ip, tryParseIp } from "../../net/cidr.ts";
import { CniCode, CniError } from "../errors.ts";
import { atomicWriteFile } from "../../node/atomic_write.ts";
import { readBoundedText } from "../../node/bounded_read.ts";
import { crashPoint } from "./_crash.ts";
import {
  formatReservation,
  parseReservation,
  type ReservationRecord,
} from "../../node/reservation_file.ts";
import type { IpamAttachment } from "./types.ts";

/** Default `dataDir`, as host-local's. */
export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";
/** Prefix of the per-range-set round-robin cursor files. */
export const LAST_RESERVED_PREFIX = "last_reserved_ip.";
/** The largest cursor file read (an address is at most 45 characters; host-local adds none). */
const MAX_CURSOR_BYTES = 256;
/** Prefix of skein's temporary files (never an address, so host-local skips them). */
export const TEMP_PREFIX = ".skein-tmp.";

/** One reservation file found by scan(); the address and content are parsed on first use. */
export class ScannedReservation {
  /** The address, canonical text (also the file name). */
  readonly ip: string;
  #addr?: Ip;
  #data: Uint8Array;
  #record?: ReservationRecord;

  constructor(ip: string, data: Uint8Array, addr?: Ip) {
    this.ip = ip;
    this.#data = data;
    this.#addr = addr;
  }

  /** The parsed address. */
  get addr(): Ip {
    return this.#addr ??= tryParseIp(this.ip)!;
  }

  /** What the file says. */
  get record(): ReservationRecord {
    return this.#record ??= parseReservation(this.#data);
  }
}

/** Dotted quad without leading zeros: already canonical, no need to parse and re-format. */
const CANONICAL_V4 =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

/** Everything in a network's directory that matters. */
export interface ScanResult {
  /** Reservation files by canonical address. */
  reservations: Map<string, ScannedReservation>;
  /** Leftover temporary files of crashed skein writers. */
  temps: string[];
}

function ioError(what: string, path: string, e: unknown): CniError {
  const why = e instanceof Error ? e.message : String(e);
  return new CniError(CniCode.IoFailure, `Cannot ${what} ${path}: ${why}`, undefined, { cause: e });
}

/** The reservation store of one network. Open with `ReservationStore.open()`, then `close()`. */
export class ReservationStore {
  /** `<dataDir>/<network>`. */
  readonly dir: string;
  #lockFile: Deno.FsFile;
  #locked = false;

  private constructor(dir: string, lockFile: Deno.FsFile) {
    this.dir = dir;
    this.#lockFile = lockFile;
  }

  /**
   * Opens (creating with mode 0755 if needed, as host-local does) `<dataDir>/<network>` and its
   * lock file. With `create: false`, returns undefined when the directory does not exist.
   */
  static open(
    opts: { dataDir: string; network: string; create?: boolean },
  ): ReservationStore | undefined {
    const dir = `${opts.dataDir.replace(/\/+$/, "") || "/"}/${opts.network}`;
    if (opts.create === false) {
      try {
        if (!Deno.statSync(dir).isDirectory) throw new Error("not a directory");
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return undefined;
        throw ioError("use IPAM data directory", dir, e);
      }
    } else {
      try {
        Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
      } catch (e) {
        throw ioError("create IPAM data directory", dir, e);
      }
    }
    let f: Deno.FsFile;
    try {
      // open() follows symlinks (and create: true would create their target): refuse one.
      if (Deno.lstatSync(`${dir}/lock`).isSymlink) throw new Error("it is a symbolic link");
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw ioError("open IPAM lock file", `${dir}/lock`, e);
      }
    }
    try {
      f = Deno.openSync(`${dir}/lock`, { read: true, write: true, create: true, mode: 0o644 });
    } catch (e) {
      throw ioError("open IPAM lock file", `${dir}/lock`, e);
    }
    return new ReservationStore(dir, f);
  }

  /**
   * Runs `fn` holding the exclusive lock (`flock(LOCK_EX)` on `<dir>/lock`, the same lock
   * host-local takes). `fn` is synchronous so no other code of this process interleaves.
   */
  async withLock<T>(fn: () => T): Promise<T> {
    await this.#lockFile.lock(true);
    this.#locked = true;
    try {
      return fn();
    } finally {
      this.#locked = false;
      this.#lockFile.unlockSync();
    }
  }

  /** Closes the lock file (releasing the lock if held). */
  close(): void {
    try {
      this.#lockFile.close();
    } catch {
      // already closed
    }
  }

  #assertLocked(): void {
    if (!this.#locked) throw new Error("IPAM store used without holding its lock");
  }

  /** Reads every reservation file and lists leftover temporary files. Needs the lock. */
  scan(): ScanResult {
    this.#assertLocked();
    const reservations = new Map<string, ScannedReservation>();
    const temps: string[] = [];
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.dir)];
    } catch (e) {
      throw ioError("read IPAM data directory", this.dir, e);
    }
    for (const ent of entries) {
      if (ent.name.startsWith(TEMP_PREFIX)) {
        temps.push(ent.name);
        continue;
      }
      if (!ent.isFile) continue;
      let ip = ent.name;
      let addr: Ip | undefined;
      if (!CANONICAL_V4.test(ip)) {
        if (!ip.includes(":")) continue; // lock, last_reserved_ip.N, foreign files
        addr = tryParseIp(ip);
        if (!addr) continue;
        ip = formatIp(addr);
      }
      let data: Uint8Array;
      try {
        data = Deno.readFileSync(`${this.dir}/${ent.name}`);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue;
        throw ioError("read reservation file", `${this.dir}/${ent.name}`, e);
      }
      reservations.set(ip, new ScannedReservation(ip, data, addr));
    }
    return { reservations, temps };
  }

  /**
   * Reserves `ip` for `who` atomically: writes the record to a temporary file and links it to
   * `<dir>/<ip>`. Returns false when the address is already taken. Needs the lock.
   */
  reserve(ip: string, who: IpamAttachment): boolean {
    this.#assertLocked();
    const tmp = `${this.dir}/${TEMP_PREFIX}${Deno.pid}.${crypto.randomUUID()}`;
    try {
      Deno.writeTextFileSync(tmp, formatReservation(who), { createNew: true, mode: 0o644 });
    } catch (e) {
      // A full disk fails the write after the create: leave no empty file behind (a failed ADD
      // changes nothing, and a runtime retrying it would leave one per attempt).
      if (!(e instanceof Deno.errors.AlreadyExists)) removeQuiet(tmp);
      throw ioError("write reservation", tmp, e);
    }
    crashPoint("after-temp-write");
    try {
      Deno.linkSync(tmp, `${this.dir}/${ip}`);
      crashPoint("after-link");
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return false;
      if (!(e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotSupported)) {
        throw ioError("create reservation", `${this.dir}/${ip}`, e);
      }
      // A filesystem without hard links: rename the complete temporary file into place when
      // the address is free. Not atomic against a writer that ignores the lock, but every
      // writer holds it, so nothing can appear between the check and the rename. (host-local's
      // O_EXCL create + write would leave a zero-length file if killed between the two.)
      return this.#reserveByRename(tmp, ip);
    } finally {
      removeQuiet(tmp);
    }
  }

  #reserveByRename(tmp: string, ip: string): boolean {
    const path = `${this.dir}/${ip}`;
    try {
      Deno.lstatSync(path);
      return false;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw ioError("create reservation", path, e);
    }
    try {
      Deno.renameSync(tmp, path);
      return true;
    } catch (e) {
      throw ioError("create reservation", path, e);
    }
  }

  /** Removes the reservation file of `ip` (absent is fine). Needs the lock. */
  release(ip: string): void {
    this.#assertLocked();
    try {
      Deno.removeSync(`${this.dir}/${ip}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw ioError("remove reservation", `${this.dir}/${ip}`, e);
      }
    }
  }

  /** Removes leftover temporary files (safe under the lock: their writers are dead). */
  removeTemps(names: string[]): void {
    this.#assertLocked();
    for (const n of names) removeQuiet(`${this.dir}/${n}`);
  }

  /** The last address reserved from range set `idx`, or undefined (missing or unparsable). */
  lastReserved(idx: number): Ip | undefined {
    const text = this.readCursor(idx);
    return text === undefined ? undefined : tryParseIp(text.trim());
  }

  /**
   * The raw text of range set `idx`'s cursor file, or undefined when it does not exist or is not
   * a small regular file: a FIFO planted there would block the read, with the lock held, and
   * every ADD and DEL of the node behind it, for good. (It reads as missing, so the next cursor
   * write replaces it.)
   */
  readCursor(idx: number): string | undefined {
    try {
      return readBoundedText(`${this.dir}/${LAST_RESERVED_PREFIX}${idx}`, MAX_CURSOR_BYTES);
    } catch {
      return undefined;
    }
  }

  /** Puts back what readCursor() returned (removing the file when it did not exist). */
  restoreCursor(idx: number, text: string | undefined): void {
    this.#assertLocked();
    if (text === undefined) removeQuiet(`${this.dir}/${LAST_RESERVED_PREFIX}${idx}`);
    else this.setLastReserved(idx, text);
  }

  /**
   * Records the round-robin cursor of range set `idx`. A cursor that is a plain file of its own
   * (regular, one link) is rewritten in place, as host-local does: ext4 flushes a file's data
   * when it is renamed over another one (auto_da_alloc), ~0.3 ms of every ADD. Anything else (no
   * cursor yet, a symlink or a hard link planted at its name) is replaced by a temporary file
   * renamed over it, never followed or written through. A crash in either leaves at worst a
   * temporary file (the next DEL or GC removes it) or a torn cursor, which only moves where the
   * next search starts (an unparsable one reads as missing): the reservation files, not the
   * cursor, decide who holds an address.
   */
  setLastReserved(idx: number, ip: string): void {
    this.#assertLocked();
    const path = `${this.dir}/${LAST_RESERVED_PREFIX}${idx}`;
    try {
      if (!rewriteInPlace(path, ip)) atomicWriteFile(path, ip, { tempPrefix: TEMP_PREFIX });
    } catch (e) {
      throw ioError("write", path, e);
    }
  }
}

/**
 * Overwrites `path` with `text` when it is a regular file with a single link, and the very file
 * that was checked: device and inode are compared once it is open, so a symlink or a hard link
 * swapped in meanwhile is not written through. Returns false, having written nothing, otherwise
 * (also when it cannot be opened for writing).
 */
function rewriteInPlace(path: string, text: string): boolean {
  let before: Deno.FileInfo;
  try {
    before = Deno.lstatSync(path);
  } catch {
    return false; // absent (or unreadable): the caller creates it
  }
  if (!before.isFile || before.nlink !== 1 || before.ino === null) return false;
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { read: true, write: true }); // never blocks on a FIFO swapped in
  } catch {
    return false;
  }
  try {
    const now = f.statSync();
    if (now.ino !== before.ino || now.dev !== before.dev || now.nlink !== 1) return false;
    const data = new TextEncoder().encode(text);
    let off = 0;
    while (off < data.length) off += f.writeSync(data.subarray(off));
    f.truncateSync(data.length); // never to 0 (an address is not empty): no ext4 flush either
    return true;
  } finally {
    f.close();
  }
}

function removeQuiet(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // gone already, or will be cleaned by the next locked operation
  }
}
