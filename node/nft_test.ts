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

Deno.test("nftSync() hands nft its script as a memory file, not a file in /tmp", () => {
  const e = assertThrows(() => nftSync({ script: "bogus stuff\n" }), NftError);
  // nft names the file it read in its error: the /proc link of this process's memory file.
  assertStringIncludes(e.stderr, `/proc/${Deno.pid}/fd/`);
});
