import { createHash } from "node:crypto";
import { assert, assertEquals } from "../../testing/assert.ts";
import { imageConfigJson, writeImageArchive } from "./image_archive.ts";
import type { TarEntry } from "./tar.ts";

const enc = new TextEncoder();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function tar(args: string[]): string | undefined {
  try {
    const o = new Deno.Command("tar", { args, stdout: "piped", stderr: "piped" }).outputSync();
    if (!o.success) throw new Error(new TextDecoder().decode(o.stderr));
    return new TextDecoder().decode(o.stdout);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

const base: TarEntry[] = [
  { type: "dir", path: "bin" },
  { type: "file", path: "bin/hello", mode: 0o755, content: enc.encode("#!/bin/sh\necho hi\n") },
];
const top: TarEntry[] = [{ type: "symlink", path: "bin/hi", target: "hello" }];

Deno.test("writeImageArchive(): docker-archive layout GNU tar reads: manifest, config, layers by digest", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-image-" });
  try {
    const img = await writeImageArchive({
      path: `${dir}/a.tar`,
      ref: "skein.local/hello:latest",
      layers: [base, top, base],
      config: { cmd: ["/bin/hello"] },
    });
    assertEquals(Deno.statSync(img.path).size, img.size);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["a.tar"], "no temporary files");
    if (tar(["-xf", img.path, "-C", dir]) === undefined) return;
    const manifest = JSON.parse(Deno.readTextFileSync(`${dir}/manifest.json`));
    assertEquals(manifest.length, 1);
    assertEquals(manifest[0].RepoTags, ["skein.local/hello:latest"]);
    const config = Deno.readFileSync(`${dir}/${manifest[0].Config}`);
    assertEquals(`sha256:${sha(config)}`, img.id);
    const layerHex = manifest[0].Layers.map((l: string) => {
      const hex = sha(Deno.readFileSync(`${dir}/${l}`));
      assertEquals(l, `${hex}/layer.tar`);
      return hex;
    });
    assertEquals(layerHex[0], layerHex[2], "the same layer twice has one digest");
    assertEquals(img.diffIds, layerHex.map((h: string) => `sha256:${h}`));
    const cfg = JSON.parse(new TextDecoder().decode(config));
    assertEquals(cfg.rootfs, { type: "layers", diff_ids: img.diffIds });
    assertEquals(cfg.config.Cmd, ["/bin/hello"]);
    assertEquals([cfg.architecture, cfg.os], ["amd64", "linux"]);
    // The duplicate layer is stored once.
    const members = tar(["-tf", img.path])!.trimEnd().split("\n");
    assertEquals(members.filter((m) => m.endsWith("layer.tar")).length, 2);
    const layer0 = tar(["-tvf", `${dir}/${manifest[0].Layers[0]}`])!;
    assert(/^-rwxr-xr-x root\/root +18 1970-01-01 00:00 bin\/hello$/m.test(layer0), layer0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("writeImageArchive(): the same layers and config give the same bytes and id", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-image-" });
  try {
    const write = (name: string) =>
      writeImageArchive({ path: `${dir}/${name}`, ref: "skein.local/x:1", layers: [base, top] });
    const [a, b] = [await write("a.tar"), await write("b.tar")];
    assertEquals(a.id, b.id);
    assertEquals(Deno.readFileSync(a.path), Deno.readFileSync(b.path));
    const c = await writeImageArchive({
      path: `${dir}/c.tar`,
      ref: "skein.local/x:1",
      layers: [top],
    });
    assert(c.id !== a.id);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("imageConfigJson(): default PATH and working directory, fixed creation time", () => {
  const c = JSON.parse(imageConfigJson(["sha256:ab"], { entrypoint: ["/x"], labels: { a: "b" } }));
  assertEquals(c.created, "1970-01-01T00:00:00.000Z");
  assertEquals(c.config.WorkingDir, "/");
  assert(c.config.Env[0].startsWith("PATH=/usr/local/sbin:"));
  assertEquals(c.config.Entrypoint, ["/x"]);
  assertEquals(c.config.Labels, { a: "b" });
  assertEquals(c.history.length, 1);
});
