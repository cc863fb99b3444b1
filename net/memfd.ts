/**
 * Text handed to a child process as a file that exists only in memory: memfd_create(2), named
 * for the child as `/proc/PID/fd/N`. The kernel frees it with this process's last descriptor, so
 * a process killed mid-call (SIGKILL: no `finally` runs) leaves nothing on disk, where a
 * temporary file would stay.
 *
 * @module
 */
import * as L from "./libc.ts";

/** A memory file holding some text, open in this process. */
export interface MemoryFile {
  /** The path another process opens to read it: `/proc/<this pid>/fd/<fd>`. */
  readonly path: string;
  /** Closes it (the memory is freed once no process holds it). */
  close(): void;
}

/**
 * A memory file named `name` (shown in `ls -l /proc/PID/fd`) holding `text`, or undefined when
 * this kernel gives none (memfd_create needs Linux 3.17; a seccomp filter may refuse it): the
 * caller then falls back to a file of its own.
 *
 * @example
 * ```ts ignore
 * const f = memoryFileWithText("skein-nft", "add table inet skein\n");
 * // new Deno.Command("nft", { args: ["-f", f.path] }).outputSync(); f.close();
 * ```
 */
export function memoryFileWithText(name: string, text: string): MemoryFile | undefined {
  const fd = L.libc().memfd_create(L.cstr(name), L.MFD_CLOEXEC);
  if (fd < 0) return undefined;
  const close = () => L.libc().close(fd);
  const own = `/proc/self/fd/${fd}`, path = `/proc/${Deno.pid}/fd/${fd}`;
  try {
    // Opening the /proc link opens the same memory file again, at offset 0.
    Deno.writeTextFileSync(own, text);
    // Another process finds it by pid; where /proc counts pids in another namespace than ours,
    // that path is not this file (or not ours): no memory file then.
    if (!sameFile(own, path)) {
      close();
      return undefined;
    }
  } catch (e) {
    close();
    throw e;
  }
  let open = true;
  return {
    path,
    close() {
      if (open) close();
      open = false;
    },
  };
}

/** Whether two paths name the same file (device and inode); false when either is missing. */
function sameFile(a: string, b: string): boolean {
  try {
    const x = Deno.statSync(a), y = Deno.statSync(b);
    return x.dev === y.dev && x.ino !== null && x.ino === y.ino;
  } catch {
    return false;
  }
}
