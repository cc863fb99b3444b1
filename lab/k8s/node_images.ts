/**
 * Loading the lab's images into each node's containerd during `lab up --kubernetes`: the
 * images are built (or taken from the cache) once, starting as soon as the loader is made, and
 * each node imports them into its CRI namespace with its CRI plugin's snapshotter, through
 * `nsenter` into the node (the containerd socket exists only in the node's mount namespace).
 *
 * @module
 */
import { CRI_NAMESPACE, LAB_SNAPSHOTTER } from "./containerd.ts";
import {
  buildBusyboxImage,
  buildSkeinImage,
  type BuiltImage,
  importImage,
  type ImportImageOptions,
} from "./images.ts";
import { type KubeLabNode, nodeEnterArgs } from "./types.ts";

/** Options of {@link nodeImageLoader}. */
export interface NodeImagesOptions {
  /** skein's version (the skein image's tag; cmd/ passes version.ts's VERSION). */
  version: string;
  /** Also the skein image (`--cni skein`, the default); `--cni reference` needs only busybox. */
  skein?: boolean;
  /** The image cache, default lab/k8s/images.ts's. */
  cacheDir?: string;
  log?: (line: string) => void;
}

/** What the loader calls; replaceable in unit tests. */
export interface NodeImagesDeps {
  build: (o: NodeImagesOptions) => Promise<BuiltImage[]>;
  importOne: (o: ImportImageOptions) => Promise<void>;
}

const realDeps: NodeImagesDeps = {
  build: async (o) => {
    const opts = { cacheDir: o.cacheDir, log: o.log };
    const busybox = await buildBusyboxImage(opts);
    if (o.skein === false) return [busybox];
    return [busybox, await buildSkeinImage({ ...opts, version: o.version })];
  },
  importOne: importImage,
};

/**
 * Starts building the lab's images now and returns the per-node step for
 * cluster.ts's startNodeRuntimes(): wait for the build, then import every image into that
 * node's containerd (`nsenter --mount=PIN --net=/run/netns/NS ctr -a SOCK -n k8s.io images
 * import --snapshotter overlayfs - < ARCHIVE`). A failed build fails every node's step with
 * the same ImageBuildError.
 */
export function nodeImageLoader(
  o: NodeImagesOptions,
  deps: NodeImagesDeps = realDeps,
): (node: KubeLabNode) => Promise<void> {
  const built = deps.build(o);
  built.catch(() => {/* reported by the steps that await it */});
  let reported = false;
  return async (node) => {
    const images = await built;
    if (!reported) {
      reported = true;
      for (const i of images) {
        o.log?.(
          `image ${i.ref}: ${(i.size / 1e6).toFixed(1)} MB, ` +
            `${i.cached ? "cached" : "built"} in ${(i.ms / 1000).toFixed(1)} s`,
        );
      }
    }
    for (const img of images) {
      const t0 = performance.now();
      await deps.importOne({
        socket: node.containerdSocket,
        archive: img.archive,
        namespace: CRI_NAMESPACE,
        exec: nodeEnterArgs(node),
        snapshotter: LAB_SNAPSHOTTER,
      });
      o.log?.(
        `node ${node.name}: imported ${img.ref} in ${
          ((performance.now() - t0) / 1000).toFixed(1)
        } s`,
      );
    }
  };
}
