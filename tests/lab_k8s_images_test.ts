/**
 * The Kubernetes lab's two images (lab/k8s/images.ts) in a real containerd (Debian's 1.6, in a
 * test namespace with its own root, state and socket, ContainerdSandbox; overlayfs like the lab's
 * nodes): both archives import with `ctr images import` through importImage(); a busybox
 * container runs; inside the skein image `skein version`, `skein daemon --help` (the whole module
 * graph, npm packages from the image's DENO_DIR), the daemon's dry run (FFI netlink through the
 * image's libc) and `nft` run; the DaemonSet's init container command (read from
 * deploy/kubernetes/skein.yaml) copies the plugin, the launcher's lib and the conflist out, and
 * the copied plugin runs on the "node" with that lib at /usr/local/lib/skein; the busybox image's
 * default command (the sandbox's) exits 0 on SIGTERM. The skein image is built cold into a
 * temporary cache, then warm (a cache hit), and cold again elsewhere: the same image id.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import {
  buildBusyboxImage,
  buildSkeinImage,
  BUSYBOX_IMAGE,
  importImage,
  SKEIN_IMAGE_LIB,
  skeinImageRef,
} from "../lab/k8s/images.ts";
import { LAB_SNAPSHOTTER } from "../lab/k8s/containerd.ts";
import { VERSION } from "../version.ts";
import { parseAllDocuments } from "yaml";
import { ContainerdSandbox, ensurePackages, run, skipped } from "./_clients.ts";
import { testPrefix, withNamespaces } from "./_netns.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The DaemonSet's init container (deploy/kubernetes/skein.yaml): its shell command and conflist. */
function manifestInit(): { script: string; conflist: string } {
  const docs = parseAllDocuments(
    Deno.readTextFileSync(new URL("../deploy/kubernetes/skein.yaml", import.meta.url)),
  ).map((d) => d.toJS());
  const ds = docs.find((d) => d?.kind === "DaemonSet");
  const cm = docs.find((d) => d?.kind === "ConfigMap" && d.metadata.name === "skein-config");
  const init = ds.spec.template.spec.initContainers[0];
  assertEquals(init.command, ["/bin/sh", "-c"]);
  return { script: init.args[0], conflist: cm.data["10-skein.conflist"] };
}

/** The task's status in `ctr tasks ls` ("RUNNING", "STOPPED"), or undefined. */
function taskStatus(sb: ContainerdSandbox, id: string): string | undefined {
  const line = sb.ctr(["tasks", "ls"]).stdout.split("\n").find((l) => l.startsWith(`${id} `));
  return line?.trim().split(/\s+/)[2];
}

Deno.test("lab images: busybox and skein import into containerd and run; the pause command stops on SIGTERM", async () => {
  const test = "lab-images";
  if (skipped(test, ensurePackages(["containerd", "busybox-static", "nftables"]))) return;
  const cacheDir = Deno.makeTempDirSync({ prefix: "skein-images-" });
  try {
    const bb = await buildBusyboxImage({ cacheDir });
    const cold = await buildSkeinImage({ cacheDir, version: VERSION });
    const warm = await buildSkeinImage({ cacheDir, version: VERSION });
    // Reproducible: a second cold build (another cache) of the same sources, the same image id.
    const again = await buildSkeinImage({ cacheDir: `${cacheDir}/again`, version: VERSION });
    assertEquals([bb.cached, cold.cached, warm.cached], [false, false, true]);
    assertEquals(warm.id, cold.id);
    assertEquals([again.cached, again.id], [false, cold.id]);
    assertEquals(cold.ref, skeinImageRef(VERSION));
    assertEquals((await buildBusyboxImage({ cacheDir })).id, bb.id);
    console.log(
      `images: busybox ${bb.size} B in ${bb.ms} ms; skein ${cold.size} B cold ${cold.ms} ms, ` +
        `warm ${warm.ms} ms`,
    );
    await withNamespaces(["host"], async (ns) => {
      let sb: ContainerdSandbox;
      try {
        sb = await ContainerdSandbox.start({
          hostNs: ns.host!,
          plugins: {},
          namespace: `skein-${testPrefix()}`,
        });
      } catch (e) {
        skipped(test, (e as Error).message);
        return;
      }
      try {
        await inSandbox(sb, ns.host!, { busybox: bb.archive, skein: cold.archive });
      } finally {
        await sb.stop();
      }
    });
  } finally {
    Deno.removeSync(cacheDir, { recursive: true });
  }
});

async function inSandbox(
  sb: ContainerdSandbox,
  hostNs: string,
  archives: { busybox: string; skein: string },
): Promise<void> {
  const socket = `${sb.dir}/containerd.sock`;
  const namespace = `skein-${testPrefix()}`;
  const exec = ["nsenter", `--mount=${sb.dir}/mntns`, `--net=${hostNs}`];
  for (const archive of [archives.busybox, archives.skein]) {
    const t0 = performance.now();
    await importImage({ socket, archive, namespace, exec, snapshotter: LAB_SNAPSHOTTER });
    console.log(
      `import ${archive.split("/").slice(-2).join("/")}: ${Math.round(performance.now() - t0)} ms`,
    );
  }
  const images = sb.ctrOk(["images", "ls", "-q"]).split("\n");
  assert(images.includes(BUSYBOX_IMAGE), images.join(" "));
  assert(images.includes(skeinImageRef(VERSION)), images.join(" "));
  const runIn = (image: string, id: string, argv: string[], extra: string[] = []) =>
    sb.ctrOk(["run", "--rm", "--snapshotter", LAB_SNAPSHOTTER, ...extra, image, id, ...argv]);

  assertEquals(runIn(BUSYBOX_IMAGE, "echo", ["echo", "hello"]).trim(), "hello");

  // skein's module graph (with its npm packages), its FFI netlink (the daemon's dry run reads
  // the routes of the container's namespace: only lo, so no default route) and nft's libraries,
  // inside the image.
  const daemonYaml = "network: 10.244.0.0/16\\nbackend: { type: host-gw }\\n" +
    "datastore: { type: file, dir: /tmp/leases }\\n";
  const out = runIn(skeinImageRef(VERSION), "skein", [
    "/bin/sh",
    "-c",
    `skein version && skein daemon --help | head -n 1 && nft --version && ` +
    `printf '${daemonYaml}' >/tmp/d.yaml && ` +
    `{ skein daemon --config /tmp/d.yaml --node n1 --dry-run 2>&1 || true; }`,
  ]);
  assertStringIncludes(out, `skein ${VERSION}`);
  assertStringIncludes(out, "nftables v");
  assertStringIncludes(out, "no IPv4 default route");

  // The DaemonSet's init container, as the manifest has it, puts the plugin, the launcher's lib
  // and the conflist on the "node"; the plugin then runs there (outside any container) with
  // that lib at /usr/local/lib/skein (here: in a private mount namespace).
  const node = `${sb.dir}/node`;
  const init = manifestInit();
  const binds: Record<string, string> = {
    "/host/opt/cni/bin": `${node}/opt/cni/bin`,
    "/host/etc/cni/net.d": `${node}/etc/cni/net.d`,
    "/host/usr/local/lib/skein": `${node}/lib-skein`,
    "/etc/skein": `${node}/config`,
  };
  const mounts: string[] = [];
  for (const [dst, src] of Object.entries(binds)) {
    Deno.mkdirSync(src, { recursive: true });
    mounts.push("--mount", `type=bind,src=${src},dst=${dst},options=rbind:rw`);
  }
  Deno.writeTextFileSync(`${node}/config/10-skein.conflist`, init.conflist);
  runIn(skeinImageRef(VERSION), "init", ["/bin/sh", "-c", init.script], mounts);
  assertEquals(Deno.readTextFileSync(`${node}/etc/cni/net.d/10-skein.conflist`), init.conflist);
  const script = [
    "set -e",
    "mount -t tmpfs skein-test /usr/local/lib",
    `mkdir ${SKEIN_IMAGE_LIB}`,
    `mount --bind -o ro '${node}/lib-skein' ${SKEIN_IMAGE_LIB}`,
    `'${node}/opt/cni/bin/skein' version`,
    `echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION '${node}/opt/cni/bin/skein'`,
  ].join("\n");
  const host = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script]);
  assertEquals(host.code, 0, host.stderr);
  assertStringIncludes(host.stdout, `skein ${VERSION}`);
  assertStringIncludes(host.stdout, '"cniVersion":"1.0.0"');

  // The sandbox (pause) command: runs until SIGTERM, then exits 0.
  sb.ctrOk(["run", "-d", "--snapshotter", LAB_SNAPSHOTTER, BUSYBOX_IMAGE, "pause"]);
  for (let i = 0; i < 50 && taskStatus(sb, "pause") !== "RUNNING"; i++) await sleep(100);
  await sleep(300);
  assertEquals(taskStatus(sb, "pause"), "RUNNING");
  sb.ctrOk(["tasks", "kill", "-s", "SIGTERM", "pause"]);
  for (let i = 0; i < 100 && taskStatus(sb, "pause") !== "STOPPED"; i++) await sleep(100);
  assertEquals(taskStatus(sb, "pause"), "STOPPED");
  const exit = sb.ctr(["tasks", "delete", "pause"]);
  assert(!/exit status [1-9]/.test(exit.stdout + exit.stderr), exit.stdout + exit.stderr);
}
