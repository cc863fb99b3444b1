/**
 * The images a Kubernetes lab's nodes need, without a registry: built (or taken from the cache)
 * once per `lab up` by images.ts, then imported into every node's containerd with
 * `ctr -n k8s.io images import --snapshotter overlayfs -` run inside the node (the containerd
 * socket exists only in the node's mount namespace; the archive goes through stdin).
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
import { type KubeLabCni, type KubeLabNode, nodeEnterArgs } from "./types.ts";

/** The images of a lab: busybox (the pods' and the sandbox image), skein's with `--cni skein`. */
export interface LabImages {
  busybox: BuiltImage;
  skein?: BuiltImage;
}

/**
 * Builds (or finds in the cache) the images a lab with `cni` needs: busybox, and with
 * `--cni skein` skein's, tagged `version` (default: the version of the sources it installs).
 * Throws ImageBuildError.
 */
export async function buildNodeImages(
  cni: KubeLabCni,
  version: string | undefined,
  progress: (m: string) => void,
  opts: { cacheDir?: string } = {},
): Promise<LabImages> {
  const busybox = await buildBusyboxImage({ log: progress, cacheDir: opts.cacheDir });
  if (cni !== "skein") return { busybox };
  const skein = await buildSkeinImage({
    log: progress,
    cacheDir: opts.cacheDir,
    ...(version ? { version } : {}),
  });
  progress(
    `images: ${busybox.ref} (${busybox.cached ? "cached" : "built"}), ${skein.ref} ` +
      `(${skein.cached ? "cached" : "built"} in ${(skein.ms / 1000).toFixed(1)} s, ` +
      `${(skein.size / 1e6).toFixed(0)} MB)`,
  );
  return { busybox, skein };
}

/**
 * Imports the lab's images into `node`'s containerd (the CRI plugin's namespace and
 * snapshotter): `nsenter --mount=PIN --net=/run/netns/NS ctr -a SOCK -n k8s.io images import
 * --snapshotter overlayfs - < ARCHIVE` per image. Throws ImageImportError.
 */
export async function importNodeImages(
  node: KubeLabNode,
  images: LabImages,
  importOne: (o: ImportImageOptions) => Promise<void> = importImage,
): Promise<void> {
  for (const img of [images.busybox, images.skein]) {
    if (!img) continue;
    await importOne({
      socket: node.containerdSocket,
      archive: img.archive,
      namespace: CRI_NAMESPACE,
      exec: nodeEnterArgs(node),
      snapshotter: LAB_SNAPSHOTTER,
    });
  }
}
