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
  const held = Deno.statSync(f.path);
  f.close();
  f.close(); // twice is harmless
  // The path no longer names the memory file. (The descriptor number itself may already be
  // reused by whatever this process opens next: the test runner shares it with other modules.)
  let after: Deno.FileInfo | undefined;
  try {
    after = Deno.statSync(f.path);
  } catch { /* gone */ }
  assert(after?.ino !== held.ino || after?.dev !== held.dev, `${f.path} still names it`);
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

Deno.test("memoryFileWithText(): none where /proc counts pids in another namespace (a temp file then)", async () => {
  // In a new pid namespace this process is pid 1 to itself, while /proc is still the host's:
  // /proc/1/fd/N there is another process's descriptor, so no path would name the file.
  const code = `import { memoryFileWithText } from ${
    JSON.stringify(import.meta.resolve("./memfd.ts"))
  };
    console.log(Deno.pid, memoryFileWithText("skein-test", "x") === undefined);`;
  const out = await new Deno.Command("unshare", {
    args: ["--pid", "--fork", Deno.execPath(), "eval", "-q", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(new TextDecoder().decode(out.stdout).trim(), "1 true");
});
