import { assertEquals } from "../../testing/assert.ts";
import {
  missingPaths,
  readMadePaths,
  recordMadePath,
  removeMadePaths,
  restoreSysctls,
} from "./host_state.ts";
import { nodeContainerIds } from "./teardown.ts";

Deno.test("missingPaths: what mkdir -p would create, outermost first", () => {
  const d = Deno.makeTempDirSync();
  try {
    assertEquals(missingPaths(`${d}/a/b/c`), [`${d}/a`, `${d}/a/b`, `${d}/a/b/c`]);
    Deno.mkdirSync(`${d}/a`);
    assertEquals(missingPaths(`${d}/a/b`), [`${d}/a/b`]);
    assertEquals(missingPaths(d), []);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("removeMadePaths: innermost first, only empty dirs and files", () => {
  const d = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${d}/a/b`, { recursive: true });
    Deno.mkdirSync(`${d}/x`);
    Deno.writeTextFileSync(`${d}/x/keep`, "someone's");
    Deno.writeTextFileSync(`${d}/lock`, "");
    assertEquals(removeMadePaths([`${d}/a`, `${d}/a/b`, `${d}/x`, `${d}/lock`]), [`${d}/x`]);
    assertEquals([...Deno.readDirSync(d)].map((e) => e.name), ["x"]);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("restoreSysctls: refuses keys that are not kubelet's and non-numbers", () => {
  assertEquals(restoreSysctls({ "net/ipv4/ip_forward": "1", "kernel/panic": "x" }).length, 2);
});

Deno.test("nodeContainerIds: ids from the node's containerd task and CRI dirs", () => {
  const d = Deno.makeTempDirSync();
  try {
    const id1 = "a".repeat(64), id2 = "b".repeat(64);
    Deno.mkdirSync(`${d}/fs/run/containerd/io.containerd.runtime.v2.task/k8s.io/${id1}`, {
      recursive: true,
    });
    Deno.mkdirSync(`${d}/fs/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/${id2}`, {
      recursive: true,
    });
    Deno.mkdirSync(`${d}/fs/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/not-an-id`);
    assertEquals(nodeContainerIds(d).sort(), [id1, id2]);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("made-paths ledger: each path once, read back", () => {
  const d = Deno.makeTempDirSync();
  try {
    recordMadePath(d, "/var/lib/kubelet");
    recordMadePath(d, "/var/lib/kubelet");
    recordMadePath(d, "/opt/cni/bin");
    assertEquals(readMadePaths(d), ["/var/lib/kubelet", "/opt/cni/bin"]);
  } finally {
    Deno.removeSync(d, { recursive: true });
  }
});
