import { assertEquals } from "../testing/assert.ts";
import { createHash } from "node:crypto";
import { sha256Hex } from "./sha256.ts";

Deno.test("sha256Hex() matches node:crypto, across block boundaries", () => {
  assertEquals(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assertEquals(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  for (const n of [1, 55, 56, 63, 64, 65, 119, 120, 200]) {
    const s = "é".repeat(n) + "x";
    assertEquals(sha256Hex(s), createHash("sha256").update(s).digest("hex"), `length ${n}`);
  }
});
