import { assertEquals, assertThrows } from "../../testing/assert.ts";
import { mountScript, NODE_PATHS } from "./mount_ns.ts";

Deno.test("mountScript: drops the pins, binds each node path, /run/skein last", () => {
  const s = mountScript({ pinDir: "/run/skein/lab/k/mnt", dir: "/run/skein/lab/k/nodes/n1" })
    .split("\n");
  assertEquals(s.slice(0, 3), [
    "set -e",
    "umount -l '/run/skein/lab/k/mnt'",
    "mount --bind '/run/skein/lab/k/nodes/n1/fs/etc/cni/net.d' '/etc/cni/net.d'",
  ]);
  assertEquals(s.at(-1), "mount --bind '/run/skein/lab/k/nodes/n1/fs/run/skein' '/run/skein'");
  assertEquals(s.length, 2 + NODE_PATHS.length);
});

Deno.test("mountScript: refuses a path with a quote", () => {
  assertThrows(() => mountScript({ pinDir: "/x", dir: "/a'b" }), TypeError);
});
