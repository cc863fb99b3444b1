import { assertEquals, assertThrows } from "../testing/assert.ts";
import { FileRefusedError, readBoundedText } from "./bounded_read.ts";

Deno.test("readBoundedText() reads a regular file up to the limit, through a symlink too", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "x".repeat(16));
    Deno.symlinkSync(`${dir}/f`, `${dir}/link`);
    assertEquals(readBoundedText(`${dir}/f`, 16), "x".repeat(16));
    assertEquals(readBoundedText(`${dir}/link`, 16), "x".repeat(16));
    const e = assertThrows(() => readBoundedText(`${dir}/f`, 15), FileRefusedError);
    assertEquals(e.reason, "it is 16 bytes, more than the 15 allowed");
    assertThrows(() => readBoundedText(`${dir}/none`, 15), Deno.errors.NotFound);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readBoundedText() refuses a FIFO, a device and a directory without reading them", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const fifo = `${dir}/fifo`;
    assertEquals(new Deno.Command("mkfifo", { args: [fifo] }).outputSync().code, 0);
    // Opened, a FIFO without a writer would block this thread forever.
    assertEquals(
      assertThrows(() => readBoundedText(fifo, 4096), FileRefusedError).reason,
      "it is a FIFO, not a regular file",
    );
    assertEquals(
      assertThrows(() => readBoundedText("/dev/zero", 4096), FileRefusedError).reason,
      "it is a character device, not a regular file",
    );
    assertEquals(
      assertThrows(() => readBoundedText(dir, 4096), FileRefusedError).reason,
      "it is a directory, not a regular file",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
