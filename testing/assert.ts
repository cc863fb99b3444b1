/**
 * Test assertions on top of `node:assert/strict` (jsr:@std/assert is not reachable here),
 * shaped like @std/assert so tests read the same.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Deep equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  assert.deepStrictEqual(actual, expected, msg);
}

/** Deep inequality. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  assert.notDeepStrictEqual(actual, expected, msg);
}

/** Truthiness. */
export function assert_(value: unknown, msg?: string): asserts value {
  assert.ok(value, msg);
}
export { assert_ as assert };

/** `actual` contains `expected` as a substring. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  assert.ok(
    actual.includes(expected),
    msg ?? `Expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
  );
}

/** `actual` matches the regular expression. */
export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  assert.match(actual, re, msg);
}

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** `fn` throws an error of class `cls` whose message includes `includes`; returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  cls?: ErrorClass<E>,
  includes?: string,
): E {
  try {
    fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as E;
  }
  throw new assert.AssertionError({ message: "Expected function to throw" });
}

/** `fn` rejects with an error of class `cls` whose message includes `includes`; returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  cls?: ErrorClass<E>,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    checkError(e, cls, includes);
    return e as E;
  }
  throw new assert.AssertionError({ message: "Expected promise to reject" });
}

/**
 * `p` settles within `ms` (a liveness bound, not a speed target: something that should end at
 * once, like a stopped watch, must not hang); the timer is cleared either way.
 */
export async function assertSettlesWithin(p: Promise<unknown>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    p.then(() => true, () => true),
    new Promise<boolean>((r) => timer = setTimeout(() => r(false), ms)),
  ]);
  clearTimeout(timer);
  if (!settled) throw new assert.AssertionError({ message: `${what}: not within ${ms} ms` });
}

function checkError<E extends Error>(e: unknown, cls?: ErrorClass<E>, includes?: string): void {
  if (cls && !(e instanceof cls)) {
    throw new assert.AssertionError({
      message: `Expected error of class ${cls.name}, got ${(e as Error)?.name}: ${
        (e as Error)?.message
      }`,
    });
  }
  if (includes !== undefined && !String((e as Error)?.message).includes(includes)) {
    throw new assert.AssertionError({
      message: `Expected error message to include ${JSON.stringify(includes)}, got ${
        JSON.stringify((e as Error)?.message)
      }`,
    });
  }
}
