/**
 * The skein image's layer: skein installed by the project's own install.sh under /usr/local
 * (run in a private mount namespace in which a staging directory is mounted on /usr/local, so
 * every path install.sh records, the launcher's included, is the one the image has), plus
 * `nft` and the shared libraries both programs load.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { elfDeps } from "./_elf_deps.ts";
import { ImageBuildError, type KeyPart } from "./_image_cache.ts";
import { dirEntries, fileSource, withParents } from "./tar_fs.ts";
import type { TarEntry } from "./tar.ts";

const dec = new TextDecoder();

/** The source tree that has install.sh: this module's checkout, or ImageBuildError. */
export function skeinRepo(moduleUrl: string = import.meta.url): string {
  const url = new URL("../../", moduleUrl);
  const repo = url.protocol === "file:" ? decodeURIComponent(url.pathname).replace(/\/$/, "") : "";
  if (!repo || !exists(`${repo}/install.sh`)) {
    throw new ImageBuildError(
      `Cannot build the skein image: no install.sh beside skein's sources (${url.href}); ` +
        "build it from a source checkout (git clone; skein lab up --kubernetes)",
    );
  }
  return repo;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * skein's version as the sources in `repo` declare it (version.ts's `VERSION = "..."`, read as
 * text: lab/ may not import the root module): the tag of an image built from them.
 */
export function repoVersion(repo: string): string {
  let text = "";
  try {
    text = Deno.readTextFileSync(`${repo}/version.ts`);
  } catch (e) {
    throw new ImageBuildError(`Cannot read skein's version: ${(e as Error).message}`, { cause: e });
  }
  const m = /export const VERSION = "([0-9A-Za-z.+-]+)";/.exec(text);
  if (!m) {
    throw new ImageBuildError(`Cannot read skein's version: no VERSION in ${repo}/version.ts`);
  }
  return m[1]!;
}

/** The files install.sh copies (its `find`): modules but tests, deno.json/.lock, version_fast.sh. */
export function installedSources(repo: string): string[] {
  const out: string[] = [];
  const prune = new Set(["./.tools", "./dist", "./tests", "./.git"]);
  const walk = (rel: string) => {
    const names = [...Deno.readDirSync(`${repo}/${rel}`)].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
    for (const e of names) {
      const r = `${rel}/${e.name}`;
      if (prune.has(r)) continue;
      if (e.isDirectory) walk(r);
      else if (
        (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) ||
        ["deno.json", "deno.lock", "version_fast.sh"].includes(e.name)
      ) out.push(r.slice(2));
    }
  };
  walk(".");
  return out;
}

/** The Deno install.sh uses (scripts/ensure-deno.sh, which installs it if needed). */
export function installDeno(repo: string): string {
  const out = new Deno.Command("bash", {
    args: [`${repo}/scripts/ensure-deno.sh`],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const path = dec.decode(out.stdout).trim().split("\n").pop() ?? "";
  if (!out.success || !path) {
    throw new ImageBuildError(`Cannot find skein's Deno: ${dec.decode(out.stderr).trim()}`);
  }
  return path;
}

/**
 * Host programs the skein image carries besides skein: `nft` (the daemon's ipMasq and GC rules)
 * and coreutils' `install` (the DaemonSet's init container runs `install -m 0755 ...`; Debian's
 * busybox has no install applet). Paths on this machine, or ImageBuildError.
 */
export function hostPrograms(): string[] {
  const want = [
    { name: "nft", pkg: "nftables" },
    { name: "install", pkg: "coreutils" },
  ];
  return want.map(({ name, pkg }) => {
    const path = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map((d) => `${d}/${name}`).find(exists);
    if (!path) {
      throw new ImageBuildError(
        `Cannot build the skein image: ${name} is missing (apt-get install ${pkg})`,
      );
    }
    return path;
  });
}

/** The libraries `programs` load (`ldd`), sorted, each once. */
function librariesOf(programs: string[]): string[] {
  return [...new Set(programs.flatMap((p) => elfDeps(p)))].sort();
}

/** Everything the skein layer is made of, as cache-key parts (files hashed by content). */
export function skeinKeyParts(repo: string, deno: string, programs: string[]): KeyPart[] {
  const parts: KeyPart[] = [{ file: `${repo}/install.sh` }, { file: deno }];
  for (const p of programs) parts.push(p, { file: p });
  for (const s of installedSources(repo)) parts.push(s, { file: `${repo}/${s}` });
  for (const lib of librariesOf([deno, ...programs])) parts.push(lib, { file: lib });
  return parts;
}

/**
 * Runs `install.sh --no-deps --prefix /usr/local` with `stage` mounted on /usr/local in a
 * private mount namespace (nothing is mounted or written outside `stage`): `stage/bin/skein`
 * and `stage/lib/skein` are then what an install on a machine holds. Returns whether skein
 * came out as the launcher (no `deno compile` runtime) rather than a compiled binary.
 */
export async function installInto(repo: string, stage: string): Promise<{ launcher: boolean }> {
  Deno.mkdirSync(stage, { recursive: true });
  const out = await new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount --bind "$1" /usr/local && exec bash "$2" --no-deps --prefix /usr/local ' +
      "--cni-bin-dir /usr/local/.cni-unused",
      "sh",
      stage,
      `${repo}/install.sh`,
    ],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = (dec.decode(out.stdout) + dec.decode(out.stderr)).trim();
  if (!out.success) {
    throw new ImageBuildError(
      `Cannot build the skein image: install.sh failed (exit ${out.code}):\n` +
        log.split("\n").slice(-15).join("\n"),
    );
  }
  settleDenoDir(`${stage}/lib/skein/cache`);
  return { launcher: startsWith(`${stage}/bin/skein`, "#!") };
}

/** Whether the file at `path` starts with `magic` (ASCII). */
function startsWith(path: string, magic: string): boolean {
  const head = new Uint8Array(magic.length);
  const f = Deno.openSync(path);
  try {
    return f.readSync(head) === magic.length && new TextDecoder().decode(head) === magic;
  } finally {
    f.close();
  }
}

/**
 * Makes a DENO_DIR written by install.sh the same from one build to the next, so the same
 * inputs give the same image id: each SQLite cache is checkpointed and closed (its write-ahead
 * log folded in, the -wal and -shm files gone), and the module-analysis cache, whose rows differ
 * between runs and which Deno refills on first use, is removed. The npm packages, the emitted
 * modules and V8's code cache (install.sh warms it for the CNI path) stay.
 */
export function settleDenoDir(dir: string): void {
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name);
  } catch {
    return; // no DENO_DIR: nothing to settle
  }
  const remove = (n: string) => {
    try {
      Deno.removeSync(`${dir}/${n}`);
    } catch {
      // gone already (SQLite removes its -wal and -shm files when it closes)
    }
  };
  for (const n of names.filter((n) => n.startsWith("dep_analysis_cache"))) remove(n);
  for (const n of names) {
    if (/-(wal|shm|journal)$/.test(n) || n.startsWith("dep_analysis_cache")) continue;
    if (!startsWith(`${dir}/${n}`, "SQLite format 3\0")) continue;
    const db = new DatabaseSync(`${dir}/${n}`);
    try {
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      db.close();
    }
  }
  for (const n of names.filter((n) => /-(wal|shm)$/.test(n))) remove(n);
}

/**
 * The skein layer from an installed `stage`: /usr/local/bin/skein; with the `launcher`,
 * /usr/local/lib/skein (Deno, sources, DENO_DIR; without `cache/dl`, the bundler's esbuild,
 * needed only by install.sh), which a compiled binary does not need (then the manifest's init
 * container finds no lib to copy); the host `programs` at their own paths; and every library
 * `ldd` names for skein's executable (Deno, or the compiled binary) and the programs, at the
 * path it names (its contents dereferenced), the dynamic loader included.
 */
export function skeinLayer(stage: string, programs: string[], launcher: boolean): TarEntry[] {
  const lib = launcher
    ? dirEntries(`${stage}/lib/skein`, { prefix: "usr/local/lib/skein", exclude: ["cache/dl"] })
    : [];
  const exe = launcher ? `${stage}/lib/skein/deno` : `${stage}/bin/skein`;
  const libs = librariesOf([exe, ...programs]);
  const host: TarEntry[] = [...programs, ...libs].map((p) => ({
    type: "file",
    path: p.slice(1),
    mode: (Deno.statSync(p).mode ?? 0o755) & 0o7777,
    content: fileSource(Deno.realPathSync(p)),
  }));
  const bin = fileSource(`${stage}/bin/skein`);
  return withParents([
    { type: "dir", path: "usr/local/bin" },
    { type: "file", path: "usr/local/bin/skein", mode: 0o755, content: bin },
    ...lib,
    ...host,
  ]);
}
