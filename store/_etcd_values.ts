/**
 * Reading an etcd answer without holding its large values: a filter over the answer's bytes, as
 * they stream in, that leaves out the text of every `"value":"..."` longer than a limit and notes
 * its size instead (`"value":"","skein_value_bytes":"N"`). A range over a prefix that holds a
 * few values of a megabyte (records no writer of leases makes) then costs what its small records
 * cost, instead of the answer text, its parsed copy and its decoded copy of every megabyte.
 *
 * The gateway writes compact JSON and every string of a range answer is base64 or decimal; a
 * `"value":"` written with spaces is not seen, and its value is simply kept.
 *
 * @module
 */

/** The field a left-out value's size (in bytes) is noted in. */
export const SKIPPED_VALUE_FIELD = "skein_value_bytes";

const enc = new TextEncoder();
const PATTERN = enc.encode('"value":"');
/** KMP failure table of PATTERN. */
const FAIL: number[] = (() => {
  const f = [0];
  for (let i = 1, k = 0; i < PATTERN.length; i++) {
    while (k > 0 && PATTERN[i] !== PATTERN[k]) k = f[k - 1]!;
    if (PATTERN[i] === PATTERN[k]) k++;
    f.push(k);
  }
  return f;
})();
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const EQUALS = 0x3d;

/** The filter; push() each chunk of the answer in order. */
export class LargeValueFilter {
  readonly #maxChars: number;
  /** Bytes of PATTERN matched so far (outside a value). */
  #matched = 0;
  #inValue = false;
  #escaped = false;
  /** The value's text so far, while it is not over the limit. */
  #kept: Uint8Array[] = [];
  #chars = 0;
  #pad = 0;

  /** `maxValueBytes`: values that decode to more bytes than this are left out. */
  constructor(maxValueBytes: number) {
    // The base64 text of maxValueBytes bytes; longer text decodes to more.
    this.#maxChars = 4 * Math.ceil(maxValueBytes / 3);
  }

  /** The bytes to keep of `chunk`. */
  push(chunk: Uint8Array): Uint8Array {
    const out: Uint8Array[] = [];
    let from = 0; // start of the run of `chunk` copied as is
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (!this.#inValue) {
        while (this.#matched > 0 && b !== PATTERN[this.#matched]) {
          this.#matched = FAIL[this.#matched - 1]!;
        }
        if (b === PATTERN[this.#matched]) this.#matched++;
        if (this.#matched === PATTERN.length) {
          this.#matched = 0;
          this.#inValue = true;
          this.#kept = [];
          this.#chars = 0;
          this.#pad = 0;
          out.push(chunk.subarray(from, i + 1));
          from = i + 1;
        }
        continue;
      }
      if (!this.#escaped && b !== QUOTE && b !== BACKSLASH) {
        // Plain text (all of a base64 value): on to the next quote or backslash at once.
        i = this.#skipPlain(chunk, i) - 1;
        continue;
      }
      if (this.#escaped || b !== QUOTE) {
        this.#escaped = !this.#escaped && b === BACKSLASH;
        this.#chars++;
        this.#pad = 0;
        continue;
      }
      // The value ends at chunk[i].
      this.#endValue(chunk.subarray(from, i), out);
      from = i; // the closing quote is copied with what follows
    }
    if (this.#inValue) this.#keep(chunk.subarray(from));
    else out.push(chunk.subarray(from));
    return concat(out);
  }

  /** Counts the value's text from chunk[i] to the next quote or backslash; returns where that is. */
  #skipPlain(chunk: Uint8Array, i: number): number {
    const q = chunk.indexOf(QUOTE, i);
    let end = q === -1 ? chunk.length : q;
    const bs = chunk.subarray(i, end).indexOf(BACKSLASH);
    if (bs !== -1) end = i + bs;
    let k = end;
    while (k > i && chunk[k - 1] === EQUALS) k--;
    this.#pad = k === i ? this.#pad + (end - i) : end - k;
    this.#chars += end - i;
    return end;
  }

  #keep(part: Uint8Array): void {
    if (this.#chars > this.#maxChars) {
      this.#kept = [];
      return;
    }
    if (part.length > 0) this.#kept.push(part.slice());
  }

  #endValue(last: Uint8Array, out: Uint8Array[]): void {
    this.#inValue = false;
    if (this.#chars <= this.#maxChars) {
      out.push(...this.#kept, last);
    } else {
      const bytes = Math.floor((this.#chars * 3) / 4) - Math.min(this.#pad, 2);
      out.push(enc.encode(`","${SKIPPED_VALUE_FIELD}":"${bytes}`));
    }
    this.#kept = [];
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The text of `body`, through a LargeValueFilter of `maxValueBytes`. A byte stream (fetch's) is
 * read into one buffer used over and over, so a megabyte left out leaves no garbage behind.
 */
export async function readFiltered(
  body: ReadableStream<Uint8Array>,
  maxValueBytes: number,
): Promise<string> {
  const filter = new LargeValueFilter(maxValueBytes);
  const dec = new TextDecoder();
  let text = "";
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream: chunk by chunk.
  }
  if (!byob) {
    for await (const chunk of body) text += dec.decode(filter.push(chunk), { stream: true });
    return text + dec.decode();
  }
  let buf = new ArrayBuffer(64 * 1024);
  try {
    for (;;) {
      const { value, done } = await byob.read(new Uint8Array(buf));
      if (done || !value) break;
      text += dec.decode(filter.push(value), { stream: true });
      buf = value.buffer as ArrayBuffer;
    }
  } finally {
    byob.releaseLock();
  }
  return text + dec.decode();
}

/** A LargeValueFilter of `maxValueBytes` as a stream (for a watch's body). */
export function largeValueFilterStream(
  maxValueBytes: number,
): TransformStream<Uint8Array, Uint8Array> {
  const filter = new LargeValueFilter(maxValueBytes);
  return new TransformStream({
    transform(chunk, c) {
      const out = filter.push(chunk);
      if (out.length > 0) c.enqueue(out);
    },
  });
}
