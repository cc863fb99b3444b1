/**
 * `struct inotify_event` records, bytes only (no FFI, no I/O): what one read() of an inotify
 * descriptor returns, parsed into typed values (inotify(7)).
 *
 * ```
 * struct inotify_event {
 *   int      wd;      // watch descriptor
 *   uint32_t mask;    // IN_* bits
 *   uint32_t cookie;  // pairs IN_MOVED_FROM with IN_MOVED_TO
 *   uint32_t len;     // bytes of name[], NUL-padded (0 for the watched directory itself)
 *   char     name[];
 * };
 * ```
 *
 * @module
 */

/** IN_* bits of `inotify_event.mask` and inotify_add_watch()'s mask (`<sys/inotify.h>`). */
export const IN_ACCESS = 0x1;
export const IN_MODIFY = 0x2;
export const IN_ATTRIB = 0x4;
export const IN_CLOSE_WRITE = 0x8;
export const IN_CLOSE_NOWRITE = 0x10;
export const IN_OPEN = 0x20;
export const IN_MOVED_FROM = 0x40;
export const IN_MOVED_TO = 0x80;
export const IN_CREATE = 0x100;
export const IN_DELETE = 0x200;
export const IN_DELETE_SELF = 0x400;
export const IN_MOVE_SELF = 0x800;
export const IN_UNMOUNT = 0x2000;
export const IN_Q_OVERFLOW = 0x4000;
export const IN_IGNORED = 0x8000;
export const IN_ONLYDIR = 0x1000000;
export const IN_DONT_FOLLOW = 0x2000000;
export const IN_EXCL_UNLINK = 0x4000000;
export const IN_ISDIR = 0x40000000;

/** The fixed part of a record: wd, mask, cookie, len. */
export const INOTIFY_EVENT_HEADER = 16;

/** One `struct inotify_event`. */
export interface InotifyRecord {
  /** The watch descriptor (-1 with IN_Q_OVERFLOW). */
  wd: number;
  mask: number;
  cookie: number;
  /** The entry's name in the watched directory; "" for the directory itself. */
  name: string;
}

/** A read of an inotify descriptor that is not a sequence of whole records. */
export class InotifyParseError extends SyntaxError {
  /** Where in the buffer the bad record starts. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = "InotifyParseError";
    this.offset = offset;
  }
}

const dec = new TextDecoder();

/**
 * Parses the records of one read() of an inotify descriptor (host byte order). The kernel
 * returns only whole records; a short one is refused with InotifyParseError rather than read
 * past its end. A name is cut at its first NUL (the kernel pads it to a multiple of 4 or 16).
 *
 * @example
 * ```ts
 * import { IN_CREATE, parseInotifyEvents } from "./inotify_event.ts";
 * const b = new Uint8Array(20);
 * const v = new DataView(b.buffer);
 * v.setInt32(0, 1, true);
 * v.setUint32(4, IN_CREATE, true);
 * v.setUint32(12, 4, true);
 * b.set([0x78], 16); // "x", NUL-padded
 * const [ev] = parseInotifyEvents(b);
 * if (ev?.name !== "x" || ev.mask !== IN_CREATE) throw new Error("parse");
 * ```
 */
export function parseInotifyEvents(buf: Uint8Array): InotifyRecord[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const le = littleEndianHost;
  const out: InotifyRecord[] = [];
  let off = 0;
  while (off < buf.byteLength) {
    if (buf.byteLength - off < INOTIFY_EVENT_HEADER) {
      throw new InotifyParseError(
        `Cannot parse inotify event at byte ${off}: ${buf.byteLength - off} bytes left, ` +
          `the header needs ${INOTIFY_EVENT_HEADER}`,
        off,
      );
    }
    const len = v.getUint32(off + 12, le);
    const end = off + INOTIFY_EVENT_HEADER + len;
    if (end > buf.byteLength) {
      throw new InotifyParseError(
        `Cannot parse inotify event at byte ${off}: its name is ${len} bytes, ` +
          `only ${buf.byteLength - off - INOTIFY_EVENT_HEADER} are left`,
        off,
      );
    }
    const raw = buf.subarray(off + INOTIFY_EVENT_HEADER, end);
    const nul = raw.indexOf(0);
    out.push({
      wd: v.getInt32(off, le),
      mask: v.getUint32(off + 4, le),
      cookie: v.getUint32(off + 8, le),
      name: dec.decode(nul < 0 ? raw : raw.subarray(0, nul)),
    });
    off = end;
  }
  return out;
}

/** What a change is, for callers that do not care about inotify's bits. */
export type DirEventKind = "create" | "modify" | "remove" | "rename" | "overflow" | "other";

/**
 * The kind of a record's mask: IN_Q_OVERFLOW is "overflow" (events were lost: rescan),
 * IN_CREATE "create", IN_MODIFY/IN_ATTRIB/IN_CLOSE_WRITE "modify", IN_DELETE/IN_DELETE_SELF
 * "remove", IN_MOVED_FROM/IN_MOVED_TO/IN_MOVE_SELF "rename", anything else (IN_IGNORED,
 * IN_UNMOUNT, reads) "other".
 */
export function inotifyKind(mask: number): DirEventKind {
  if (mask & IN_Q_OVERFLOW) return "overflow";
  if (mask & IN_CREATE) return "create";
  if (mask & (IN_DELETE | IN_DELETE_SELF)) return "remove";
  if (mask & (IN_MOVED_FROM | IN_MOVED_TO | IN_MOVE_SELF)) return "rename";
  if (mask & (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)) return "modify";
  return "other";
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
