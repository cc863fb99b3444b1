/**
 * Work serialized per key: the daemon's CNI service runs calls for the same container one after
 * the other, and calls for different containers side by side.
 *
 * @module
 */

/** Serializes work per key (the container id); different keys run in parallel. */
export class KeyedQueue {
  #tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every earlier call with the same key has settled. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.#tails.set(key, tail);
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }
}
