import { assert, assertEquals, assertRejects, assertThrows } from "../../testing/assert.ts";
import { dirEntries, fileSource, withParents } from "./tar_fs.ts";
import { encodeTar, type TarEntry, TarError, tarHeader, tarSize, tarStream } from "./tar.ts";

const enc = new TextEncoder();

/** GNU tar as the oracle; skips (returns undefined) when it is not installed. */
function gnuTar(args: string[]): string | undefined {
  let out;
  try {
    out = new Deno.Command("tar", { args, stdout: "piped", stderr: "piped" }).outputSync();
  } catch {
    return undefined;
  }
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`tar ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

async function collect(entries: TarEntry[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of tarStream(entries)) parts.push(c);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const longDir = Array.from({ length: 12 }, (_, i) => `directory-${i}`).join("/"); // 140 bytes
const veryLong = `${longDir}/${"x".repeat(120)}/${"y".repeat(30)}.txt`; // no ustar split fits

function sample(): TarEntry[] {
  return withParents([
    { type: "dir", path: "bin" },
    { type: "file", path: "bin/tool", mode: 0o755, content: enc.encode("#!/bin/sh\necho hi\n") },
    { type: "symlink", path: "bin/sh", target: "tool" },
    { type: "hardlink", path: "bin/tool2", target: "bin/tool", mode: 0o755 },
    { type: "file", path: "empty", content: new Uint8Array(0) },
    { type: "file", path: "block", content: new Uint8Array(512).fill(7) },
    { type: "dir", path: "tmp", mode: 0o1777 },
    { type: "file", path: `${longDir}/short-name`, content: enc.encode("split\n") },
    { type: "file", path: veryLong, content: enc.encode("pax path\n") },
    { type: "symlink", path: "far", target: `/${veryLong}` },
    { type: "file", path: "grüße/naïve.txt", content: enc.encode("utf-8\n") },
  ]);
}

Deno.test("tar: GNU tar lists every entry with its type, mode, size and link target", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-tar-" });
  try {
    Deno.writeFileSync(`${dir}/a.tar`, encodeTar(sample()));
    const listing = gnuTar(["--numeric-owner", "-tvf", `${dir}/a.tar`]);
    if (listing === undefined) return;
    const lines = listing.trimEnd().split("\n");
    const line = (name: string) => lines.find((l) => l.endsWith(` ${name}`)) ?? "";
    assert(line("bin/tool").startsWith("-rwxr-xr-x 0/0"), line("bin/tool"));
    assert(line("bin/sh -> tool").startsWith("lrwxrwxrwx"), listing);
    assert(line("bin/tool2 link to bin/tool").startsWith("hrwxr-xr-x"), listing);
    assert(line("tmp/").startsWith("drwxrwxrwt"), listing);
    assert(line("block").includes(" 512 1970-01-01 00:00 block"), line("block"));
    assert(line(veryLong).startsWith("-rw-r--r--"), listing);
    assert(line(`far -> /${veryLong}`).startsWith("l"), listing);
    assert(line("grüße/naïve.txt").startsWith("-rw-r--r--"), listing);
    // Every entry once, parents before children, no PaxHeaders members shown.
    const names = gnuTar(["-tf", `${dir}/a.tar`])!.trimEnd().split("\n");
    assertEquals(names.length, sample().length);
    assertEquals(names.filter((n) => n.includes("PaxHeaders")), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("tar: GNU tar extracts the same contents, modes, links and long paths", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-tar-" });
  try {
    Deno.writeFileSync(`${dir}/a.tar`, encodeTar(sample()));
    Deno.mkdirSync(`${dir}/x`);
    if (gnuTar(["-xpf", `${dir}/a.tar`, "-C", `${dir}/x`]) === undefined) return;
    const x = (p: string) => `${dir}/x/${p}`;
    assertEquals(Deno.readTextFileSync(x("bin/tool")), "#!/bin/sh\necho hi\n");
    assertEquals(Deno.statSync(x("bin/tool")).mode! & 0o7777, 0o755);
    assertEquals(Deno.readLinkSync(x("bin/sh")), "tool");
    assertEquals(Deno.statSync(x("bin/tool2")).ino, Deno.statSync(x("bin/tool")).ino);
    assertEquals(Deno.statSync(x("tmp")).mode! & 0o7777, 0o1777);
    assertEquals(Deno.readFileSync(x("empty")).length, 0);
    assertEquals(Deno.readFileSync(x("block")), new Uint8Array(512).fill(7));
    assertEquals(Deno.readTextFileSync(x(`${longDir}/short-name`)), "split\n");
    assertEquals(Deno.readTextFileSync(x(veryLong)), "pax path\n");
    assertEquals(Deno.readLinkSync(x("far")), `/${veryLong}`);
    assertEquals(Deno.readTextFileSync(x("grüße/naïve.txt")), "utf-8\n");
    assertEquals(Deno.statSync(x("bin/tool")).mtime?.getTime(), 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("tar: a directory tree read back by dirEntries() archives what GNU tar archives", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-tar-" });
  try {
    Deno.writeFileSync(`${dir}/a.tar`, encodeTar(sample()));
    Deno.mkdirSync(`${dir}/x`);
    if (gnuTar(["-xpf", `${dir}/a.tar`, "-C", `${dir}/x`]) === undefined) return;
    const x = `${dir}/x`;
    const prefixed = dirEntries(x, { prefix: "root", exclude: ["empty"] });
    assertEquals(prefixed[0], { type: "dir", path: "root/bin", mode: 0o755 });
    assertEquals(prefixed.find((e) => e.path === "root/bin/tool2")?.type, "hardlink");
    assertEquals(prefixed.find((e) => e.path === "root/empty"), undefined);
    Deno.writeFileSync(`${dir}/b.tar`, await collect(dirEntries(x, { exclude: ["empty"] })));
    const ours = gnuTar(["--numeric-owner", "-tvf", `${dir}/b.tar`])!;
    const top = [...Deno.readDirSync(x)].map((e) => e.name).filter((n) => n !== "empty").sort();
    const theirs = gnuTar([
      "--numeric-owner",
      "--sort=name",
      "--mtime=@0",
      "--owner=0",
      "--group=0",
      "-C",
      x,
      "-cvvf",
      "/dev/null",
      ...top,
    ])!;
    const norm = (s: string) =>
      s.trimEnd().split("\n").map((l) => l.replace(/ +/g, " ").replace(/\/$/, "")).sort();
    assertEquals(norm(ours), norm(theirs));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("tar: streamed and in-memory output are the same bytes, and tarSize() knows the length", async () => {
  const a = encodeTar(sample());
  assertEquals(await collect(sample()), a);
  assertEquals(tarSize(sample()), a.length);
  assertEquals(a.length % 512, 0);
  assertEquals(encodeTar(sample()), a, "deterministic");
  const streamed: TarEntry = {
    type: "file",
    path: "s",
    content: {
      size: 3,
      read: async function* () {
        yield enc.encode("ab");
        yield enc.encode("c");
      },
    },
  };
  const inMem: TarEntry = { type: "file", path: "s", content: enc.encode("abc") };
  assertEquals(await collect([streamed]), encodeTar([inMem]));
});

Deno.test("tar: a source that yields the wrong number of bytes, or a bad path, is a TarError", async () => {
  const short: TarEntry = {
    type: "file",
    path: "s",
    content: {
      size: 5,
      read: async function* () {
        yield enc.encode("abc");
      },
    },
  };
  await assertRejects(() => collect([short]), TarError);
  const long: TarEntry = {
    type: "file",
    path: "s",
    content: {
      size: 2,
      read: async function* () {
        yield enc.encode("abc");
      },
    },
  };
  await assertRejects(() => collect([long]), TarError);
  for (const path of ["/abs", "a/../b", "a//b", "", "./a", "a/"]) {
    assertThrows(() => tarHeader({ type: "dir", path }), TarError);
  }
  assertThrows(() => tarHeader({ type: "hardlink", path: "a", target: "/x" }), TarError);
  assertThrows(() =>
    tarHeader({ type: "file", path: "a", mode: 0o10000, content: enc.encode("") })
  );
  assertThrows(() => encodeTar([short]), TarError);
});

Deno.test("tar: fileSource() streams a file and withParents() adds each missing directory once", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-tar-" });
  try {
    const big = new Uint8Array(600_000).map((_, i) => i % 251);
    Deno.writeFileSync(`${dir}/f`, big);
    const src = fileSource(`${dir}/f`);
    assertEquals(src.size, big.length);
    const parts: Uint8Array[] = [];
    for await (const c of src.read()) parts.push(c);
    assertEquals(parts.reduce((n, p) => n + p.length, 0), big.length);
    const e = withParents([
      { type: "file", path: "a/b/c", content: enc.encode("") },
      { type: "dir", path: "a/b" },
      { type: "symlink", path: "a/d/e", target: "x" },
    ]);
    assertEquals(e.map((x) => `${x.type} ${x.path}`), [
      "dir a",
      "dir a/b",
      "file a/b/c",
      "dir a/d",
      "symlink a/d/e",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
