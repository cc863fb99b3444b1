import { assertEquals, assertThrows } from "../../testing/assert.ts";
import { CniError } from "../errors.ts";
import { readResolvConf } from "./resolv_conf.ts";

// Only cases an unbounded reader fails cleanly on (it would read /dev/zero until the machine runs
// out of memory, a FIFO forever); node/bounded_read.ts's own tests cover those kinds of file.
Deno.test("readResolvConf() reads a resolv.conf and refuses an oversized file or a directory with code 7", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-resolv-" });
  try {
    Deno.writeTextFileSync(`${dir}/ok`, "nameserver 10.0.0.10\nsearch a.local b.local\n");
    assertEquals(readResolvConf(`${dir}/ok`), {
      nameservers: ["10.0.0.10"],
      search: ["a.local", "b.local"],
    });
    Deno.writeTextFileSync(`${dir}/big`, "#".repeat(65 * 1024));
    for (const bad of [dir, `${dir}/big`, `${dir}/missing`]) {
      const e = assertThrows(() => readResolvConf(bad), CniError, "ipam.resolvConf");
      assertEquals(e.code, 7, bad);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
