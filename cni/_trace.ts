/**
 * Timing breakdown of one CNI call for profiling: `SKEIN_TRACE=1` makes the plugin print, on
 * stderr, the time since process start at each mark and the step since the previous one.
 * Off by default; when off, a mark is one boolean test.
 *
 * @module
 */

const enabled = Deno.env.get("SKEIN_TRACE") === "1";
const marks: [string, number][] = [];

/** Records that the call reached `label` (no-op unless SKEIN_TRACE=1). */
export function mark(label: string): void {
  if (enabled) marks.push([label, performance.now()]);
}

/** Prints the recorded marks to stderr (no-op unless SKEIN_TRACE=1). */
export function traceFlush(): void {
  if (!enabled || !marks.length) return;
  // performance.now() counts from the runtime's start; the time before it (exec, V8 set-up)
  // is the difference to the wall time the caller measures. The last column is the wall clock
  // (ms since the epoch), to line up a plugin's marks with the daemon's
  // (tests/bench/cni_profile.ts).
  let prev = 0;
  const lines = marks.map(([label, t]) => {
    const at = (performance.timeOrigin + t).toFixed(2);
    const line = `skein trace ${t.toFixed(1).padStart(7)} ms  +${
      (t - prev).toFixed(1)
    }  ${label}  @${at}`;
    prev = t;
    return line;
  });
  marks.length = 0;
  const data = new TextEncoder().encode(lines.join("\n") + "\n");
  let off = 0;
  while (off < data.length) off += Deno.stderr.writeSync(data.subarray(off));
}
