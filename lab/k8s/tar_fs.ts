/**
 * Tar entries from the file system: a file read while the archive is written, and a whole
 * directory tree in a fixed order (what `tar -C DIR -cf - --sort=name .` would hold, with
 * uid/gid 0 and one fixed mtime, so the same tree gives the same archive).
 *
 * @module
 */
import type { TarEntry, TarSource } from "./tar.ts";

/** A file on disk as a tar source of `size` bytes (stat'ed now, read when written). */
export function fileSource(path: string, size = Deno.statSync(path).size): TarSource {
  return {
    size,
    async *read() {
      const f = await Deno.open(path, { read: true });
      try {
        while (true) {
          const buf = new Uint8Array(256 * 1024);
          const n = await f.read(buf);
          if (n === null) return;
          yield buf.subarray(0, n);
        }
      } finally {
        f.close();
      }
    },
  };
}

/** Options for {@link dirEntries}. */
export interface DirEntriesOptions {
  /** Prefix of every path in the archive ("usr/local/lib/skein"); none by default. */
  prefix?: string;
  /** Paths relative to the directory to leave out, with what is below them ("cache/dl"). */
  exclude?: string[];
}

/**
 * The entries of the tree under `dir` (not `dir` itself), sorted by name, depth first:
 * directories, regular files (streamed from disk, permission bits kept), symlinks (target kept
 * as it is) and hard links (a second path of the same inode becomes a hard link to the first).
 * Throws on other file types (devices, sockets, fifos), which an image has no use for.
 */
export function dirEntries(dir: string, opts: DirEntriesOptions = {}): TarEntry[] {
  const out: TarEntry[] = [];
  const seen = new Map<string, string>();
  const exclude = new Set(opts.exclude ?? []);
  const walk = (rel: string) => {
    const names = [...Deno.readDirSync(rel ? `${dir}/${rel}` : dir)].map((e) => e.name).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      if (exclude.has(r)) continue;
      const host = `${dir}/${r}`;
      const path = opts.prefix ? `${opts.prefix}/${r}` : r;
      const st = Deno.lstatSync(host);
      const mode = (st.mode ?? 0o644) & 0o7777;
      if (st.isSymlink) {
        out.push({ type: "symlink", path, target: Deno.readLinkSync(host), mode });
      } else if (st.isDirectory) {
        out.push({ type: "dir", path, mode });
        walk(r);
      } else if (st.isFile) {
        const inode = `${st.dev}:${st.ino}`;
        const first = (st.nlink ?? 1) > 1 ? seen.get(inode) : undefined;
        if (first) {
          out.push({ type: "hardlink", path, target: first, mode });
        } else {
          seen.set(inode, path);
          out.push({ type: "file", path, mode, content: fileSource(host, st.size) });
        }
      } else {
        throw new Error(`Cannot archive ${host}: not a file, directory or symlink`);
      }
    }
  };
  walk("");
  return out;
}

/**
 * `entries` with a directory entry (mode 0755) added before the first entry below each parent
 * directory that has none, so an archive never names a file whose directory it lacks.
 */
export function withParents(entries: Iterable<TarEntry>): TarEntry[] {
  const have = new Set<string>();
  const out: TarEntry[] = [];
  for (const e of entries) {
    const parts = e.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (have.has(d)) continue;
      have.add(d);
      out.push({ type: "dir", path: d });
    }
    if (e.type === "dir") {
      if (have.has(e.path)) continue;
      have.add(e.path);
    }
    out.push(e);
  }
  return out;
}
