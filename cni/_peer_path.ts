/**
 * How the daemon reaches a file named by the plugin process it serves (CNI_NETNS): through
 * `/proc/<pid>/root`, the plugin's own mount namespace, with symlinks resolved inside that root.
 *
 * @module
 */

/** Symlinks followed before giving up (Linux's MAXSYMLINKS). */
const MAX_LINKS = 40;

function readLinkOrUndefined(path: string): string | undefined {
  try {
    return Deno.lstatSync(path).isSymlink ? Deno.readLinkSync(path) : undefined;
  } catch {
    return undefined; // missing or unreadable: the later open reports it
  }
}

function parts(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

/**
 * `path` (absolute, as a process whose root is `root` sees it) as a path under `root`, every
 * symlink resolved inside `root` (like openat2's RESOLVE_IN_ROOT). The kernel resolves an
 * absolute symlink met under `/proc/<pid>/root` against the *caller's* root, so the plain
 * `/proc/<pid>/root/var/run/netns/x` escapes to the caller's /run when /var/run -> /run
 * (containerd's CRI names pod namespaces /var/run/netns/cni-...). A component that does not
 * exist ends the resolution (the rest is kept as is); a symlink loop keeps the path unresolved
 * past the limit, so opening it fails with ELOOP as it should.
 */
export function resolveInRoot(
  root: string,
  path: string,
  readLink: (p: string) => string | undefined = readLinkOrUndefined,
): string {
  const todo = parts(path);
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const c = todo.shift()!;
    if (c === "..") {
      done.pop(); // ".." at the root stays at the root
      continue;
    }
    const target = links < MAX_LINKS ? readLink(`${root}/${[...done, c].join("/")}`) : undefined;
    if (target === undefined) {
      done.push(c);
      continue;
    }
    links++;
    if (target.startsWith("/")) done.length = 0;
    todo.unshift(...parts(target));
  }
  return `${root}/${done.join("/")}`;
}

/**
 * The path through which this process reaches CNI_NETNS: itself in-process; in the daemon
 * (`peerPid` set), the same file as the plugin process sees it: `/proc/self/...` as
 * `/proc/<pid>/...`, anything else under `/proc/<pid>/root` with symlinks resolved in it.
 * Relative paths stay as they are (refused later).
 */
export function podNetnsPath(netns: string, peerPid: number | undefined): string {
  if (peerPid === undefined || !netns.startsWith("/")) return netns;
  const self = /^\/proc\/(self|thread-self)(\/|$)/.exec(netns);
  if (self) return `/proc/${peerPid}${netns.slice("/proc/".length + self[1]!.length)}`;
  return resolveInRoot(`/proc/${peerPid}/root`, netns);
}
