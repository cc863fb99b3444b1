/**
 * podman benchmark (root): the time a `podman run --rm` spends in its network plugins, for a
 * skein network (served by the daemon's CNI service, and in-process) against the reference
 * `bridge` + `host-local`, same config shape, same run. A timing wrapper in front of each main
 * plugin logs every call podman makes (VERSION, ADD, DEL; host-local runs inside bridge's
 * call); the sum per container run is compared, median over the runs. Podman 4 from Debian
 * with its CNI backend, confined as in tests/clients_podman_test.ts.
 *
 *   deno run -A tests/bench/cni_podman_bench.ts [--runs 10]
 */
import { parseArgs } from "node:util";
import { withNamespaces } from "../_netns.ts";
import { cniBinDir, cniService, inNs, REF_CNI_DIR } from "../_cni.ts";
import { ensurePackages, PodmanSandbox, run } from "../_clients.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const RUNS = Number(values.runs);
const IMAGE = "localhost/skein-bench-busybox";
const FLAGS = ["--cgroups=disabled", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function busyboxTar(dir: string): string {
  const root = `${dir}/rootfs`;
  Deno.mkdirSync(`${root}/bin`, { recursive: true });
  Deno.copyFileSync("/bin/busybox", `${root}/bin/busybox`);
  Deno.chmodSync(`${root}/bin/busybox`, 0o755);
  Deno.symlinkSync("busybox", `${root}/bin/true`);
  const tar = `${dir}/rootfs.tar`;
  const r = run(["tar", "-C", root, "-cf", tar, "."]);
  if (r.code !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return tar;
}

/** A wrapper that logs "<command> <ms>" per call of `target`, with extra environment. */
function timingWrapper(path: string, target: string, log: string, env = ""): void {
  Deno.writeTextFileSync(
    path,
    `#!/bin/bash\nt0=$EPOCHREALTIME\n${env}'${target}' "$@"\nrc=$?\n` +
      `echo "$CNI_COMMAND $t0 $EPOCHREALTIME" >>'${log}'\nexit $rc\n`,
    { mode: 0o755 },
  );
}

/** Milliseconds spent in plugin calls, and which calls, as the wrappers logged them. */
function spent(log: string): { total: number; calls: string[]; each: [string, number][] } {
  let total = 0;
  const calls: string[] = [];
  const each: [string, number][] = [];
  for (const line of Deno.readTextFileSync(log).split("\n")) {
    const [cmd, a, b] = line.split(" ");
    if (!cmd || !a || !b) continue;
    const ms = (Number(b) - Number(a)) * 1000;
    total += ms;
    calls.push(cmd);
    each.push([cmd, ms]);
  }
  return { total, calls, each };
}

const missing = ensurePackages(["podman", "crun", "conmon", "busybox-static"]);
if (missing) {
  console.log(`SKIP podman benchmark: ${missing}`);
  Deno.exit(0);
}
const wrapDir = Deno.makeTempDirSync({ prefix: "skein-podman-bench-bin-" });
const log = `${wrapDir}/calls.log`;
const results: Record<
  string,
  { net: number[]; wall: number[]; calls: string; per: Record<string, number[]> }
> = {};
let sb: PodmanSandbox | undefined;
try {
  await withNamespaces(["host"], (ns) => {
    const host = ns.host!;
    inNs(host, ["ip", "link", "set", "lo", "up"]);
    const socket = cniService(host);
    timingWrapper(`${wrapDir}/bridge`, `${REF_CNI_DIR}/bridge`, log);
    // Which path serves skein is read per call from a file the loop below rewrites.
    const modeFile = `${wrapDir}/socket`;
    timingWrapper(
      `${wrapDir}/skein`,
      `${cniBinDir()}/skein`,
      log,
      `SKEIN_CNI_SOCKET="$(cat '${modeFile}')" `,
    );
    sb = PodmanSandbox.create({ hostNs: host, pluginDirs: [wrapDir, REF_CNI_DIR] });
    sb.podmanOk(["import", "--quiet", busyboxTar(sb.dir), IMAGE]);
    const ipam = (type: string, subnet: string) => ({ type, subnet, dataDir: `${sb!.dir}/ipam` });
    const nets = [
      {
        label: "ref",
        name: "bref",
        type: "bridge",
        bridge: "bref0",
        ipam: ipam("host-local", "10.243.1.0/24"),
      },
      {
        label: "daemon",
        name: "bskd",
        type: "skein",
        bridge: "bskd0",
        ipam: ipam("skein", "10.243.2.0/24"),
      },
      {
        label: "in-process",
        name: "bskl",
        type: "skein",
        bridge: "bskl0",
        ipam: ipam("skein", "10.243.3.0/24"),
      },
    ];
    for (const n of nets) {
      Deno.writeTextFileSync(
        `${sb.confDir}/${n.name}.conflist`,
        JSON.stringify({
          cniVersion: "1.0.0",
          name: n.name,
          plugins: [{
            type: n.type,
            bridge: n.bridge,
            isGateway: true,
            isDefaultGateway: true,
            ipam: n.ipam,
          }],
        }),
      );
    }
    const probe = sb.podman(["run", "--rm", "--network", "none", ...FLAGS, IMAGE, "true"]);
    if (probe.code !== 0) throw new Error(`podman cannot run a container here: ${probe.stderr}`);
    // Warm-up: creates each bridge, fills caches.
    const socketFor = (label: string) => label === "daemon" ? socket : "off";
    for (const n of nets) {
      Deno.writeTextFileSync(modeFile, socketFor(n.label));
      sb.podmanOk(["run", "--rm", "--network", n.name, ...FLAGS, IMAGE, "true"]);
    }
    for (let i = 0; i < RUNS; i++) {
      for (const n of nets) {
        Deno.writeTextFileSync(log, "");
        Deno.writeTextFileSync(modeFile, socketFor(n.label));
        const t = performance.now();
        sb.podmanOk(["run", "--rm", "--network", n.name, ...FLAGS, IMAGE, "true"]);
        const wall = performance.now() - t;
        const s = spent(log);
        const r = results[n.label] ??= { net: [], wall: [], calls: "", per: {} };
        r.net.push(s.total);
        for (const [cmd, ms] of s.each) (r.per[cmd] ??= []).push(ms);
        r.wall.push(wall);
        r.calls = s.calls.join(",");
      }
    }
    sb.destroy();
    sb = undefined;
  });
} finally {
  sb?.destroy();
  Deno.removeSync(wrapDir, { recursive: true });
}

const ref = results["ref"]!;
const row = (name: string, a: number, b: number) =>
  console.log(
    `${name.padEnd(44)} ${a.toFixed(1).padStart(9)} ${b.toFixed(1).padStart(9)} ${
      (a / b).toFixed(2).padStart(7)
    }`,
  );
console.log(`podman run --rm: time in network plugin calls, median of ${RUNS} (ms)`);
console.log(`calls per run: ${ref.calls}`);
console.log(`${"".padEnd(44)} ${"skein".padStart(9)} ${"ref".padStart(9)} ${"ratio".padStart(7)}`);
for (const mode of ["daemon", "in-process"]) {
  const r = results[mode]!;
  row(`network calls per podman run (${mode})`, median(r.net), median(ref.net));
  row(`podman run --rm wall (${mode})`, median(r.wall), median(ref.wall));
  for (const cmd of ["VERSION", "ADD", "DEL"]) {
    row(`  one ${cmd} call (${mode})`, median(r.per[cmd] ?? []), median(ref.per[cmd] ?? []));
  }
}
