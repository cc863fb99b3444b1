/** readLeaseFile(): what it refuses before reading (file type, size) and with which code. */
import { assertEquals, assertThrows } from "../../testing/assert.ts";
import { CniError } from "../errors.ts";
import { MAX_LEASE_FILE_BYTES, readLeaseFile } from "./lease_file.ts";

const LEASE = { subnet: "10.244.1.0/24", network: "10.244.0.0/16", mtu: 1450 };

function code(fn: () => unknown): [number, string] {
  const e = assertThrows(fn, CniError);
  return [e.code, e.message];
}

Deno.test("readLeaseFile() reads a regular lease file", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/subnet.json`, JSON.stringify(LEASE));
    assertEquals(readLeaseFile(`${dir}/subnet.json`).subnet, "10.244.1.0/24");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readLeaseFile(): a missing file is code 11 (try again later)", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assertEquals(code(() => readLeaseFile(`${dir}/subnet.json`))[0], 11);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readLeaseFile() refuses a directory, FIFO or device with code 6, without reading", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/subnet.json`);
    assertEquals(code(() => readLeaseFile(`${dir}/subnet.json`)), [
      6,
      `Cannot use node lease file ${dir}/subnet.json: it is a directory, not a regular file`,
    ]);
    const fifo = `${dir}/fifo.json`;
    const mk = new Deno.Command("mkfifo", { args: [fifo] }).outputSync();
    assertEquals(mk.code, 0);
    // Opened, a FIFO without a writer would block this thread forever.
    assertEquals(code(() => readLeaseFile(fifo)), [
      6,
      `Cannot use node lease file ${fifo}: it is a FIFO, not a regular file`,
    ]);
    // Read, /dev/zero would never end.
    assertEquals(code(() => readLeaseFile("/dev/zero")), [
      6,
      "Cannot use node lease file /dev/zero: it is a character device, not a regular file",
    ]);
    // A symlink to a regular file is fine; to a FIFO it is not.
    Deno.symlinkSync(fifo, `${dir}/link.json`);
    assertEquals(code(() => readLeaseFile(`${dir}/link.json`))[0], 6);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readLeaseFile() refuses a file larger than 64 KiB with code 6, even valid JSON", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/subnet.json`;
    const text = JSON.stringify(LEASE);
    // Whitespace padding keeps it valid JSON: only the size is wrong.
    Deno.writeTextFileSync(path, text + " ".repeat(MAX_LEASE_FILE_BYTES + 1 - text.length));
    assertEquals(code(() => readLeaseFile(path)), [
      6,
      `Cannot use node lease file ${path}: it is ${
        MAX_LEASE_FILE_BYTES + 1
      } bytes, more than the 65536 allowed`,
    ]);
    // Exactly the limit is still read.
    Deno.writeTextFileSync(path, text + " ".repeat(MAX_LEASE_FILE_BYTES - text.length));
    assertEquals(readLeaseFile(path).mtu, 1450);
    // So is a flannel subnet.env.
    Deno.writeTextFileSync(
      `${dir}/subnet.env`,
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\n",
    );
    assertEquals(readLeaseFile(`${dir}/subnet.env`).subnet, "10.244.1.0/24");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
