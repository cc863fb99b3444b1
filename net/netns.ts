/**
 * Network namespaces: create and delete them the way `ip netns add|del` does (a bind mount of
 * the namespace under /run/netns), list them, and run synchronous code inside one.
 *
 * setns() applies to the calling thread only. Deno runs JS and synchronous FFI on the main
 * thread, so everything here is synchronous; async work started inside `withNetns()` would run
 * on other threads, in the original namespace.
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import * as L from "./libc.ts";
import type { NetnsRef } from "./types.ts";

/** Where named namespaces live (iproute2's NETNS_RUN_DIR). */
export const NETNS_RUN_DIR = "/run/netns";

const NAME_RE = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,254}$/;

function checkName(name: string, what: string): void {
  if (typeof name !== "string" || !NAME_RE.test(name) || name === "." || name === "..") {
    throw new TypeError(
      `Cannot ${what} network namespace "${name}": a name is letters, digits, "_", "." and "-" (no "/")`,
    );
  }
}

/**
 * The file that stands for a namespace: a path is used as is, a pid means /proc/PID/ns/net,
 * a bare name means /run/netns/NAME.
 */
export function netnsPath(ref: NetnsRef): string {
  if (typeof ref === "number") {
    if (!Number.isInteger(ref) || ref <= 0) {
      throw new TypeError(`Cannot use pid ${ref} as a network namespace`);
    }
    return `/proc/${ref}/ns/net`;
  }
  if (ref.includes("/")) return ref;
  checkName(ref, "use");
  return `${NETNS_RUN_DIR}/${ref}`;
}

/** Opens a namespace file (O_RDONLY|O_CLOEXEC) and returns the fd; the caller closes it. */
export function openNetnsFd(ref: NetnsRef): number {
  const path = netnsPath(ref);
  const fd = L.libc().open(L.cstr(path), L.O_RDONLY | L.O_CLOEXEC, 0);
  if (fd < 0) throw new NetlinkError(`Cannot open network namespace ${path}`, L.errno());
  return fd;
}

/** Closes an fd from openNetnsFd(). */
export function closeFd(fd: number): void {
  L.libc().close(fd);
}

function selfNetnsFd(): number {
  const fd = L.libc().open(L.cstr("/proc/thread-self/ns/net"), L.O_RDONLY | L.O_CLOEXEC, 0);
  if (fd < 0) throw new NetlinkError("Cannot open the current network namespace", L.errno());
  return fd;
}

function restore(saved: number): void {
  if (L.libc().setns(saved, L.CLONE_NEWNET) !== 0) {
    const e = L.errno();
    // The main thread would stay in the wrong namespace: nothing afterwards could be trusted.
    throw new NetlinkError(
      "Cannot switch back to the original network namespace (the process must stop)",
      e,
    );
  }
}

/**
 * Runs `fn` with the main thread inside namespace `ref`, then switches back (also on throw).
 * `fn` must be synchronous: a returned promise is refused (its awaits would run elsewhere).
 */
export function withNetns<T>(ref: NetnsRef, fn: () => T): T {
  const c = L.libc();
  const target = openNetnsFd(ref);
  let saved = -1;
  try {
    saved = selfNetnsFd();
    if (c.setns(target, L.CLONE_NEWNET) !== 0) {
      throw new NetlinkError(`Cannot enter network namespace ${netnsPath(ref)}`, L.errno());
    }
    try {
      const out = fn();
      if (out && typeof (out as { then?: unknown }).then === "function") {
        throw new TypeError(
          "withNetns() runs synchronous functions only: async work would leave the namespace",
        );
      }
      return out;
    } finally {
      restore(saved);
    }
  } finally {
    c.close(target);
    if (saved >= 0) c.close(saved);
  }
}

let runDirShared = false;

/** mkdir /run/netns and make it a shared mount, like iproute2 (so the bind mounts propagate). */
function prepareRunDir(): void {
  Deno.mkdirSync(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
  if (runDirShared) return;
  const c = L.libcNsAdmin();
  const dir = L.cstr(NETNS_RUN_DIR);
  const none = L.cstr("none");
  const empty = L.cstr("");
  let madeMount = false;
  while (c.mount(empty, dir, none, BigInt(L.MS_SHARED | L.MS_REC), null) !== 0) {
    const e = L.errno();
    if (e !== L.EINVAL || madeMount) {
      throw new NetlinkError(`Cannot make ${NETNS_RUN_DIR} a shared mount`, e);
    }
    // Not a mount point yet: bind it onto itself, then try again.
    if (c.mount(dir, dir, none, BigInt(L.MS_BIND | L.MS_REC), null) !== 0) {
      throw new NetlinkError(`Cannot bind-mount ${NETNS_RUN_DIR} onto itself`, L.errno());
    }
    madeMount = true;
  }
  runDirShared = true;
}

/**
 * `ip netns add NAME`: creates a new network namespace pinned by a bind mount on
 * /run/netns/NAME. Returns its path. Throws NetlinkError EEXIST when the name is taken.
 */
export function netnsAdd(name: string): string {
  checkName(name, "create");
  const c = L.libc();
  const path = `${NETNS_RUN_DIR}/${name}`;
  prepareRunDir();
  const fd = c.open(L.cstr(path), L.O_RDONLY | L.O_CREAT | L.O_EXCL | L.O_CLOEXEC, 0);
  if (fd < 0) throw new NetlinkError(`Cannot create network namespace ${name}`, L.errno());
  c.close(fd);
  let saved = -1;
  try {
    saved = selfNetnsFd();
    if (L.libcNsAdmin().unshare(L.CLONE_NEWNET) !== 0) {
      throw new NetlinkError(`Cannot create network namespace ${name} (unshare)`, L.errno());
    }
    try {
      const rc = L.libcNsAdmin().mount(
        L.cstr("/proc/thread-self/ns/net"),
        L.cstr(path),
        L.cstr("none"),
        BigInt(L.MS_BIND),
        null,
      );
      if (rc !== 0) {
        throw new NetlinkError(`Cannot bind-mount network namespace ${name} on ${path}`, L.errno());
      }
    } finally {
      restore(saved);
    }
  } catch (e) {
    try {
      Deno.removeSync(path);
    } catch { /* keep the first error */ }
    throw e;
  } finally {
    if (saved >= 0) c.close(saved);
  }
  return path;
}

/**
 * `ip netns del NAME`: detaches the bind mount and removes the file. The namespace itself
 * goes away when no process or socket uses it any more. Throws NetlinkError ENOENT when absent.
 */
export function netnsDel(name: string): void {
  checkName(name, "delete");
  const path = `${NETNS_RUN_DIR}/${name}`;
  const umountRc = L.libcNsAdmin().umount2(L.cstr(path), L.MNT_DETACH);
  const umountErr = umountRc === 0 ? 0 : L.errno();
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NetlinkError(`Cannot delete network namespace ${name}`, 2);
    }
    throw new Error(`Cannot delete network namespace ${name}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (umountErr && umountErr !== L.EINVAL) {
    throw new NetlinkError(`Cannot unmount network namespace ${name}`, umountErr);
  }
}

/** `ip netns list`: the names under /run/netns, sorted. */
export function netnsList(): string[] {
  try {
    return [...Deno.readDirSync(NETNS_RUN_DIR)].filter((e) => e.isFile).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * True when a namespace file exists (`ip netns list | grep NAME`): a bare name means
 * /run/netns/NAME (a bad name throws TypeError), a path (anything with "/") is used as is. A
 * namespace file is a regular file (nsfs); a directory or a missing path is not one.
 */
export function netnsExists(ref: string): boolean {
  const path = netnsPath(ref);
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * True when `path` is the network namespace this process runs in (same device and inode as
 * /proc/self/ns/net); false when it is another one, missing, or there is no /proc to compare.
 */
export function isOwnNetns(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    const self = Deno.statSync("/proc/self/ns/net");
    return st.ino === self.ino && st.dev === self.dev;
  } catch {
    return false;
  }
}
