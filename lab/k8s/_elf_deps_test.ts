import { assertEquals, assertThrows } from "../../testing/assert.ts";
import { elfDeps, ElfDepsError, parseLdd } from "./_elf_deps.ts";

Deno.test("parseLdd(): library paths and the loader, not the vDSO; a missing library throws", () => {
  const text = [
    "\tlinux-vdso.so.1 (0x00007ffd2b5f2000)",
    "\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f79ecf88000)",
    "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f79e6e1e000)",
    "\t/lib64/ld-linux-x86-64.so.2 (0x00007f79ecfa0000)",
  ].join("\n");
  assertEquals(parseLdd(text), [
    "/lib/x86_64-linux-gnu/libdl.so.2",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
  ]);
  assertEquals(parseLdd("\tnot a dynamic executable\n"), []);
  assertEquals(parseLdd("\tstatically linked\n"), []);
  assertThrows(() => parseLdd("\tlibfoo.so.1 => not found\n", "x"), ElfDepsError, "libfoo.so.1");
});

Deno.test("elfDeps(): this Deno links libc and the loader", () => {
  const deps = elfDeps(Deno.execPath());
  assertEquals(deps.some((d) => /\/libc\.so\.6$/.test(d)), true);
  assertEquals(deps.some((d) => /\/ld-linux-x86-64\.so\.2$/.test(d)), true);
});
