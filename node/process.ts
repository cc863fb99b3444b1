/**
 * What /proc says about a process on this node: its state letter, its command line, and whether
 * it is the process we started (alive, not a zombie, its command line still carrying a marker,
 * which guards against pid reuse). The lab's and diagnose's process checks.
 *
 * @module
 */

function stat(pid: number): string {
  return Deno.readTextFileSync(`/proc/${pid}/stat`);
}

/** The state letter in /proc/PID/stat (R, S, D, T, t, Z, X, ...), or undefined when gone. */
export function processState(pid: number): string | undefined {
  try {
    const s = stat(pid);
    return s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/** The command line of a live, non-zombie process (arguments joined by spaces), or undefined. */
export function processCmdline(pid: number): string | undefined {
  const state = processState(pid);
  if (state === undefined || state === "Z" || state === "X") return undefined;
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").join(" ").trim();
  } catch {
    return undefined;
  }
}

/** True when `pid` runs (a stopped one counts) and its command line contains `marker`. */
export function processAlive(pid: number, marker: string): boolean {
  const cmdline = processCmdline(pid);
  return cmdline !== undefined && cmdline.includes(marker);
}
