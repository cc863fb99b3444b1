/**
 * Coalescing of requests for one synchronous task (the daemon's event-triggered reconcile).
 *
 * The first request schedules a run on the next macrotask (or after `delayMs`); every request
 * until that run starts joins it, so a burst delivered together (5,000 lease events from one
 * datastore read) costs one run, not 5,000, and no fixed debounce is paid. A request made while
 * the task runs (from inside it) is remembered and runs right after: never two at once, never a
 * request lost. After a run that took d ms the next one starts no sooner than `spacing` × d ms
 * after it ended (at most `maxGapMs`), so a steady trickle of events cannot keep the task
 * running back to back.
 *
 * @module
 */

/** Options of {@linkcode Coalescer}. */
export interface CoalescerOptions {
  /** Wait after the first request before running (ms, default 0: the next macrotask). */
  delayMs?: number;
  /** Pause after a run, as a multiple of its duration (default 1; 0 = none). */
  spacing?: number;
  /** Upper bound of that pause (ms, default 1000). */
  maxGapMs?: number;
  /** Called with what the task threw (default: rethrown, an uncaught error). */
  onError?: (e: unknown) => void;
  /** Clock (ms), for tests. */
  now?: () => number;
}

/** Runs `task` soon after request(), coalescing requests that come before it starts. */
export class Coalescer {
  #task: () => void;
  #delay: number;
  #spacing: number;
  #maxGap: number;
  #onError?: (e: unknown) => void;
  #now: () => number;
  #timer?: ReturnType<typeof setTimeout>;
  #running = false;
  #again = false;
  #closed = false;
  #lastEnd = -Infinity;
  #lastMs = 0;
  #runs = 0;

  constructor(task: () => void, opts: CoalescerOptions = {}) {
    const delay = opts.delayMs ?? 0;
    const spacing = opts.spacing ?? 1;
    const maxGap = opts.maxGapMs ?? 1000;
    for (const [k, v] of [["delayMs", delay], ["spacing", spacing], ["maxGapMs", maxGap]]) {
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
        throw new RangeError(`Coalescer: ${k} must be a finite number >= 0, got ${v}`);
      }
    }
    this.#task = task;
    this.#delay = delay;
    this.#spacing = spacing;
    this.#maxGap = maxGap;
    if (opts.onError) this.#onError = opts.onError;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** How many times the task ran. */
  get runs(): number {
    return this.#runs;
  }

  /** True while a run is scheduled and has not started. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** Asks for a run; joins the scheduled one if there is one. No-op after close(). */
  request(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) return;
    const gap = Math.min(this.#maxGap, this.#lastMs * this.#spacing);
    const wait = Math.max(this.#delay, this.#lastEnd + gap - this.#now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#run();
    }, wait);
  }

  /** Drops a scheduled run (the caller just ran the task itself, covering it). */
  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Cancels a scheduled run and ignores later requests. */
  close(): void {
    this.#closed = true;
    this.#again = false;
    this.cancel();
  }

  #run(): void {
    if (this.#closed) return;
    this.#running = true;
    this.#again = false;
    const t0 = this.#now();
    try {
      this.#runs++;
      this.#task();
    } catch (e) {
      if (!this.#onError) throw e;
      this.#onError(e);
    } finally {
      this.#running = false;
      this.#lastEnd = this.#now();
      this.#lastMs = Math.max(0, this.#lastEnd - t0);
      if (this.#again) {
        this.#again = false;
        this.request();
      }
    }
  }
}
