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

import { cniBinDir, REF_CNI_DIR } from "./_cni.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const dec = new TextDecoder();

/** What an external command returned. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
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
    const r = run([
      "unshare",
      `--mount=${dir}/mntns`,
      "--propagation",
      "private",
      "sh",
      "-c",
      setup,
    ]);
    if (r.code !== 0) {
      sb.destroy();
      throw new Error(`cannot make podman's private mount namespace: ${r.stderr.trim()}`);
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
