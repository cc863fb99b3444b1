/**
 * Scheduling priority for the IPAM critical section. Every ADD and DEL of a node serializes on
 * the IPAM lock; when many plugin processes start at once (a node coming up, a burst of pods)
 * and share few CPUs, the holder gets a small share of CPU and everyone queues behind it. The
 * holder therefore runs at a raised priority (`setpriority(2)` on the calling thread, like
 * `renice -n -10`) for the IPAM call only, then goes back to the priority it had.
 * Without the privilege (not root, no CAP_SYS_NICE) it silently runs unchanged.
 *
 * @module
 */

import { libc } from "../net/libc.ts";

const PRIO_PROCESS = 0;
/** The nice value the IPAM section runs at. */
const BOOSTED_NICE = -10;

type Priority = Pick<ReturnType<typeof libc>, "getpriority" | "setpriority">;

let lib: Priority | null | undefined;

/**
 * net/libc.ts's functions, which the plugin has loaded by now for its netlink handles: a
 * dlopen of its own would cost the plugin process ~0.3 ms (Deno compiles a trampoline per
 * bound symbol).
 */
function priority(): Priority | null {
  if (lib === undefined) {
    try {
      lib = libc();
    } catch {
      lib = null; // no FFI permission or no glibc: run unboosted
    }
  }
  return lib;
}

/**
 * Runs `fn` with the calling thread's nice value lowered to -10 (who = 0 with PRIO_PROCESS is
 * the calling thread on Linux), restoring the previous value afterwards, also on failure.
 */
export async function withRaisedPriority<T>(fn: () => Promise<T>): Promise<T> {
  const c = priority();
  const before = c ? c.getpriority(PRIO_PROCESS, 0) : 0;
  const raised = c !== null && before > BOOSTED_NICE &&
    c.setpriority(PRIO_PROCESS, 0, BOOSTED_NICE) === 0;
  try {
    return await fn();
  } finally {
    if (raised) c!.setpriority(PRIO_PROCESS, 0, before);
  }
}
