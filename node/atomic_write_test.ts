import { assertEquals, assertThrows } from "../testing/assert.ts";
import { atomicWriteFile, removeAbandonedTemps } from "./atomic_write.ts";

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("atomicWriteFile() creates the directory, replaces the file, leaves no temp files", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/a/b/subnet.json`;
    atomicWriteFile(path, "one\n", { mkdir: true });
    atomicWriteFile(path, new TextEncoder().encode("two\n"));
    assertEquals(Deno.readTextFileSync(path), "two\n");
    assertEquals(names(`${dir}/a/b`), ["subnet.json"]);
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o644 & ~Deno.umask());
    atomicWriteFile(path, "three\n", { mode: 0o600 });
    assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("atomicWriteFile() replaces a symlink at the target instead of writing through it", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/victim`, "keep");
    Deno.symlinkSync(`${dir}/victim`, `${dir}/cursor`);
    atomicWriteFile(`${dir}/cursor`, "10.0.0.5");
    assertEquals(Deno.readTextFileSync(`${dir}/victim`), "keep");
    assertEquals(Deno.lstatSync(`${dir}/cursor`).isSymlink, false);
    assertEquals(Deno.readTextFileSync(`${dir}/cursor`), "10.0.0.5");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("atomicWriteFile() removes its temp file when the rename fails", () => {
  const dir = Deno.makeTempDirSync();
  try {
    // The target is a non-empty directory: the rename fails after the temp file was written.
    Deno.mkdirSync(`${dir}/target/x`, { recursive: true });
    assertThrows(() => atomicWriteFile(`${dir}/target`, "x", { tempPrefix: ".skein-tmp." }));
    assertEquals(names(dir), ["target"]);
    // Without mkdir a missing directory is the caller's NotFound.
    assertThrows(() => atomicWriteFile(`${dir}/nope/f`, "x"), Deno.errors.NotFound);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("removeAbandonedTemps() removes only the temporary files of that target", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const left = [
      ".subnet.json.4242.0a1b2c3d.tmp", // a writer killed before its rename
      ".subnet.json.1.ffffffff.tmp",
    ];
    const kept = [
      "subnet.json",
      ".subnet.env.4242.0a1b2c3d.tmp", // another target's
      ".subnet.json.4242.0a1b2c3d.tmp.bak",
      ".subnet.json.x.0a1b2c3d.tmp",
      ".subnet.json.4242.0A1B2C3D.tmp",
    ];
    for (const n of [...left, ...kept]) Deno.writeTextFileSync(`${dir}/${n}`, "x");
    Deno.mkdirSync(`${dir}/.subnet.json.7.0a1b2c3d.tmp`); // a directory is never removed
    assertEquals(removeAbandonedTemps(`${dir}/subnet.json`).sort(), [...left].sort());
    assertEquals(names(dir), [...kept, ".subnet.json.7.0a1b2c3d.tmp"].sort());
    assertEquals(removeAbandonedTemps(`${dir}/nowhere/x`), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
