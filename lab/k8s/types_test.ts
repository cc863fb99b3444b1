import { assertEquals, assertThrows } from "../../testing/assert.ts";
import { nodeEnterArgs, nodeHostPath } from "./types.ts";

const node = {
  dir: "/run/skein/lab/k/nodes/n1",
  mountNs: "/run/skein/lab/k/mnt/n1",
  netns: "k-n1",
};

Deno.test("nodeHostPath: a node's path under its dir's fs/", () => {
  assertEquals(nodeHostPath(node, "/etc/cni/net.d"), "/run/skein/lab/k/nodes/n1/fs/etc/cni/net.d");
  assertThrows(() => nodeHostPath(node, "etc"), TypeError);
});

Deno.test("nodeEnterArgs: nsenter into the node's mount and network namespace", () => {
  assertEquals(nodeEnterArgs(node), [
    "nsenter",
    "--mount=/run/skein/lab/k/mnt/n1",
    "--net=/run/netns/k-n1",
  ]);
});
