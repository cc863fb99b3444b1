import { assert, assertEquals } from "../../testing/assert.ts";
import { containerdConfig } from "./containerd.ts";

Deno.test("containerdConfig: a node's CRI config (own dirs, oom restriction, CNI dirs)", () => {
  const t = containerdConfig({
    root: "/var/lib/containerd",
    state: "/run/containerd",
    address: "/run/containerd/containerd.sock",
    optDir: "/var/lib/containerd/opt",
    cri: {
      sandboxImage: "skein.local/busybox:latest",
      confDir: "/etc/cni/net.d",
      binDir: "/opt/cni/bin",
    },
  });
  for (
    const line of [
      'root = "/var/lib/containerd"',
      'address = "/run/containerd/containerd.sock"',
      'path = "/var/lib/containerd/opt"',
      'sandbox_image = "skein.local/busybox:latest"',
      "restrict_oom_score_adj = true",
      'snapshotter = "overlayfs"',
      'runtime_type = "io.containerd.runc.v2"',
      'bin_dir = "/opt/cni/bin"',
      'conf_dir = "/etc/cni/net.d"',
    ]
  ) assert(t.split("\n").includes(line), `missing ${line} in\n${t}`);
  assert(!t.includes("disabled_plugins"));
});

Deno.test("containerdConfig: without cri the CRI plugin is disabled", () => {
  assertEquals(
    containerdConfig({ root: "/d/root", state: "/d/state", address: "/d/c.sock" }),
    [
      "version = 2",
      'root = "/d/root"',
      'state = "/d/state"',
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      'address = "/d/c.sock"',
      "",
    ].join("\n"),
  );
});
