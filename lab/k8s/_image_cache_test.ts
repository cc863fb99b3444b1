import { assert, assertEquals } from "../../testing/assert.ts";
import {
  buildDir,
  commitEntry,
  contentKey,
  entryDir,
  pruneEntries,
  readEntry,
} from "./_image_cache.ts";

Deno.test("contentKey(): follows file contents, and text and file parts do not collide", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-cache-" });
  try {
    Deno.writeTextFileSync(`${dir}/f`, "one");
    const a = await contentKey(["x", { file: `${dir}/f` }]);
    assertEquals(await contentKey(["x", { file: `${dir}/f` }]), a);
    Deno.writeTextFileSync(`${dir}/f`, "two");
    assert(await contentKey(["x", { file: `${dir}/f` }]) !== a);
    assert(await contentKey(["ab", "c"]) !== await contentKey(["a", "bc"]));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cache entries: committed builds are found, incomplete ones are not, old ones pruned", () => {
  const cache = Deno.makeTempDirSync({ prefix: "skein-cache-" });
  try {
    const commit = (key: string, body = "tar") => {
      const tmp = buildDir(cache, "img");
      Deno.writeTextFileSync(`${tmp}/image.tar`, body);
      return commitEntry(tmp, entryDir(cache, "img", key), { ref: "r", id: key, size: 3 });
    };
    const keys = ["a", "b", "c", "d"].map((c) => c.repeat(64));
    for (const k of keys) commit(k);
    assertEquals(readEntry(entryDir(cache, "img", keys[0]!))?.id, keys[0]);
    // A second build of the same key keeps the first and leaves no temporary directory.
    assertEquals(commit(keys[0]!, "new").id, keys[0]);
    Deno.writeTextFileSync(`${entryDir(cache, "img", keys[1]!)}/image.tar`, "truncated!");
    assertEquals(readEntry(entryDir(cache, "img", keys[1]!)), undefined);
    pruneEntries(cache, "img", 2);
    const left = [...Deno.readDirSync(cache)].map((e) => e.name).sort();
    assertEquals(left.length, 2);
    assert(left.every((n) => /^img-[0-9a-f]{20}$/.test(n)), left.join(" "));
  } finally {
    Deno.removeSync(cache, { recursive: true });
  }
});
