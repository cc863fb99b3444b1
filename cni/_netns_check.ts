/**
 * CNI_NETNS checks shared by ADD and CHECK.
 *
 * @module
 */
import { CniCode, CniError } from "./errors.ts";
import { isOwnNetns, netnsExists, withNetns } from "../net/netns.ts";

/**
 * True when `path` is the namespace the plugin runs in: `hostNetns` when given (the daemon
 * serving a plugin from its node's namespace), else this process's own. With `hostNetns`, this
 * process's own namespace counts too: it is never a pod's.
 */
function isPluginNetns(path: string, hostNetns: string | undefined): boolean {
  if (isOwnNetns(path)) return true;
  if (hostNetns === undefined) return false;
  try {
    const a = Deno.statSync(path);
    const b = Deno.statSync(hostNetns);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/**
 * True when `path` is the network namespace of PID 1: the node's root namespace, which is never
 * a pod's. A plugin running in another namespace (a lab node, a test) must not wire, or on DEL
 * take down, the machine's own interfaces because CNI_NETNS says /proc/1/ns/net.
 */
function isInitNetns(path: string): boolean {
  try {
    const a = Deno.statSync(path);
    const b = Deno.statSync("/proc/1/ns/net");
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/**
 * Throws CniError code 4 (naming CNI_NETNS) when the path does not exist or is the plugin's
 * own network namespace or PID 1's (configuring the host as if it were a pod). `path` is how this process
 * reaches CNI_NETNS, `shown` the variable's value for messages (they differ in the daemon);
 * `hostNetns` the namespace the plugin runs in when it is not this process's.
 */
export function assertPodNetns(path: string, hostNetns?: string, shown = path): void {
  const fail = (msg: string, details: string) =>
    new CniError(CniCode.InvalidEnv, msg, details.replaceAll(path, shown));
  if (!path.startsWith("/")) {
    // A relative path would resolve against the plugin's working directory (and "." or a
    // bare word would be read as a name under /run/netns).
    throw fail(
      `failed to open netns "${shown}"`,
      "CNI_NETNS: must be an absolute path to a network namespace",
    );
  }
  try {
    Deno.statSync(path);
  } catch (e) {
    throw fail(`failed to open netns "${shown}"`, `CNI_NETNS: ${(e as Error).message}`);
  }
  if (isPluginNetns(path, hostNetns)) {
    throw fail(
      "plugin's netns and netns from CNI_NETNS should not be the same",
      `CNI_NETNS "${shown}" is the namespace the plugin runs in`,
    );
  }
  if (isInitNetns(path)) {
    throw fail(
      `CNI_NETNS "${shown}" is the node's root network namespace`,
      "CNI_NETNS: the network namespace of PID 1 is never a pod's",
    );
  }
  // A regular file, a directory or another kind of namespace (mnt, pid): setns refuses it.
  // Entering and leaving costs two syscalls and turns a late "Cannot enter" (code 100) into
  // the runtime's error (code 4) before anything is touched.
  try {
    withNetns(path, () => {});
  } catch (e) {
    throw fail(
      `failed to open netns "${shown}"`,
      `CNI_NETNS: not a network namespace: ${(e as Error).message}`,
    );
  }
}

/**
 * True when DEL may touch the pod side through `path`: an absolute path that exists and is not
 * the plugin's own namespace nor PID 1's. DEL tolerates a vanished namespace; a relative path (which
 * net/ would read as a name under /run/netns) or the host's own namespace (where CNI_IFNAME
 * could name the host's uplink, or "lo" in loopback mode) is never entered.
 */
export function podNetnsUsable(path: string, hostNetns?: string): boolean {
  return path.startsWith("/") && netnsExists(path) && !isPluginNetns(path, hostNetns) &&
    !isInitNetns(path);
}
