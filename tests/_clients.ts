/**
 * Helpers for tests that drive skein through real CNI clients: the upstream CNI library
 * (libcni, through the `cnitool` that scripts/build-cnitool.sh builds from Debian's sources)
 * and podman (Debian's 4.3 with its CNI network backend).
 *
 * Both clients run inside a test "host" namespace, never in the root one. podman also gets a
 * private mount namespace of its own (see {@link PodmanSandbox}).
 *
 * @module
 */

import { cniBinDir, cniMode, cniService, REF_CNI_DIR } from "./_cni.ts";
import { containerdConfig } from "../lab/k8s/containerd.ts";
import { removeCgroups } from "../lab/k8s/host_state.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const dec = new TextDecoder();

/** What an external command returned. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Makes a persistent private mount namespace, bound at `<dir>/mntns`, and runs the `setup` shell
 * script inside it (the bind mounts that keep a client's fixed paths inside the test's dir).
 */
function privateMountNs(dir: string, setup: string, client: string): void {
  const r = run(["unshare", `--mount=${dir}/mntns`, "--propagation", "private", "sh", "-c", setup]);
  if (r.code !== 0) {
    throw new Error(`cannot make ${client}'s private mount namespace: ${r.stderr.trim()}`);
  }
}

/** Runs a command to completion, never throws for a non-zero exit. */
export function run(args: string[], opts: { env?: Record<string, string> } = {}): Run {
  try {
    const out = new Deno.Command(args[0]!, {
      args: args.slice(1),
      stdout: "piped",
      stderr: "piped",
      env: opts.env,
    }).outputSync();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    return { code: 127, stdout: "", stderr: `${args[0]}: ${(e as Error).message}` };
  }
}

function dpkgInstalled(pkg: string): boolean {
  return /install ok installed/.test(run(["dpkg-query", "-W", "-f=${Status}", pkg]).stdout);
}

/**
 * Makes sure the Debian packages are installed (apt-get when missing). Returns undefined when
 * they are there, else the reason they are not (for a test skip message).
 */
export function ensurePackages(pkgs: string[]): string | undefined {
  const missing = pkgs.filter((p) => !dpkgInstalled(p));
  if (!missing.length) return undefined;
  const env = { PATH, DEBIAN_FRONTEND: "noninteractive" };
  const inst = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing];
  let r = run(inst, { env });
  if (r.code !== 0) {
    run(["apt-get", "update", "-qq"], { env });
    r = run(inst, { env });
  }
  if (r.code !== 0) {
    return `cannot install ${missing.join(" ")}: ${(r.stderr || r.stdout).trim().slice(-400)}`;
  }
  return undefined;
}

/** Prints why a test does not run and returns true, so a test can `if (skip(...)) return;`. */
export function skipped(test: string, reason: string | undefined): boolean {
  if (reason === undefined) return false;
  console.warn(`SKIP ${test}: ${reason}`);
  return true;
}

let cnitool: { path?: string; skip?: string } | undefined;

/**
 * Builds (once per machine, cached in .tools/bin) the libcni-based cnitool; returns its path, or
 * the reason it cannot be had.
 */
export function ensureCnitool(): { path?: string; skip?: string } {
  if (cnitool) return cnitool;
  const r = run(["bash", `${REPO}/scripts/build-cnitool.sh`, "--install-deps"], {
    env: { PATH, HOME: Deno.env.get("HOME") ?? "/root" },
  });
  cnitool = r.code === 0
    ? { path: r.stdout.trim().split("\n").pop()! }
    : { skip: `cannot build cnitool: ${r.stderr.trim().slice(-400)}` };
  return cnitool;
}

/** One cnitool call. */
export interface CnitoolCall {
  /** add, check, del, cached, validate, versions. */
  verb: "add" | "check" | "del" | "cached" | "validate" | "versions";
  /** Network name (or the plugin type for `versions`). */
  network: string;
  /** Pod namespace path (add, check, del, cached). */
  netns?: string;
  /** The namespace cnitool (and so every plugin) runs in. */
  hostNs: string;
  /** NETCONFPATH: the directory with the .conflist/.conf files. */
  confDir: string;
  /** libcni's cache directory (results/...); instead of /var/lib/cni. */
  cacheDir: string;
  /** CNI_CONTAINERID (default: cnitool's hash of the netns path). */
  containerId?: string;
  ifName?: string;
  cniArgs?: string;
  /** CAP_ARGS: runtime capabilities (portMappings, ...). */
  capArgs?: Record<string, unknown>;
}

/** What cnitool returned; `json` is stdout parsed (a result, or a plugin's CNI error). */
export interface CnitoolResult extends Run {
  json?: Record<string, unknown>;
}

/**
 * Runs cnitool inside the host namespace with the bare environment a runtime gives its plugins
 * (libcni hands its own environment down): PATH, NETCONFPATH, CNI_PATH (skein first, then the
 * Debian plugins) and the call's variables.
 */
export function cnitoolRun(c: CnitoolCall): CnitoolResult {
  const tool = ensureCnitool().path;
  if (!tool) throw new Error(ensureCnitool().skip);
  const env: Record<string, string | undefined> = {
    PATH,
    NETCONFPATH: c.confDir,
    CNI_PATH: `${cniBinDir()}:${REF_CNI_DIR}`,
    CNI_CACHE_DIR: c.cacheDir,
    CNI_CONTAINERID: c.containerId,
    CNI_IFNAME: c.ifName,
    CNI_ARGS: c.cniArgs,
    CAP_ARGS: c.capArgs ? JSON.stringify(c.capArgs) : undefined,
    // libcni hands this down to skein: which path serves it (see cniMode() in _cni.ts).
    SKEIN_CNI_SOCKET: cniMode() === "daemon" ? cniService(c.hostNs) : "off",
  };
  const envArgs = Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) =>
    `${k}=${v}`
  );
  const args = [c.verb, c.network, ...(c.netns ? [c.netns] : [])];
  const r = run(["nsenter", `--net=${c.hostNs}`, "env", "-i", ...envArgs, tool, ...args]);
  let json: Record<string, unknown> | undefined;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

/** Like cnitoolRun() but throws with cnitool's output unless it exits 0. */
export function cnitoolOk(c: CnitoolCall): Record<string, unknown> | undefined {
  const r = cnitoolRun(c);
  if (r.code !== 0) {
    throw new Error(
      `cnitool ${c.verb} ${c.network} failed (exit ${r.code}): ${r.stdout}${r.stderr}`,
    );
  }
  return r.json;
}

/** Pids of processes whose command line mentions `needle` (processes a test started). */
export function pidsMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(needle)) pids.push(Number(e.name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Options for {@link PodmanSandbox.create}. */
export interface PodmanSandboxOptions {
  /** The namespace podman (and the CNI plugins it runs) lives in. */
  hostNs: string;
  /** Directories podman searches for CNI plugins, in order. */
  pluginDirs: string[];
}

/**
 * A podman confined to a test: storage, run state, events, CNI configs and CNI result cache in
 * one temporary directory, and a private mount namespace (kept in `<dir>/mntns`) in which
 * - /sys/fs/cgroup/unified (cgroup v2 in a hybrid v1 layout) is unmounted, because crun refuses
 *   hybrid cgroups ("cgroups in hybrid mode not supported") even with `--cgroups=disabled`;
 * - /run/netns is a private tmpfs, so podman's pod namespaces stay out of everyone's listing;
 * - /var/lib/cni (libcni's result cache, fixed in podman 4.3) and /var/lib/containers (the
 *   image blob-info cache) are directories of the test.
 * Every podman call enters that mount namespace and the test's host network namespace.
 */
export class PodmanSandbox {
  /** The temporary directory holding all of this podman's state. */
  readonly dir: string;
  /** The CNI config directory (podman's network_config_dir). */
  readonly confDir: string;
  readonly #hostNs: string;
  /** Mount points this sandbox had to create in the real file system (removed if still empty). */
  readonly #madeDirs: string[] = [];

  private constructor(dir: string, hostNs: string) {
    this.dir = dir;
    this.confDir = `${dir}/net.d`;
    this.#hostNs = hostNs;
  }

  /** Sets the sandbox up; throws with the reason when the mount namespace cannot be made. */
  static create(o: PodmanSandboxOptions): PodmanSandbox {
    const dir = Deno.makeTempDirSync({ prefix: "skein-podman-" });
    const sb = new PodmanSandbox(dir, o.hostNs);
    for (const d of ["net.d", "cni-cache", "image-cache", "storage", "run", "tmp"]) {
      Deno.mkdirSync(`${dir}/${d}`);
    }
    Deno.writeTextFileSync(
      `${dir}/containers.conf`,
      [
        "[engine]",
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        'runtime = "crun"',
        `tmp_dir = "${dir}/tmp"`,
        `events_logfile_path = "${dir}/tmp/events.log"`,
        "[network]",
        'network_backend = "cni"',
        `cni_plugin_dirs = ${JSON.stringify(o.pluginDirs)}`,
        `network_config_dir = "${sb.confDir}"`,
        "",
      ].join("\n"),
    );
    for (const d of ["/var/lib/cni", "/var/lib/containers"]) {
      if (!exists(d)) sb.#madeDirs.push(d);
    }
    Deno.writeTextFileSync(`${dir}/mntns`, "");
    const setup = [
      "set -e",
      "umount /sys/fs/cgroup/unified 2>/dev/null || true",
      "mount -t tmpfs -o mode=0755 skein-test-netns /run/netns",
      "mkdir -p /var/lib/cni /var/lib/containers",
      `mount --bind '${dir}/cni-cache' /var/lib/cni`,
      `mount --bind '${dir}/image-cache' /var/lib/containers`,
    ].join("\n");
    try {
      privateMountNs(dir, setup, "podman");
    } catch (e) {
      sb.destroy();
      throw e;
    }
    return sb;
  }

  /** Runs `podman <args>` in the sandbox. */
  podman(args: string[]): Run {
    return run([
      "nsenter",
      `--mount=${this.dir}/mntns`,
      `--net=${this.#hostNs}`,
      "env",
      "-i",
      `PATH=${PATH}`,
      "HOME=/root",
      `CONTAINERS_CONF=${this.dir}/containers.conf`,
      "podman",
      "--root",
      `${this.dir}/storage`,
      "--runroot",
      `${this.dir}/run`,
      "--tmpdir",
      `${this.dir}/tmp`,
      "--storage-driver",
      "vfs",
      ...args,
    ]);
  }

  /** Like podman() but throws with podman's output unless it exits 0; returns stdout. */
  podmanOk(args: string[]): string {
    const r = this.podman(args);
    if (r.code !== 0) {
      throw new Error(`podman ${args.join(" ")} failed (exit ${r.code}): ${r.stdout}${r.stderr}`);
    }
    return r.stdout;
  }

  /**
   * Removes every container (their DEL runs), kills what podman left running (conmon, the
   * containers' processes: found by this sandbox's directory in their command line), drops the
   * mount namespace and the directory.
   */
  destroy(): void {
    const ps = this.podman(["ps", "-a", "--format", "{{.Pid}}"]);
    const containerPids = ps.stdout.split("\n").map(Number).filter((n) => n > 0);
    const rm = this.podman(["rm", "-f", "-a", "-t", "0"]);
    // The containers' own processes only when podman could not remove them (no pid reuse).
    const leftovers = rm.code === 0 ? [] : containerPids;
    for (const pid of [...leftovers, ...pidsMentioning(this.dir)]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    run(["umount", `${this.dir}/mntns`]);
    for (const d of this.#madeDirs) {
      try {
        Deno.removeSync(d); // only when empty: someone else may have started using it
      } catch {
        // not empty or gone
      }
    }
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // a busy file is left for the OS's tmp cleaning; nothing outside the directory remains
    }
  }
}

/** Paths containerd and `ctr run --cni` use, each replaced by a test directory. */
const MOUNT_POINTS = ["/run/containerd", "/etc/cni/net.d", "/opt/cni/bin", "/var/lib/cni"];

/** Options for {@link ContainerdSandbox.start}. */
export interface ContainerdSandboxOptions {
  /** The namespace containerd (and the CNI plugins ctr runs) lives in. */
  hostNs: string;
  /** Files to link into the sandbox's /opt/cni/bin: name → target path. */
  plugins: Record<string, string>;
  /** containerd namespace for the test's images and containers (also its cgroup parent). */
  namespace: string;
  /**
   * Turn containerd's CRI plugin on (for a kubelet): its CNI config and plugin directories are
   * the sandbox's, images unpack with the native snapshotter, `restrict_oom_score_adj` (root
   * here lacks CAP_SYS_RESOURCE), and `sandboxImage` is the pods' pause image. Use the
   * containerd namespace "k8s.io" (the CRI plugin's) with it.
   */
  cri?: { sandboxImage: string };
  /**
   * Existing directories covered by an empty tmpfs in the sandbox's mount namespace (e.g.
   * /var/log and /var/lib for a kubelet's fixed /var/log/pods and /var/lib/kubelet/...):
   * whatever is made below them never reaches the real file system.
   */
  tmpfs?: string[];
  /** Extra environment for containerd (and so for the CNI plugins its CRI plugin runs). */
  env?: Record<string, string>;
}

/** containerd's config.toml for a sandbox in `dir` (the lab's builder; images unpack native). */
function sandboxConfig(dir: string, cri: ContainerdSandboxOptions["cri"]): string {
  return containerdConfig({
    root: `${dir}/root`,
    state: `${dir}/state`,
    address: `${dir}/containerd.sock`,
    optDir: `${dir}/opt`,
    ...(cri
      ? {
        cri: {
          sandboxImage: cri.sandboxImage,
          confDir: `${dir}/net.d`,
          binDir: `${dir}/bin`,
          snapshotter: "native",
        },
      }
      : {}),
  });
}

/**
 * A containerd daemon confined to a test: root, state and socket in a temporary directory, the
 * CRI plugin off, run inside the test's host network namespace and a private mount namespace
 * in which /etc/cni/net.d and /opt/cni/bin (the paths `ctr run --cni` reads, fixed in
 * containerd 1.6) are directories of the test, /run/netns is a private tmpfs, and
 * /run/containerd (shim sockets, runc state) and /var/lib/cni (libcni's cache) are the test's. `ctr run --cni` then drives the CNI plugins through
 * containerd's go-cni, the library its CRI plugin uses for Kubernetes pods.
 */
export class ContainerdSandbox {
  /** The temporary directory holding everything. */
  readonly dir: string;
  /** The sandbox's /etc/cni/net.d. */
  readonly confDir: string;
  readonly #hostNs: string;
  readonly #ns: string;
  #daemon: Deno.ChildProcess | undefined;
  /** Mount points this sandbox had to create in the real file system (removed if still empty). */
  readonly #madeDirs: string[] = [];

  private constructor(dir: string, hostNs: string, ns: string) {
    this.dir = dir;
    this.confDir = `${dir}/net.d`;
    this.#hostNs = hostNs;
    this.#ns = ns;
  }

  /** Starts containerd; throws with the reason when the sandbox or the daemon cannot start. */
  static async start(o: ContainerdSandboxOptions): Promise<ContainerdSandbox> {
    const dir = Deno.makeTempDirSync({ prefix: "skein-containerd-" });
    const sb = new ContainerdSandbox(dir, o.hostNs, o.namespace);
    try {
      for (const d of ["net.d", "bin", "cni-cache", "run", "root", "state"]) {
        Deno.mkdirSync(`${dir}/${d}`);
      }
      const tmpfs = o.tmpfs ?? [];
      for (const t of tmpfs) {
        if (!exists(t)) throw new Error(`cannot cover ${t} with a tmpfs: it does not exist`);
      }
      for (const d of MOUNT_POINTS) {
        if (tmpfs.some((t) => d.startsWith(`${t}/`))) continue; // made inside the tmpfs
        sb.#madeDirs.push(...useMadeDirs(d));
      }
      for (const [name, target] of Object.entries(o.plugins)) {
        Deno.symlinkSync(target, `${dir}/bin/${name}`);
      }
      Deno.writeTextFileSync(`${dir}/config.toml`, sandboxConfig(dir, o.cri));
      Deno.writeTextFileSync(`${dir}/mntns`, "");
      const setup = [
        "set -e",
        "mount -t tmpfs -o mode=0755 skein-test-netns /run/netns",
        ...tmpfs.map((t) => `mount -t tmpfs -o mode=0755 skein-test-sandbox '${t}'`),
        `mkdir -p ${MOUNT_POINTS.join(" ")}`,
        `mount --bind '${dir}/run' /run/containerd`,
        `mount --bind '${dir}/net.d' /etc/cni/net.d`,
        `mount --bind '${dir}/bin' /opt/cni/bin`,
        `mount --bind '${dir}/cni-cache' /var/lib/cni`,
      ].join("\n");
      privateMountNs(dir, setup, "containerd");
      sb.#daemon = new Deno.Command("nsenter", {
        args: [
          `--mount=${dir}/mntns`,
          `--net=${o.hostNs}`,
          "containerd",
          "--config",
          `${dir}/config.toml`,
        ],
        env: o.env,
        stdout: "null",
        stderr: Deno.env.get("SKEIN_CONTAINERD_LOG") ? "inherit" : "null",
      }).spawn();
      for (let i = 0; i < 100; i++) {
        if (exists(`${dir}/containerd.sock`)) return sb;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error("containerd did not open its socket within 5 s");
    } catch (e) {
      await sb.stop();
      throw e;
    }
  }

  /** `ctr` arguments (in the sandbox's namespaces, on its socket and containerd namespace). */
  ctrArgs(args: string[]): string[] {
    return [
      "nsenter",
      `--mount=${this.dir}/mntns`,
      `--net=${this.#hostNs}`,
      "ctr",
      "-a",
      `${this.dir}/containerd.sock`,
      "-n",
      this.#ns,
      ...args,
    ];
  }

  /** Runs `ctr <args>` to completion. */
  ctr(args: string[]): Run {
    return run(this.ctrArgs(args));
  }

  /** Like ctr() but throws with ctr's output unless it exits 0; returns stdout. */
  ctrOk(args: string[]): string {
    const r = this.ctr(args);
    if (r.code !== 0) {
      throw new Error(`ctr ${args.join(" ")} failed (exit ${r.code}): ${r.stdout}${r.stderr}`);
    }
    return r.stdout;
  }

  /**
   * Kills every task, removes containers, stops containerd, kills what is left (shims: found by
   * this sandbox's directory in their command line), removes the (empty) cgroups runc made for
   * the containerd namespace, drops the mount namespace and the directory.
   */
  async stop(): Promise<void> {
    if (this.#daemon) {
      for (const id of this.ctr(["tasks", "ls", "-q"]).stdout.split("\n").filter((x) => x)) {
        this.ctr(["tasks", "kill", "-s", "SIGKILL", id]);
        this.ctr(["tasks", "delete", "-f", id]);
      }
      for (const id of this.ctr(["containers", "ls", "-q"]).stdout.split("\n").filter((x) => x)) {
        this.ctr(["containers", "delete", id]);
      }
      try {
        this.#daemon.kill("SIGTERM");
      } catch {
        // exited
      }
      const timer = setTimeout(() => {
        try {
          this.#daemon?.kill("SIGKILL");
        } catch {
          // exited
        }
      }, 5000);
      await this.#daemon.status;
      clearTimeout(timer);
      this.#daemon = undefined;
    }
    for (const pid of pidsMentioning(this.dir)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    removeCgroups(this.#ns);
    run(["umount", `${this.dir}/mntns`]);
    for (const d of this.#madeDirs.reverse()) releaseMadeDir(d);
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // a busy file is left for the OS's tmp cleaning
    }
  }
}

/**
 * Directories containerd sandboxes of this process made in the real file system (as mount
 * points), with how many sandboxes use them. Removing one while another sandbox has a mount on
 * it would detach that mount (rmdir of a mount point in another mount namespace succeeds), so
 * the last user removes it.
 */
const madeDirUsers = new Map<string, number>();

/**
 * `path` and those of its parents that do not exist yet or that another sandbox of this process
 * made, outermost first; each counted as used once more.
 */
function useMadeDirs(path: string): string[] {
  const out: string[] = [];
  for (let d = path; d !== "/" && d !== ""; d = d.slice(0, d.lastIndexOf("/"))) {
    if (exists(d) && !madeDirUsers.has(d)) break;
    out.unshift(d);
  }
  for (const d of out) madeDirUsers.set(d, (madeDirUsers.get(d) ?? 0) + 1);
  return out;
}

/** One user less; the last one removes the directory (only when empty). */
function releaseMadeDir(d: string): void {
  const n = (madeDirUsers.get(d) ?? 1) - 1;
  if (n > 0) {
    madeDirUsers.set(d, n);
    return;
  }
  madeDirUsers.delete(d);
  try {
    Deno.removeSync(d); // only when empty: someone else may have started using it
  } catch {
    // not empty or gone
  }
}
