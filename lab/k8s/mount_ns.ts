/**
 * A lab node's own file system view: a persistent private mount namespace, pinned by a bind
 * mount of its nsfs file under the lab's state dir (as `ip netns` pins network namespaces), in
 * which the host paths a real node has to itself are bind-mounted from per-node directories
 * (`<node dir>/fs<path>`). containerd and kubelet run in it (`nsenter --mount=PIN`), and so
 * does everything they start: the DaemonSet pod's hostPath volumes, the CNI plugins, the
 * kubelet's own bind mounts and pod volumes. Mount propagation is "slave": what the host mounts
 * later (a new /run/netns/<ns>) shows up in the node, nothing the node mounts reaches the host.
 *
 * @module
 */
import { runCommand } from "../_proc.ts";
import { bindMount, makeMountPrivate, parseMountInfo, unmount } from "../../net/mount.ts";
import { missingPaths } from "./host_state.ts";
import { nodeHostPath } from "./types.ts";

/** One path a node has to itself; `file` for a file (bind-mounted over a file). */
export interface NodePath {
  path: string;
  file?: boolean;
}

/**
 * The node's own paths: the CNI conf/bin/cache dirs, skein's state, kubelet's and containerd's
 * dirs and configs, the pods' logs, the iptables lock (iptables is per network namespace),
 * skein's module tree (/usr/local/lib/skein, which the DaemonSet's init container fills).
 * /run/skein comes last: it covers the lab's state dir (/run/skein/lab), where the others'
 * sources are.
 */
export const NODE_PATHS: readonly NodePath[] = [
  { path: "/etc/cni/net.d" },
  { path: "/opt/cni/bin" },
  { path: "/var/lib/cni" },
  { path: "/var/lib/skein" },
  { path: "/var/lib/kubelet" },
  { path: "/var/log/pods" },
  { path: "/var/log/containers" },
  { path: "/etc/containerd" },
  { path: "/var/lib/containerd" },
  { path: "/run/containerd" },
  { path: "/run/xtables.lock", file: true },
  // The DaemonSet's init container copies a launcher build's module tree here (hostPath): per
  // node, never over the host's own installation.
  { path: "/usr/local/lib/skein" },
  { path: "/run/skein" },
];

/** The directory of a lab's mount-namespace pins (a private bind mount of itself). */
export function mountNsDir(stateDir: string): string {
  return `${stateDir}/mnt`;
}

const SAFE_PATH = /^\/[A-Za-z0-9_./-]+$/;

/** Single-quoted for sh (paths are checked to hold no quote). */
function q(path: string): string {
  if (!SAFE_PATH.test(path)) throw new TypeError(`Cannot use path ${path} in a node's mounts`);
  return `'${path}'`;
}

/**
 * The shell script run inside a new node mount namespace: drop the copies of the lab's pins
 * (the other nodes' namespaces), then bind each node path from its per-node source.
 */
export function mountScript(o: { pinDir: string; dir: string }, paths = NODE_PATHS): string {
  return [
    "set -e",
    `umount -l ${q(o.pinDir)}`,
    ...paths.map((p) => `mount --bind ${q(nodeHostPath(o, p.path))} ${q(p.path)}`),
  ].join("\n");
}

/**
 * Makes the per-node sources of NODE_PATHS (empty dirs and files under `<dir>/fs`) and the
 * host mount points that are missing; `record` is told each host path before it is created
 * (so `lab down` removes it again).
 */
export function prepareNodePaths(
  o: { dir: string },
  record: (hostPath: string) => void,
  paths = NODE_PATHS,
): void {
  for (const p of paths) {
    const src = nodeHostPath(o, p.path);
    if (p.file) {
      Deno.mkdirSync(src.slice(0, src.lastIndexOf("/")), { recursive: true });
      Deno.writeTextFileSync(src, "", { append: true });
    } else Deno.mkdirSync(src, { recursive: true });
    const missing = missingPaths(p.path);
    for (const m of missing) record(m);
    for (const m of missing) {
      if (p.file && m === p.path) Deno.writeTextFileSync(m, "", { createNew: true });
      else Deno.mkdirSync(m);
    }
  }
}

/**
 * Makes `pinDir` a private mount of itself (`mount --bind D D; mount --make-private D`): a mount
 * namespace can only be pinned on a mount that does not propagate into it. Returns false when it
 * already was one.
 */
export function preparePinDir(pinDir: string): boolean {
  Deno.mkdirSync(pinDir, { recursive: true });
  try {
    makeMountPrivate(pinDir);
    return false;
  } catch {
    // Not a mount point yet.
  }
  bindMount(pinDir, pinDir);
  makeMountPrivate(pinDir);
  return true;
}

/**
 * Creates node `o`'s mount namespace pinned at `pin` with its bind mounts
 * (`unshare --mount=PIN --propagation slave sh -c SCRIPT`).
 */
export async function createNodeMountNs(
  o: { pin: string; pinDir: string; dir: string },
  paths = NODE_PATHS,
): Promise<void> {
  Deno.writeTextFileSync(o.pin, "");
  const r = await runCommand([
    "unshare",
    `--mount=${o.pin}`,
    "--propagation",
    "slave",
    "sh",
    "-c",
    mountScript(o, paths),
  ]);
  if (!r.success) {
    throw new Error(`Cannot make the node's mount namespace ${o.pin}: ${r.stderr.trim()}`);
  }
}

/**
 * The network namespaces CRI made inside a node (mounted at /run/netns/cni-... or
 * /var/run/netns/cni-... in the node's mount namespace): their names.
 */
export async function criNetnsInNode(pin: string): Promise<string[]> {
  const r = await runCommand(["nsenter", `--mount=${pin}`, "cat", "/proc/self/mountinfo"]);
  if (!r.success) return [];
  const names = new Set<string>();
  for (const m of parseMountInfo(r.stdout)) {
    const x = /^(?:\/var)?\/run\/netns\/(cni-[A-Za-z0-9-]+)$/.exec(m.mountPoint);
    if (x) names.add(x[1]!);
  }
  return [...names];
}

/** Unpins a node's mount namespace (`umount PIN; rm PIN`); true when it was pinned. */
export function removeMountNsPin(pin: string): boolean {
  const was = unmount(pin, { detach: true });
  try {
    Deno.removeSync(pin);
  } catch { /* gone */ }
  return was;
}

/** The mount namespace inode a pin (or /proc/PID/ns/mnt) stands for; undefined when gone. */
export function mountNsId(path: string): number | undefined {
  try {
    return Deno.statSync(path).ino ?? undefined;
  } catch {
    return undefined;
  }
}

/** Pids of the processes in the mount namespace with inode `id` (other than this one). */
export function pidsInMountNs(id: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      if (Deno.statSync(`/proc/${e.name}/ns/mnt`).ino === id) out.push(Number(e.name));
    } catch { /* gone, or a kernel thread */ }
  }
  return out;
}
