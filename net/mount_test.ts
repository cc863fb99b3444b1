import { assertEquals } from "../testing/assert.ts";
import { parseMountInfo } from "./mount.ts";

Deno.test("parseMountInfo: mount point, root, type, source, propagation; escapes", () => {
  const text = [
    "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
    "605 29 0:4 net:[4026532] /run/netns/a\\040b rw shared:5 - nsfs nsfs rw",
    "garbage",
    "",
  ].join("\n");
  assertEquals(parseMountInfo(text), [
    {
      mountPoint: "/mnt2",
      root: "/mnt1",
      fsType: "ext3",
      source: "/dev/root",
      propagation: ["master:1"],
    },
    {
      mountPoint: "/run/netns/a b",
      root: "net:[4026532]",
      fsType: "nsfs",
      source: "nsfs",
      propagation: ["shared:5"],
    },
  ]);
});
