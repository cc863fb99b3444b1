/**
 * Reading a small file that someone else may have planted or grown: only a regular file of at
 * most `maxBytes` is read. A FIFO, device, socket or directory is refused from its stat() without
 * opening it (opening a FIFO waits for a writer; reading /dev/zero never ends), and the limit is
 * checked again on the open file and while reading, so a file swapped or grown meanwhile is
 * refused too.
 *
 * @module
 */

/** A file that is not a regular file of at most the allowed size (nothing was read). */
export class FileRefusedError extends Error {
  /** The file. */
  readonly path: string;
  /** Why, without the path: "it is a FIFO, not a regular file". */
  readonly reason: string;
  /**
   * Creates the error.
   * @param path the file
   * @param reason why it was refused
   */
  constructor(path: string, reason: string) {
    super(`Cannot read ${path}: ${reason}`);
    this.name = "FileRefusedError";
    this.path = path;
    this.reason = reason;
  }
}

function fileKind(info: Deno.FileInfo): string | undefined {
  if (info.isFile) return undefined;
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

function check(path: string, info: Deno.FileInfo, maxBytes: number): void {
  const kind = fileKind(info);
  if (kind) throw new FileRefusedError(path, `it is ${kind}, not a regular file`);
  if (info.size > maxBytes) {
    throw new FileRefusedError(path, `it is ${info.size} bytes, more than the ${maxBytes} allowed`);
  }
}

/**
 * The bytes of the regular file `path` (symlinks followed) when it holds at most `maxBytes`.
 * Throws FileRefusedError for anything else, and the `Deno.errors.*` of stat/open/read (NotFound
 * for a missing file).
 *
 * @example
 * ```ts
 * import { readBoundedText } from "./bounded_read.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/mac`, "0a:58:0a:f4:01:01\n");
 * readBoundedText(`${dir}/mac`, 4096); // "0a:58:0a:f4:01:01\n"
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function readBoundedFile(path: string, maxBytes: number): Uint8Array {
  check(path, Deno.statSync(path), maxBytes);
  using f = Deno.openSync(path, { read: true });
  check(path, f.statSync(), maxBytes);
  const buf = new Uint8Array(maxBytes + 1);
  let n = 0;
  while (n < buf.length) {
    const r = f.readSync(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  if (n > maxBytes) {
    throw new FileRefusedError(path, `it grew past the ${maxBytes} bytes allowed while being read`);
  }
  return buf.subarray(0, n);
}

/** readBoundedFile() decoded as UTF-8. */
export function readBoundedText(path: string, maxBytes: number): string {
  return new TextDecoder().decode(readBoundedFile(path, maxBytes));
}
