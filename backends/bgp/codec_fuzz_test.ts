/**
 * Hostile bytes for the BGP decoder: the captured BIRD messages truncated, bit-flipped,
 * length-forged and spliced, plus random bodies behind valid headers. decodeMessage() may
 * return a message or throw BgpError; anything else (a RangeError from an index, a TypeError)
 * is a bug. Whatever decodes must re-encode and decode to the same value. Seeded and
 * reproducible: a failure names its case.
 */
import { assert, assertEquals } from "../../testing/assert.ts";
import { type BgpMessage, decodeMessage, encodeMessage, frameLength } from "./codec.ts";
import { BgpEncodeError, BgpError } from "./errors.ts";

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const captured: { messages: string[] }[] = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/bird_messages.json", import.meta.url)),
);
const seeds = captured.flatMap((c) => c.messages).map((h) =>
  new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)))
);

function fixLength(b: Uint8Array): Uint8Array {
  if (b.length >= 18) {
    b[16] = b.length >> 8;
    b[17] = b.length & 0xff;
  }
  return b;
}

function mutate(r: () => number, seed: Uint8Array): Uint8Array {
  const b = seed.slice();
  switch (r() % 5) {
    case 0: // truncate, keep the header's length honest
      return fixLength(b.slice(0, 19 + (r() % Math.max(1, b.length - 19))));
    case 1: // flip bytes past the header
      for (let i = 0, n = 1 + (r() % 4); i < n; i++) {
        {
          const at = 19 + (r() % Math.max(1, b.length - 19));
          if (at < b.length) b[at] = b[at]! ^ (1 << (r() % 8));
        }
      }
      return fixLength(b);
    case 2: // random body behind a valid header
      return fixLength(
        Uint8Array.from([...b.slice(0, 19), ...Array.from({ length: r() % 80 }, () => r() & 255)]),
      );
    case 3: // forge one byte anywhere (length, type, marker)
      b[r() % b.length] = r() & 255;
      return b;
    default: // splice two messages
      return fixLength(
        Uint8Array.from([...b.slice(0, 19 + (r() % 20)), ...seeds[r() % seeds.length]!.slice(19)]),
      );
  }
}

function check(input: Uint8Array, label: string): void {
  let msg: BgpMessage;
  try {
    if (frameLength(input) !== input.length) return;
    msg = decodeMessage(input);
  } catch (e) {
    assert(e instanceof BgpError, `${label}: threw ${e}`);
    assert(e.code >= 1 && e.code <= 7, `${label}: code ${e.code}`);
    return;
  }
  let again: Uint8Array;
  try {
    again = encodeMessage(msg);
  } catch (e) {
    assert(e instanceof BgpEncodeError, `${label}: re-encoding threw ${e}`);
    return;
  }
  const back = decodeMessage(again);
  if (msg.type === "update" && back.type === "update") {
    delete msg.discarded;
    delete msg.treatAsWithdraw;
    delete back.treatAsWithdraw;
  }
  assertEquals(back, msg, `${label}: decode(encode(decode(x))) differs`);
}

Deno.test("mutated BIRD messages yield a message or a BgpError, nothing else", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    for (let i = 0; i < 500; i++) {
      const base = seeds[r() % seeds.length]!;
      check(mutate(r, base), `seed ${seed} case ${i}`);
    }
  }
});

Deno.test("random bytes yield only BgpError", () => {
  const r = rng(7);
  for (let i = 0; i < 5000; i++) {
    const b = Uint8Array.from({ length: r() % 120 }, () => r() & 255);
    if (i % 2 === 0) b.fill(0xff, 0, Math.min(16, b.length));
    check(b, `random case ${i}`);
  }
});
