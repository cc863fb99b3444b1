import { assertEquals } from "../testing/assert.ts";
import { podNetnsPath, resolveInRoot } from "./_peer_path.ts";

/** A fake file system: path → symlink target. */
function links(map: Record<string, string>): (p: string) => string | undefined {
  return (p) => map[p];
}

Deno.test("resolveInRoot() keeps an absolute symlink inside the root (/var/run -> /run)", () => {
  const fs = links({ "/proc/42/root/var/run": "/run" });
  assertEquals(
    resolveInRoot("/proc/42/root", "/var/run/netns/cni-1", fs),
    "/proc/42/root/run/netns/cni-1",
  );
});

Deno.test("resolveInRoot() follows relative and chained symlinks, '..' stops at the root", () => {
  const fs = links({
    "/r/a": "b/c", // relative: /r/b/c
    "/r/b/c": "../../../d", // climbs past the root: /r/d
    "/r/d/x": "/e", // absolute: /r/e
  });
  assertEquals(resolveInRoot("/r", "/a/x/ns", fs), "/r/e/ns");
  assertEquals(resolveInRoot("/r", "//./plain/../path//", fs), "/r/path");
});

Deno.test("resolveInRoot() gives up on a loop after 40 links (the open then fails)", () => {
  let calls = 0;
  const loop = (p: string) => {
    calls++;
    return p.endsWith("/l") ? "/l" : undefined;
  };
  assertEquals(resolveInRoot("/r", "/l/x", loop), "/r/l/x");
  assertEquals(calls, 40);
});

Deno.test("resolveInRoot() on a real tree: the symlink escape the plain path has", () => {
  const root = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${root}/run/netns`, { recursive: true });
    Deno.mkdirSync(`${root}/var`);
    Deno.writeTextFileSync(`${root}/run/netns/cni-x`, "");
    Deno.symlinkSync("/run", `${root}/var/run`);
    const resolved = resolveInRoot(root, "/var/run/netns/cni-x");
    assertEquals(resolved, `${root}/run/netns/cni-x`);
    assertEquals(Deno.statSync(resolved).isFile, true);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("podNetnsPath(): in-process as is; the daemon's view through the plugin's pid", () => {
  assertEquals(podNetnsPath("/var/run/netns/x", undefined), "/var/run/netns/x");
  assertEquals(podNetnsPath("/proc/self/ns/net", 7), "/proc/7/ns/net");
  assertEquals(podNetnsPath("/proc/thread-self/ns/net", 7), "/proc/7/ns/net");
  assertEquals(podNetnsPath("/proc/self", 7), "/proc/7");
  assertEquals(podNetnsPath("relative", 7), "relative");
  assertEquals(
    podNetnsPath("/no/such/dir/ns", 2 ** 22 + 1),
    `/proc/${2 ** 22 + 1}/root/no/such/dir/ns`,
  );
});
