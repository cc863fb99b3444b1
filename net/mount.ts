/**
 * Mounts in this process's mount namespace (`mount --bind`, `mount --make-private`, `umount`)
 * and the mount table of any process (/proc/PID/mountinfo), for the lab's per-node mount
 * namespaces. Mounts inside another mount namespace cannot be made from here (setns into a
 * mount namespace is refused to a multi-threaded process): run `nsenter --mount=FILE` for those.
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import * as L from "./libc.ts";

/** `mount --bind SRC DST` (`--rbind` with `recursive`). Throws NetlinkError with the errno. */
export function bindMount(src: string, dst: string, opts: { recursive?: boolean } = {}): void {
  const flags = L.MS_BIND | (opts.recursive ? L.MS_REC : 0);
  const rc = L.libcNsAdmin().mount(L.cstr(src), L.cstr(dst), L.cstr("none"), BigInt(flags), null);
  if (rc !== 0) throw new NetlinkError(`Cannot bind-mount ${src} on ${dst}`, L.errno());
}

/** `mount --make-private PATH`: mounts under it no longer propagate to or from peers. */
export function makeMountPrivate(path: string): void {
  const rc = L.libcNsAdmin().mount(
    L.cstr(""),
    L.cstr(path),
    L.cstr("none"),
    BigInt(L.MS_PRIVATE),
    null,
  );
  if (rc !== 0) throw new NetlinkError(`Cannot make ${path} a private mount`, L.errno());
}

/**
 * `umount [-l] PATH`. Returns false when PATH is not a mount point (or does not exist), true
 * when it unmounted it; other failures throw NetlinkError.
 */
export function unmount(path: string, opts: { detach?: boolean } = {}): boolean {
  const rc = L.libcNsAdmin().umount2(L.cstr(path), opts.detach ? L.MNT_DETACH : 0);
  if (rc === 0) return true;
  const e = L.errno();
  if (e === L.EINVAL || e === 2 /* ENOENT */) return false;
  throw new NetlinkError(`Cannot unmount ${path}`, e);
}

/** One line of /proc/PID/mountinfo. */
export interface MountEntry {
  /** Where it is mounted ("/run/netns/n1"). */
  mountPoint: string;
  /** The path inside its file system that is mounted there ("/" for a whole one). */
  root: string;
  fsType: string;
  source: string;
  /** Optional fields: "shared:1", "master:2" (none: private). */
  propagation: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/PID/mountinfo text (`findmnt -r`). */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const [left, right] = line.split(" - ");
    if (right === undefined) continue;
    const f = left!.split(" ");
    const r = right.split(" ");
    if (f.length < 6 || r.length < 2) continue;
    out.push({
      mountPoint: unescape(f[4]!),
      root: unescape(f[3]!),
      fsType: r[0]!,
      source: unescape(r[1]!),
      propagation: f.slice(6),
    });
  }
  return out;
}

/** The mount table of process `pid` (default: this one), i.e. of its mount namespace. */
export function mountTable(pid: number | "self" = "self"): MountEntry[] {
  return parseMountInfo(Deno.readTextFileSync(`/proc/${pid}/mountinfo`));
}
