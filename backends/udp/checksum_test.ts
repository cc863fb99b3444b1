import { assertEquals } from "../../testing/assert.ts";
import { checksumArena, fold16, sum16 } from "./checksum.ts";
import { naiveSum, randomBytes, rng } from "./_tcp_fixture.ts";

Deno.test("sum16() equals a naive byte-by-byte sum at every alignment and length", () => {
  const r = rng(7);
  const buf = randomBytes(r, 5000);
  for (let k = 0; k < 3000; k++) {
    const off = r() % 300, len = r() % 4000, init = r() % 70000;
    assertEquals(sum16(buf, off, len, init), naiveSum(buf.subarray(off, off + len), init));
    const sub = buf.subarray(r() % 7);
    assertEquals(sum16(sub, off, len), naiveSum(sub.subarray(off, off + len)));
  }
  assertEquals(sum16(new Uint8Array(70000).fill(255), 0, 70000), 0xffff);
});

Deno.test("sum16() over the WebAssembly arena equals the naive sum too (SIMD path)", () => {
  const r = rng(8);
  const arena = checksumArena(200_000);
  arena.set(randomBytes(r, arena.length));
  for (let k = 0; k < 3000; k++) {
    const off = r() % 1000, len = k < 50 ? 65536 + r() % 100 : r() % 5000, init = r() % 70000;
    assertEquals(
      sum16(arena, off, len, init),
      naiveSum(arena.subarray(off, off + len), init),
      `${k}`,
    );
    const sub = arena.subarray(1 + r() % 9);
    assertEquals(sum16(sub, off, len), naiveSum(sub.subarray(off, off + len)), `sub ${k}`);
  }
  arena.fill(255, 0, 131072);
  assertEquals(sum16(arena, 0, 131072), 0xffff);
  assertEquals(sum16(arena, 199_990, 64), naiveSum(arena.subarray(199_990, 200_000)), "clipped");
});

Deno.test("fold16() folds any integer sum below 2^53 like repeated end-around carries", () => {
  const slow = (x: number) => {
    let s = x;
    while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
    return s;
  };
  const r = rng(9);
  const edges = [0, 1, 0xffff, 0x10000, 0x1fffe, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 33 + 5];
  for (const x of [...edges, 2 ** 53 - 1, 2 ** 46 + 12345]) {
    assertEquals(fold16(x), slow(x), `${x}`);
  }
  for (let k = 0; k < 20000; k++) {
    const x = (r() * 2 ** 21 + r()) % 2 ** 53;
    assertEquals(fold16(x), slow(x), `${x}`);
  }
});
