import { assertEquals, assertRejects } from "../../testing/assert.ts";
import type { BuiltImage, ImportImageOptions } from "./images.ts";
import { nodeImageLoader, type NodeImagesOptions } from "./node_images.ts";
import type { KubeLabNode } from "./types.ts";

const node = (n: string): KubeLabNode => ({
  name: `lab-${n}`,
  netns: `lab-${n}`,
  mountNs: `/run/skein/lab/lab/mnt/${n}`,
  address: "192.168.77.11",
  dir: `/run/skein/lab/lab/nodes/${n}`,
  containerdSocket: "/run/containerd/containerd.sock",
});

const image = (ref: string): BuiltImage => ({
  ref,
  archive: `/cache/${ref}.tar`,
  id: "sha256:00",
  size: 1,
  cached: true,
  ms: 1,
});

Deno.test("nodeImageLoader(): builds once, imports every image into each node's k8s.io through nsenter", async () => {
  let builds = 0;
  const imports: ImportImageOptions[] = [];
  const seen: NodeImagesOptions[] = [];
  const load = nodeImageLoader({ version: "0.1.0", skein: false }, {
    build: (o) => {
      builds++;
      seen.push(o);
      return Promise.resolve([image("a"), image("b")]);
    },
    importOne: (o) => {
      imports.push(o);
      return Promise.resolve();
    },
  });
  assertEquals(builds, 1, "the build starts when the loader is made");
  await Promise.all([load(node("n1")), load(node("n2"))]);
  assertEquals(builds, 1);
  assertEquals(seen[0]?.skein, false);
  assertEquals(imports.length, 4);
  assertEquals(imports[0], {
    socket: "/run/containerd/containerd.sock",
    archive: "/cache/a.tar",
    namespace: "k8s.io",
    exec: ["nsenter", "--mount=/run/skein/lab/lab/mnt/n1", "--net=/run/netns/lab-n1"],
    snapshotter: "overlayfs",
  });
});

Deno.test("nodeImageLoader(): a failed build fails each node's step with its error", async () => {
  const load = nodeImageLoader({ version: "0.1.0" }, {
    build: () => Promise.reject(new Error("no busybox")),
    importOne: () => Promise.resolve(),
  });
  await assertRejects(() => load(node("n1")), Error, "no busybox");
  await assertRejects(() => load(node("n2")), Error, "no busybox");
});
