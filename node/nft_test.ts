import {
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../testing/assert.ts";
import { nft, NftError, nftSync } from "./nft.ts";

Deno.test("nft() and nftSync() run a command and return its output", async () => {
  assertStringIncludes(await nft({ args: ["--version"] }), "nftables");
  assertStringIncludes(nftSync({ args: ["--version"] }), "nftables");
});

Deno.test("nft() and nftSync() turn a refused script into NftError with nft's message", async () => {
  // A syntax error is refused by nft's parser, before anything reaches the kernel.
  const script = "bogus stuff\n";
  const a = await assertRejects(() => nft({ script }), NftError);
  const b = assertThrows(() => nftSync({ script }), NftError);
  for (const e of [a, b]) {
    assertEquals([e.exitCode, e.script], [1, script]);
    assertStringIncludes(e.stderr, "syntax error");
    assertStringIncludes(e.message, "nft -f - failed: ");
  }
});
