import { assert, assertEquals } from "../../testing/assert.ts";
import { VERSION } from "../../version.ts";
import { DatabaseSync } from "node:sqlite";
import {
  installedSources,
  repoVersion,
  settleDenoDir,
  skeinLayer,
  skeinRepo,
} from "./_skein_stage.ts";
import { BUSYBOX_IMAGE, busyboxLayer, PAUSE_COMMAND, skeinImageRef } from "./images.ts";

const haveBusybox = (() => {
  try {
    return Deno.statSync("/bin/busybox").isFile;
  } catch {
    return false;
  }
})();

Deno.test("image references: skein.local/busybox:latest and skein.local/skein:<VERSION>", () => {
  assertEquals(BUSYBOX_IMAGE, "skein.local/busybox:latest");
  assertEquals(skeinImageRef(VERSION), `skein.local/skein:${VERSION}`);
  assertEquals(skeinImageRef("9.9.9"), "skein.local/skein:9.9.9");
  assertEquals(repoVersion(skeinRepo()), VERSION, "the tag an image of these sources gets");
});

Deno.test({
  name:
    "busyboxLayer(): /bin/busybox, every applet a symlink to it, /tmp 1777, root in /etc/passwd",
  ignore: !haveBusybox,
  fn() {
    const layer = busyboxLayer("/bin/busybox");
    const by = new Map(layer.map((e) => [e.path, e]));
    assertEquals(by.get("bin/busybox")?.type, "file");
    for (const a of ["bin/sh", "bin/sleep", "bin/cp", "bin/mv"]) {
      const e = by.get(a);
      assert(e?.type === "symlink" && e.target === "/bin/busybox", a);
    }
    assertEquals(by.get("tmp")?.mode, 0o1777);
    assert(by.has("etc/passwd"));
    // Every parent directory comes before what is in it, each path once.
    const seen = new Set<string>();
    for (const e of layer) {
      const parent = e.path.split("/").slice(0, -1).join("/");
      assert(!parent || seen.has(parent), `${e.path} before ${parent}`);
      assert(!seen.has(e.path), `${e.path} twice`);
      seen.add(e.path);
    }
  },
});

Deno.test({
  name: "PAUSE_COMMAND: keeps running, then exits 0 on SIGTERM",
  ignore: !haveBusybox,
  async fn() {
    const [, flag, script] = PAUSE_COMMAND;
    const child = new Deno.Command("/bin/busybox", { args: ["sh", flag!, script!] }).spawn();
    await new Promise((r) => setTimeout(r, 300));
    child.kill("SIGTERM");
    const status = await child.status;
    assertEquals([status.code, status.signal], [0, null]);
  },
});

Deno.test("installedSources(): install.sh's selection (modules, deno.json/.lock), no tests", () => {
  const files = installedSources(skeinRepo());
  for (
    const f of ["main.ts", "deno.json", "deno.lock", "cni/version_fast.sh", "lab/k8s/images.ts"]
  ) {
    assert(files.includes(f), f);
  }
  assert(!files.some((f) => f.startsWith("tests/") || f.endsWith("_test.ts")));
});

Deno.test("skeinLayer(): the launcher brings /usr/local/lib/skein; a compiled binary only itself", () => {
  const stage = Deno.makeTempDirSync({ prefix: "skein-stage-" });
  try {
    // A stand-in install: this Deno as both the lib's deno and a "compiled" bin/skein.
    Deno.mkdirSync(`${stage}/bin`);
    Deno.mkdirSync(`${stage}/lib/skein/cache/dl`, { recursive: true });
    Deno.symlinkSync(Deno.execPath(), `${stage}/lib/skein/deno`);
    Deno.symlinkSync(Deno.execPath(), `${stage}/bin/skein`);
    Deno.writeTextFileSync(`${stage}/lib/skein/cache/dl/esbuild`, "x");
    const paths = (launcher: boolean) => skeinLayer(stage, [], launcher).map((e) => e.path);
    const withLib = paths(true);
    assert(withLib.includes("usr/local/bin/skein"));
    assert(withLib.includes("usr/local/lib/skein/deno"));
    assert(!withLib.some((p) => p.startsWith("usr/local/lib/skein/cache/dl")));
    const compiled = paths(false);
    assert(compiled.includes("usr/local/bin/skein"));
    assert(!compiled.some((p) => p.startsWith("usr/local/lib")), compiled.join(" "));
    for (const p of [withLib, compiled]) {
      assert(p.some((x) => /^lib\/x86_64-linux-gnu\/libc\.so\.6$/.test(x)), p.join(" "));
      assert(p.includes("lib64/ld-linux-x86-64.so.2"));
    }
  } finally {
    Deno.removeSync(stage, { recursive: true });
  }
});

Deno.test("settleDenoDir(): SQLite caches folded and closed (no -wal/-shm), analysis cache gone", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-denodir-" });
  try {
    // A cache as a live Deno leaves it: the database and its write-ahead log, copied while open.
    const live = Deno.makeTempDirSync({ dir, prefix: "live-" });
    const db = new DatabaseSync(`${live}/v8_code_cache_v2`);
    db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (k TEXT); INSERT INTO t VALUES ('warm')");
    const cache = `${dir}/cache`;
    Deno.mkdirSync(cache);
    for (const f of ["v8_code_cache_v2", "v8_code_cache_v2-wal", "v8_code_cache_v2-shm"]) {
      Deno.copyFileSync(`${live}/${f}`, `${cache}/${f}`);
    }
    db.close();
    for (const f of ["dep_analysis_cache_v2", "dep_analysis_cache_v2-wal"]) {
      Deno.writeTextFileSync(`${cache}/${f}`, "x");
    }
    Deno.mkdirSync(`${cache}/npm`);
    settleDenoDir(cache);
    assertEquals([...Deno.readDirSync(cache)].map((e) => e.name).sort(), [
      "npm",
      "v8_code_cache_v2",
    ]);
    const back = new DatabaseSync(`${cache}/v8_code_cache_v2`);
    try {
      assertEquals(back.prepare("SELECT k FROM t").all().map((r) => r.k), ["warm"]);
    } finally {
      back.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
