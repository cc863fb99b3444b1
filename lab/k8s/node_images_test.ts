import { assertEquals } from "../../testing/assert.ts";
import type { BuiltImage, ImportImageOptions } from "./images.ts";
import { buildNodeImages, importNodeImages } from "./node_images.ts";
import type { KubeLabNode } from "./types.ts";

const node: KubeLabNode = {
  name: "lab-n1",
  netns: "lab-n1",
  mountNs: "/run/skein/lab/lab/mnt/n1",
  address: "192.168.77.11",
  dir: "/run/skein/lab/lab/nodes/n1",
  containerdSocket: "/run/containerd/containerd.sock",
};

const image = (ref: string): BuiltImage => ({
  ref,
  archive: `/cache/${ref}.tar`,
  id: "sha256:00",
  size: 1,
  cached: true,
  ms: 1,
});

Deno.test("importNodeImages(): every image into the node's k8s.io, overlayfs, through nsenter", async () => {
  const calls: ImportImageOptions[] = [];
  const importOne = (o: ImportImageOptions) => {
    calls.push(o);
    return Promise.resolve();
  };
  await importNodeImages(node, { busybox: image("a"), skein: image("b") }, importOne);
  assertEquals(calls.map((c) => c.archive), ["/cache/a.tar", "/cache/b.tar"]);
  assertEquals(calls[0], {
    socket: "/run/containerd/containerd.sock",
    archive: "/cache/a.tar",
    namespace: "k8s.io",
    exec: ["nsenter", "--mount=/run/skein/lab/lab/mnt/n1", "--net=/run/netns/lab-n1"],
    snapshotter: "overlayfs",
  });
  await importNodeImages(node, { busybox: image("a") }, importOne);
  assertEquals(calls.length, 3);
});

Deno.test("buildNodeImages(): --cni reference needs only busybox", async () => {
  const cacheDir = Deno.makeTempDirSync({ prefix: "skein-node-images-" });
  try {
    let haveBusybox = true;
    try {
      Deno.statSync("/bin/busybox");
    } catch {
      haveBusybox = false;
    }
    if (haveBusybox) {
      const ref = await buildNodeImages("reference", undefined, () => {}, { cacheDir });
      assertEquals(ref.skein, undefined);
      assertEquals(ref.busybox.ref, "skein.local/busybox:latest");
    }
  } finally {
    Deno.removeSync(cacheDir, { recursive: true });
  }
});
