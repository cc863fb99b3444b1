/**
 * Interruptible waits, shared by the stores' watch loops and the daemon's loops.
 *
 * @module
 */

/** A wait that ends after its time, when its signal aborts, or early on `wake()`. */
export class Sleeper {
  #wake?: () => void;

  /** Resolves after `ms`, or early (without throwing) on `wake()` or when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener("abort", done);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }

  /** Ends the current sleep now (no-op when none is running). */
  wake(): void {
    this.#wake?.();
  }
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Sleeper().sleep(ms, signal);
}
