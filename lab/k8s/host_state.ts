/**
 * What a kubelet and containerd change on the host beyond their own directories, saved and undone
 * by the lab (and by the tests that run them): the host-wide sysctls kubelet's container manager
 * rewrites at start (not namespaced), the cgroups runc makes for containerd's "k8s.io"
 * namespace (`/sys/fs/cgroup/<controller>/k8s.io/<container>` with the cgroupfs driver on
 * cgroup v1), and mount-point paths the lab had to create on the host.
 *
 * @module
 */

/**
 * The sysctls kubelet sets at start (setupKernelTunables, v1.20): `vm.overcommit_memory=1`,
 * `vm.panic_on_oom=0`, `kernel.panic=10`, `kernel.panic_on_oops=1`, and the keyrings limits.
 */
export const KUBELET_SYSCTLS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
] as const;

/** Current values of the sysctls kubelet rewrites (`sysctl vm.overcommit_memory ...`). */
export function readKubeletSysctls(): Record<string, string> {
  return Object.fromEntries(
    KUBELET_SYSCTLS.map((k) => [k, Deno.readTextFileSync(`/proc/sys/${k}`).trim()]),
  );
}

/**
 * Writes saved sysctl values back where they differ (`sysctl -w KEY=VALUE`); returns the keys it
 * could not write (with the reason). Keys outside KUBELET_SYSCTLS are refused.
 */
export function restoreSysctls(saved: Record<string, string>): string[] {
  const errors: string[] = [];
  for (const [k, v] of Object.entries(saved)) {
    if (!(KUBELET_SYSCTLS as readonly string[]).includes(k) || !/^-?\d+$/.test(v)) {
      errors.push(`${k}: not a kubelet sysctl value (${JSON.stringify(v)})`);
      continue;
    }
    const path = `/proc/sys/${k}`;
    try {
      if (Deno.readTextFileSync(path).trim() !== v) Deno.writeTextFileSync(path, v);
    } catch (e) {
      errors.push(`${k}: ${(e as Error).message}`);
    }
  }
  return errors;
}

const CGROUP_ROOT = "/sys/fs/cgroup";

function listDirs(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * The cgroup hierarchies: /sys/fs/cgroup itself on cgroup v2 (it has cgroup.controllers), the
 * mounted controllers /sys/fs/cgroup/<controller> (and unified, systemd) on v1.
 */
export function cgroupHierarchies(): string[] {
  try {
    Deno.statSync(`${CGROUP_ROOT}/cgroup.controllers`);
    return [CGROUP_ROOT];
  } catch {
    return listDirs(CGROUP_ROOT).map((d) => `${CGROUP_ROOT}/${d}`).filter((d) => {
      try {
        return Deno.statSync(`${d}/cgroup.procs`).isFile;
      } catch {
        return false;
      }
    });
  }
}

/**
 * The directories `/sys/fs/cgroup/<hierarchy>/<name>` that exist (cgroup v1: one per mounted
 * controller; cgroup v2: `/sys/fs/cgroup/<name>` itself).
 */
export function cgroupDirs(name: string): string[] {
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(name)) {
    throw new TypeError(`bad cgroup name ${name}`);
  }
  const out: string[] = [];
  for (const root of cgroupHierarchies()) {
    try {
      if (Deno.statSync(`${root}/${name}`).isDirectory) out.push(`${root}/${name}`);
    } catch { /* not in this hierarchy */ }
  }
  return out;
}

/** Pids in a cgroup directory and every cgroup below it. */
export function cgroupPids(dir: string): number[] {
  const pids = new Set<number>();
  const walk = (d: string) => {
    try {
      for (const l of Deno.readTextFileSync(`${d}/cgroup.procs`).split("\n")) {
        if (/^\d+$/.test(l)) pids.add(Number(l));
      }
    } catch { /* gone */ }
    for (const c of listDirs(d)) walk(`${d}/${c}`);
  };
  walk(dir);
  return [...pids];
}

/**
 * Removes cgroup `name` (e.g. "k8s.io/<container id>") and everything below it in every
 * hierarchy (rmdir, innermost first: only cgroups without processes go). Returns what is left.
 */
export function removeCgroups(name: string): string[] {
  const left: string[] = [];
  for (const top of cgroupDirs(name)) {
    const all: string[] = [];
    const walk = (d: string) => {
      for (const c of listDirs(d)) walk(`${d}/${c}`);
      all.push(d);
    };
    walk(top);
    for (const d of all) {
      try {
        Deno.removeSync(d);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) left.push(d);
      }
    }
  }
  return left;
}

/**
 * `path` and those of its parents that do not exist yet, outermost first: what `mkdir -p` (or
 * a touch) would create, for the caller to record before creating them.
 */
export function missingPaths(path: string): string[] {
  const out: string[] = [];
  for (let d = path; d !== "/" && d !== ""; d = d.slice(0, d.lastIndexOf("/"))) {
    try {
      Deno.lstatSync(d);
      break;
    } catch {
      out.unshift(d);
    }
  }
  return out;
}

/** Removes paths the lab created, innermost first, each only when empty; returns those left. */
export function removeMadePaths(paths: readonly string[]): string[] {
  const left: string[] = [];
  for (const p of [...paths].sort((a, b) => b.length - a.length)) {
    try {
      const st = Deno.lstatSync(p);
      if (st.isFile && st.size > 0) {
        left.push(p);
        continue;
      }
      Deno.removeSync(p); // a directory only when empty
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) left.push(p);
    }
  }
  return left;
}

/**
 * The machine-wide list of host paths Kubernetes labs created (`<labs root>/k8s-made-paths`,
 * one per line): a lab that goes down while another one runs leaves its made paths (removing a
 * directory another lab's node has a bind mount on would detach that mount), and the last lab
 * down removes everything listed.
 */
export function madePathsLedger(labsRoot: string): string {
  return `${labsRoot}/k8s-made-paths`;
}

/** Adds `path` to the ledger (before it is created). */
export function recordMadePath(labsRoot: string, path: string): void {
  const ledger = madePathsLedger(labsRoot);
  if (readMadePaths(labsRoot).includes(path)) return;
  Deno.mkdirSync(labsRoot, { recursive: true });
  Deno.writeTextFileSync(ledger, `${path}\n`, { append: true });
}

/** The ledger's paths. */
export function readMadePaths(labsRoot: string): string[] {
  try {
    return Deno.readTextFileSync(madePathsLedger(labsRoot)).split("\n").filter((l) =>
      l.startsWith("/")
    );
  } catch {
    return [];
  }
}

/**
 * Takes this machine's kubelet lock: a flock on the kubelet binary, exclusive for a test that
 * saves and restores the sysctls around its own kubelet, shared for a lab (whose kubelets keep a
 * shared lock while they run: `flock --shared --no-fork BIN BIN ...`). Two savers at once would
 * save each other's rewritten values and restore the wrong ones. `waiting` is called once if
 * the lock is not free at once. Returns the release function.
 */
export async function lockKubeletHost(
  bin: string,
  o: { exclusive: boolean; waiting?: () => void },
): Promise<() => void> {
  const f = await Deno.open(bin, { read: true });
  const got = f.lock(o.exclusive).then(() => true);
  const timer = setTimeout(() => o.waiting?.(), 200);
  try {
    await got;
  } catch (e) {
    f.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return () => {
    try {
      f.unlockSync();
    } finally {
      f.close();
    }
  };
}

/** The kubelet command line that holds a shared kubelet lock as long as it runs. */
export function kubeletUnderLock(bin: string, args: string[]): string[] {
  return ["flock", "--shared", "--no-fork", bin, bin, ...args];
}
