/**
 * Container image archives in the docker-archive format (`docker save`'s: `manifest.json`, the
 * image config `<sha256>.json`, one uncompressed `<sha256>/layer.tar` per layer), which
 * `ctr images import`, `podman load` and `docker load` all read. Written by the project with
 * its own tar writer (./tar.ts); deterministic: the same layers and config give the same bytes,
 * so the same image id (the config's sha256).
 *
 * Why docker-archive and not an OCI layout: it names the image (`RepoTags`) in full, so
 * `ctr images import` creates exactly `skein.local/busybox:latest` with no `--base-name`, and it
 * has one file fewer to get right (no index/manifest blobs; containerd writes the manifest).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { fileSource } from "./tar_fs.ts";
import { type TarEntry, tarStream } from "./tar.ts";

/** What runs by default in a container of the image (the image config's `config` part). */
export interface ImageConfig {
  /** Default arguments (`CMD`). */
  cmd?: string[];
  /** Default program (`ENTRYPOINT`). */
  entrypoint?: string[];
  /** Environment, "NAME=value"; default PATH covers /usr/local/{s,}bin, /usr/{s,}bin, /{s,}bin. */
  env?: string[];
  /** Working directory, default "/". */
  workingDir?: string;
  labels?: Record<string, string>;
}

/** Options for {@link writeImageArchive}. */
export interface ImageArchiveOptions {
  /** The archive file to write (replaced atomically). */
  path: string;
  /** Full image reference ("skein.local/busybox:latest"). */
  ref: string;
  /** Layers, bottom first; each a list of tar entries. */
  layers: Array<Iterable<TarEntry> | AsyncIterable<TarEntry>>;
  config?: ImageConfig;
  /** The config's `created` time, default the epoch (fixed, so builds repeat bit for bit). */
  created?: string;
}

/** An image archive on disk. */
export interface ImageArchive {
  path: string;
  ref: string;
  /** The image id: "sha256:" + the sha256 of its config JSON. */
  id: string;
  /** Each layer's digest (the uncompressed tar's sha256, the config's `rootfs.diff_ids`). */
  diffIds: string[];
  /** Archive size in bytes. */
  size: number;
}

/** A writer that gathers small chunks into 1 MiB writes and hashes what it writes. */
class HashingFile {
  readonly #file: Deno.FsFile;
  readonly #hash = createHash("sha256");
  readonly #buf = new Uint8Array(1 << 20);
  #used = 0;
  size = 0;

  constructor(path: string) {
    this.#file = Deno.openSync(path, { write: true, create: true, truncate: true, mode: 0o644 });
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#hash.update(chunk);
    this.size += chunk.length;
    if (this.#used + chunk.length > this.#buf.length) await this.#flush();
    if (chunk.length >= this.#buf.length) {
      await writeAll(this.#file, chunk);
      return;
    }
    this.#buf.set(chunk, this.#used);
    this.#used += chunk.length;
  }

  async #flush(): Promise<void> {
    await writeAll(this.#file, this.#buf.subarray(0, this.#used));
    this.#used = 0;
  }

  /** Flushes, closes, and returns the hex sha256 of everything written. */
  async close(): Promise<string> {
    await this.#flush();
    this.#file.close();
    return this.#hash.digest("hex");
  }

  /** Closes without flushing (after a failure). */
  abort(): void {
    try {
      this.#file.close();
    } catch {
      // closed
    }
  }
}

async function writeAll(f: Deno.FsFile, b: Uint8Array): Promise<void> {
  for (let off = 0; off < b.length;) off += await f.write(b.subarray(off));
}

/** Streams a tar of `entries` into `path`; returns its hex sha256 and size. */
export async function writeTarFile(
  path: string,
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
): Promise<{ sha256: string; size: number }> {
  const out = new HashingFile(path);
  try {
    for await (const chunk of tarStream(entries)) await out.write(chunk);
  } catch (e) {
    out.abort();
    throw e;
  }
  const size = out.size;
  return { sha256: await out.close(), size };
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The image config JSON (docker image spec v1.2 / OCI image config). */
export function imageConfigJson(
  diffIds: string[],
  config: ImageConfig = {},
  created = new Date(0).toISOString(),
): string {
  const c: Record<string, unknown> = {
    Env: config.env ?? [DEFAULT_PATH],
    WorkingDir: config.workingDir ?? "/",
  };
  if (config.entrypoint) c.Entrypoint = config.entrypoint;
  if (config.cmd) c.Cmd = config.cmd;
  if (config.labels) c.Labels = config.labels;
  return JSON.stringify({
    architecture: "amd64",
    os: "linux",
    created,
    config: c,
    rootfs: { type: "layers", diff_ids: diffIds },
    history: diffIds.map(() => ({ created, created_by: "skein lab/k8s/images.ts" })),
  });
}

function sha256Hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/**
 * Writes a docker-archive image (`docker save` layout) at `o.path`: each layer is streamed into
 * a temporary tar beside it (hashed on the way), then the archive holds `<digest>/layer.tar`
 * per distinct layer, the config `<digest>.json` and `manifest.json` naming `o.ref`. Nothing is
 * left but the archive, which appears atomically. Equivalent: `docker save -o PATH REF`.
 *
 * @example
 * ```ts ignore
 * const img = await writeImageArchive({
 *   path: "/tmp/hello.tar",
 *   ref: "skein.local/hello:latest",
 *   layers: [[{ type: "file", path: "hello", mode: 0o755, content: bytes }]],
 *   config: { cmd: ["/hello"] },
 * });
 * // ctr -n k8s.io images import /tmp/hello.tar
 * ```
 */
export async function writeImageArchive(o: ImageArchiveOptions): Promise<ImageArchive> {
  const tmp = `${o.path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const layerFiles: string[] = [];
  try {
    const layers: Array<{ sha256: string; file: string; size: number }> = [];
    for (const [i, entries] of o.layers.entries()) {
      const file = `${tmp}.layer${i}`;
      layerFiles.push(file);
      layers.push({ file, ...await writeTarFile(file, entries) });
    }
    const diffIds = layers.map((l) => `sha256:${l.sha256}`);
    const configBytes = new TextEncoder().encode(imageConfigJson(diffIds, o.config, o.created));
    const configHex = sha256Hex(configBytes);
    const manifest = [{
      Config: `${configHex}.json`,
      RepoTags: [o.ref],
      Layers: layers.map((l) => `${l.sha256}/layer.tar`),
    }];
    const entries: TarEntry[] = [];
    const written = new Set<string>();
    for (const l of layers) {
      if (written.has(l.sha256)) continue; // the same layer twice: stored once
      written.add(l.sha256);
      entries.push({ type: "dir", path: l.sha256 });
      entries.push({
        type: "file",
        path: `${l.sha256}/layer.tar`,
        content: fileSource(l.file, l.size),
      });
    }
    entries.push({ type: "file", path: `${configHex}.json`, content: configBytes });
    entries.push({
      type: "file",
      path: "manifest.json",
      content: new TextEncoder().encode(JSON.stringify(manifest)),
    });
    const { size } = await writeTarFile(tmp, entries);
    Deno.renameSync(tmp, o.path);
    return { path: o.path, ref: o.ref, id: `sha256:${configHex}`, diffIds, size };
  } finally {
    for (const f of [...layerFiles, tmp]) {
      try {
        Deno.removeSync(f);
      } catch {
        // not made, or already renamed
      }
    }
  }
}
