import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { memoryFileWithText } from "./memfd.ts";

Deno.test("memoryFileWithText(): another process reads the text at its /proc path; close() frees it", () => {
  const f = memoryFileWithText("skein-test", "add table inet t\n")!;
  assert(f, "this kernel has memfd_create");
  assert(f.path.startsWith(`/proc/${Deno.pid}/fd/`), f.path);
  const out = new Deno.Command("cat", { args: [f.path], stdout: "piped" }).outputSync();
  assertEquals(new TextDecoder().decode(out.stdout), "add table inet t\n");
  // The link names the memory file, not a file on a disk.
  assert(Deno.readLinkSync(f.path).startsWith("/memfd:skein-test"), Deno.readLinkSync(f.path));
  f.close();
  f.close(); // twice is harmless
  assertEquals(
    new Deno.Command("cat", { args: [f.path], stderr: "null" }).outputSync().success,
    false,
  );
});

Deno.test("memoryFileWithText(): what a process killed while holding one had is no file on disk", async () => {
  const code = `import { memoryFileWithText } from ${
    JSON.stringify(import.meta.resolve("./memfd.ts"))
  };
    const f = memoryFileWithText("skein-test", "x".repeat(100000));
    console.log(Deno.readLinkSync(f.path));
    Deno.kill(Deno.pid, "SIGKILL");`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "-q", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.signal, "SIGKILL");
  // "/memfd:NAME (deleted)": memory only, freed by the kernel with the killed process.
  assertStringIncludes(new TextDecoder().decode(out.stdout), "/memfd:skein-test");
});
