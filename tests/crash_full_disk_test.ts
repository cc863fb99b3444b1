/**
 * A full disk and a read-only one under every writer of skein state (root: it mounts a small
 * tmpfs, but only inside a private mount namespace made with `unshare -m`, so the host's mounts
 * never change). The checks run in tests/crash_disk_worker.ts, in that namespace:
 *
 * - IPAM ADD fails with code 5 and changes nothing (no empty temporary file per attempt), DEL
 *   still works, ADD works again once there is room;
 * - the file lease store's renew/acquire fail with StoreError, the records stay as they were,
 *   and the same subnet is renewed once there is room;
 * - the node lease files keep their old content whole;
 * - the VTEP MAC is still chosen (the daemon starts) when it cannot be stored.
 */
import { assert } from "../testing/assert.ts";

const WORKER = new URL("./crash_disk_worker.ts", import.meta.url).pathname;
const isRoot = Deno.uid() === 0;

Deno.test({
  name: "a full or read-only disk: every state writer fails clearly and changes nothing",
  ignore: !isRoot,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "skein-crash-disk-" });
    try {
      const out = await new Deno.Command("unshare", {
        args: ["-m", "--propagation", "private", Deno.execPath(), "run", "-A", WORKER, dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      console.log(text.trim());
      assert(out.success, `the checks failed:\n${text}`);
      assert(text.includes("ok: read-only"), "every check ran");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
