/**
 * The Kubernetes lab's two local images (no registry), as docker-archive tars the project
 * writes itself (./image_archive.ts) and `ctr -n k8s.io images import` loads:
 *
 * - `skein.local/busybox:latest`: Debian's static busybox with all its applets. Also the pod
 *   sandbox ("pause") image: its default command sleeps until SIGTERM or SIGINT, then exits 0.
 * - `skein.local/skein:<version>`: skein as install.sh installs it under /usr/local (the
 *   `deno compile` binary where the compile runtime can be had, else the launcher with a private
 *   Deno, the sources and a pre-filled DENO_DIR), `nft` (the daemon's ipMasq rules) and
 *   coreutils' `install` (the DaemonSet's init container), the shared libraries all of them
 *   link against as `ldd` names them with the dynamic loader, and the busybox layer below it
 *   (/bin/sh, cp, mv, the launcher's sed and timeout).
 *
 * Built archives are cached by content (./_image_cache.ts): a second `lab up` reuses them.
 *
 * @module
 */
import {
  buildDir,
  type CachedImage,
  commitEntry,
  contentKey,
  entryDir,
  ImageBuildError,
  pruneEntries,
  readEntry,
  removeTree,
} from "./_image_cache.ts";
import {
  hostPrograms,
  installDeno,
  installInto,
  repoVersion,
  skeinKeyParts,
  skeinLayer,
  skeinRepo,
} from "./_skein_stage.ts";
import { type ImageConfig, writeImageArchive } from "./image_archive.ts";
import { fileSource, withParents } from "./tar_fs.ts";
import type { TarEntry } from "./tar.ts";

export { ImageBuildError };

/** The busybox image, also the kubelet's / containerd's sandbox (pause) image. */
export const BUSYBOX_IMAGE = "skein.local/busybox:latest";

/** The skein image's reference for skein `version`. */
export function skeinImageRef(version: string): string {
  return `skein.local/skein:${version}`;
}

/**
 * The busybox image's default command, which makes it a pod sandbox: sleep until SIGTERM or
 * SIGINT, then exit 0 (a bare `sleep` as PID 1 ignores SIGTERM: PID 1 has no default actions).
 */
export const PAUSE_COMMAND = [
  "/bin/sh",
  "-c",
  "trap 'kill $! 2>/dev/null; exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
];

/** Where the skein image keeps its lib (install.sh's `<prefix>/lib/skein` for /usr/local). */
export const SKEIN_IMAGE_LIB = "/usr/local/lib/skein";

/** Bump when what the builders put into an image changes, so old cache entries are not used. */
const BUILD_REV = "1";

/** A built (or cached) image archive. */
export interface BuiltImage {
  ref: string;
  /** The docker-archive tar, for {@link importImage}. */
  archive: string;
  /** "sha256:..." of the image config. */
  id: string;
  /** Archive size in bytes. */
  size: number;
  /** True when the archive came from the cache. */
  cached: boolean;
  /** Time spent here (hashing the inputs, and building when not cached), ms. */
  ms: number;
  /**
   * For a skein image: whether /usr/local/bin/skein is install.sh's launcher (no `deno compile`
   * runtime here) rather than a compiled binary. The launcher runs Deno and the module graph
   * under {@link SKEIN_IMAGE_LIB}, so the plugin it becomes on a node needs that tree there too:
   * the DaemonSet's init container copies it to the node's /usr/local/lib/skein.
   */
  launcher?: boolean;
}

/** Options of the image builders. */
export interface ImageBuildOptions {
  /** The cache directory, default $SKEIN_IMAGE_CACHE or /var/cache/skein/images. */
  cacheDir?: string;
  /** The static busybox to use, default /bin/busybox (Debian's busybox-static). */
  busybox?: string;
  /** Progress lines ("building skein.local/skein:0.1.0 ..."). */
  log?: (line: string) => void;
}

/** The default image cache directory. */
export function defaultImageCacheDir(): string {
  return Deno.env.get("SKEIN_IMAGE_CACHE") ?? "/var/cache/skein/images";
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const enc = new TextEncoder();

/** The applets of a busybox binary (`busybox --list-full`: "usr/bin/awk", ...). */
function busyboxApplets(busybox: string): string[] {
  let out;
  try {
    out = new Deno.Command(busybox, { args: ["--list-full"], stdout: "piped", stderr: "null" })
      .outputSync();
  } catch (e) {
    throw new ImageBuildError(
      `Cannot run ${busybox}: ${(e as Error).message} (apt-get install busybox-static)`,
      { cause: e },
    );
  }
  if (!out.success) throw new ImageBuildError(`${busybox} --list-full failed`);
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim())
    .filter((l) => l.includes("/") && l !== "bin/busybox");
}

/**
 * The busybox layer: /bin/busybox, a symlink to it for every applet at busybox's own install
 * path (/bin/sh, /usr/bin/install, /sbin/ip, ...), /etc/passwd and /etc/group with root, and
 * /root and /tmp. Throws ImageBuildError when `busybox` cannot run.
 */
export function busyboxLayer(busybox = "/bin/busybox"): TarEntry[] {
  const applets = busyboxApplets(busybox);
  const entries: TarEntry[] = [
    { type: "dir", path: "bin" },
    { type: "dir", path: "etc" },
    { type: "dir", path: "root", mode: 0o700 },
    { type: "dir", path: "tmp", mode: 0o1777 },
    { type: "file", path: "bin/busybox", mode: 0o755, content: fileSource(busybox) },
    {
      type: "file",
      path: "etc/passwd",
      content: enc.encode("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
    },
    { type: "file", path: "etc/group", content: enc.encode("root:x:0:\nnogroup:x:65534:\n") },
    ...applets.map((path): TarEntry => ({ type: "symlink", path, target: "/bin/busybox" })),
  ];
  return withParents(entries);
}

/**
 * Builds `skein.local/busybox:latest` (or finds it in the cache). Its default command is
 * {@link PAUSE_COMMAND}, so it serves as containerd's `sandbox_image` too.
 */
export async function buildBusyboxImage(o: ImageBuildOptions = {}): Promise<BuiltImage> {
  const t0 = performance.now();
  const busybox = o.busybox ?? "/bin/busybox";
  if (!exists(busybox)) {
    throw new ImageBuildError(`${busybox} is missing: apt-get install busybox-static`);
  }
  const cacheDir = o.cacheDir ?? defaultImageCacheDir();
  const config: ImageConfig = { cmd: PAUSE_COMMAND };
  const key = await contentKey([BUILD_REV, JSON.stringify(config), { file: busybox }]);
  return await cachedOrBuilt(
    { cacheDir, name: "busybox", key, t0, log: o.log, ref: BUSYBOX_IMAGE },
    async (tmp) => {
      const img = await writeImageArchive({
        path: `${tmp}/image.tar`,
        ref: BUSYBOX_IMAGE,
        layers: [busyboxLayer(busybox)],
        config,
      });
      return { ref: img.ref, id: img.id, size: img.size };
    },
  );
}

interface CacheSlot {
  cacheDir: string;
  name: string;
  key: string;
  t0: number;
  ref: string;
  log?: (line: string) => void;
}

/** The cached entry for the slot, or `build(tmp)` committed into the cache. */
async function cachedOrBuilt(
  s: CacheSlot,
  build: (tmp: string) => Promise<CachedImage>,
): Promise<BuiltImage> {
  const dir = entryDir(s.cacheDir, s.name, s.key);
  const result = (meta: CachedImage, cached: boolean): BuiltImage => ({
    ref: meta.ref,
    archive: `${dir}/image.tar`,
    id: meta.id,
    size: meta.size,
    cached,
    ms: Math.round(performance.now() - s.t0),
    ...(typeof meta.notes?.launcher === "boolean" ? { launcher: meta.notes.launcher } : {}),
  });
  const hit = readEntry(dir);
  if (hit) return result(hit, true);
  s.log?.(`building image ${s.ref} in ${dir}`);
  const tmp = buildDir(s.cacheDir, s.name);
  let meta: CachedImage;
  try {
    meta = commitEntry(tmp, dir, await build(tmp));
  } catch (e) {
    removeTree(tmp);
    throw e;
  }
  pruneEntries(s.cacheDir, s.name);
  return result(meta, false);
}

/** Options of {@link buildSkeinImage}. */
export interface SkeinImageOptions extends ImageBuildOptions {
  /** The source checkout to install from, default the one this module belongs to. */
  repo?: string;
  /** The image's tag, default the version of the sources in `repo` (their version.ts). */
  version?: string;
}

/**
 * Builds `skein.local/skein:<version>` (or finds it in the cache, keyed by the sources,
 * install.sh, Deno, nft, install, the libraries and busybox): the busybox layer, then skein as
 * `install.sh --prefix /usr/local` installs it, `nft` and coreutils' `install` (see
 * hostPrograms()), and the libraries (`ldd`) with the loader. Its default command is `skein version`; the DaemonSet names its own. Cold: about the
 * time of install.sh plus writing ~200 MB; warm: hashing the inputs (~0.5 s).
 */
export async function buildSkeinImage(o: SkeinImageOptions = {}): Promise<BuiltImage> {
  const t0 = performance.now();
  const repo = o.repo ?? skeinRepo();
  const busybox = o.busybox ?? "/bin/busybox";
  if (!exists(busybox)) {
    throw new ImageBuildError(`${busybox} is missing: apt-get install busybox-static`);
  }
  const programs = hostPrograms();
  const deno = installDeno(repo);
  const ref = skeinImageRef(o.version ?? repoVersion(repo));
  const config: ImageConfig = { cmd: ["/usr/local/bin/skein", "version"] };
  const key = await contentKey([
    BUILD_REV,
    ref,
    JSON.stringify(config),
    { file: busybox },
    ...skeinKeyParts(repo, deno, programs),
  ]);
  const cacheDir = o.cacheDir ?? defaultImageCacheDir();
  return await cachedOrBuilt({ cacheDir, name: "skein", key, t0, log: o.log, ref }, async (tmp) => {
    const stage = `${tmp}/usr-local`;
    const { launcher } = await installInto(repo, stage);
    const img = await writeImageArchive({
      path: `${tmp}/image.tar`,
      ref,
      layers: [busyboxLayer(busybox), skeinLayer(stage, programs, launcher)],
      config,
    });
    removeTree(stage);
    return { ref, id: img.id, size: img.size, notes: { launcher } };
  });
}

/** `ctr images import` failed. */
export class ImageImportError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ImageImportError";
  }
}

/** Options of {@link importImage}. */
export interface ImportImageOptions {
  /** containerd's socket, as the `exec` prefix's namespace sees it. */
  socket: string;
  /** The archive, a path in this process's view (ctr reads it on stdin). */
  archive: string;
  /** containerd namespace, default "k8s.io" (the CRI plugin's). */
  namespace?: string;
  /**
   * A command prefix that runs ctr where the socket is, e.g. a node's
   * `["nsenter", "--mount=PIN", "--net=/run/netns/NS"]` (lab/k8s/types.ts nodeEnterArgs()).
   */
  exec?: string[];
  /** Unpack into this snapshotter (the CRI plugin's), default containerd's default. */
  snapshotter?: string;
}

/**
 * Imports an image archive into containerd: `[EXEC...] ctr -a SOCKET -n NAMESPACE images
 * import [--snapshotter S] - < ARCHIVE`. The archive goes through stdin, so it need not be
 * visible in the mount namespace ctr runs in. Throws ImageImportError with ctr's message.
 */
export async function importImage(o: ImportImageOptions): Promise<void> {
  const argv = [
    ...(o.exec ?? []),
    "ctr",
    "-a",
    o.socket,
    "-n",
    o.namespace ?? "k8s.io",
    "images",
    "import",
    ...(o.snapshotter ? ["--snapshotter", o.snapshotter] : []),
    "-",
  ];
  const file = await Deno.open(o.archive, { read: true });
  let child;
  try {
    child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    file.close();
    throw new ImageImportError(`Cannot run ${argv.join(" ")}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const [out] = await Promise.all([
    child.output(),
    file.readable.pipeTo(child.stdin).catch(() => {/* ctr exited early: its stderr says why */}),
  ]);
  if (!out.success) {
    const dec = new TextDecoder();
    throw new ImageImportError(
      `${argv.join(" ")} < ${o.archive} failed (exit ${out.code}): ` +
        (dec.decode(out.stderr) + dec.decode(out.stdout)).trim(),
    );
  }
}

/** Both lab images (built or from the cache). */
export async function buildLabImages(
  o: SkeinImageOptions = {},
): Promise<{ busybox: BuiltImage; skein: BuiltImage }> {
  return { busybox: await buildBusyboxImage(o), skein: await buildSkeinImage(o) };
}
