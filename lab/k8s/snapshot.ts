/**
 * A snapshot of what a Kubernetes lab may change on this machine, to compare before `lab up`
 * and after `lab down`: network namespaces (/run/netns), this mount namespace's mounts, cgroup
 * directories, processes, the sysctls kubelet rewrites and the host paths the nodes' bind
 * mounts use. snapshotDiff() names every difference, optionally only those that can be the
 * lab's (another test running on the machine meanwhile makes its own namespaces and processes).
 *
 * @module
 */
import { mountTable } from "../../net/mount.ts";
import { netnsList } from "../../net/mod.ts";
import { processCmdline } from "../_proc.ts";
import { cgroupHierarchies, readKubeletSysctls } from "./host_state.ts";
import { NODE_PATHS } from "./mount_ns.ts";
import { nodeContainerIds } from "./teardown.ts";
import { LAB_ROOT } from "../plan.ts";

/** What machineSnapshot() records. */
export interface MachineSnapshot {
  /** Network namespace names under /run/netns. */
  namespaces: string[];
  /** This mount namespace's mounts: "MOUNTPOINT FSTYPE SOURCE". */
  mounts: string[];
  /** Every cgroup directory (all hierarchies). */
  cgroups: string[];
  /** Live processes: "PID CMDLINE". */
  processes: string[];
  /** The sysctls kubelet rewrites. */
  sysctls: Record<string, string>;
  /** The host paths the nodes bind over (and containerd's default opt dir): present or not. */
  paths: Record<string, boolean>;
  /** Containers of the labs running at the time: id → lab name (their k8s.io cgroups). */
  containerOwners: Record<string, string>;
  /** The Kubernetes labs (`lab up --kubernetes`) that existed at the time. */
  kubeLabs: string[];
  /** CRI's `cni-*` namespaces of the labs' nodes at the time: name → lab name. */
  netnsOwners: Record<string, string>;
}

function cgroupTree(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    out.push(d);
    try {
      for (const e of Deno.readDirSync(d)) if (e.isDirectory) walk(`${d}/${e.name}`);
    } catch { /* gone meanwhile */ }
  };
  for (const h of cgroupHierarchies()) walk(h);
  return out.sort();
}

/** Named network namespaces by inode ("host" for the root one). */
function netnsNames(): Map<number, string> {
  const out = new Map<number, string>();
  try {
    out.set(Deno.statSync("/proc/self/ns/net").ino!, "host");
  } catch { /* no /proc */ }
  for (const n of netnsList()) {
    try {
      out.set(Deno.statSync(`/run/netns/${n}`).ino!, n);
    } catch { /* gone meanwhile */ }
  }
  return out;
}

/** "PID netns=NAME CMDLINE" per live process (NAME "?" for an unnamed namespace). */
function processes(): string[] {
  const names = netnsNames();
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    const cmd = processCmdline(Number(e.name));
    if (!cmd) continue;
    let ns = "?";
    try {
      ns = names.get(Deno.statSync(`/proc/${e.name}/ns/net`).ino!) ?? "?";
    } catch { /* gone meanwhile */ }
    out.push(`${e.name} netns=${ns} ${cmd}`);
  }
  return out.sort();
}

/** The names in directory `d` (none when it cannot be read). */
function dirNames(d: string): string[] {
  try {
    return [...Deno.readDirSync(d)].map((e) => e.name);
  } catch {
    return [];
  }
}

/** The labs' containers: container id → lab name (from each node's containerd directories). */
function containerOwners(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const lab of dirNames(root)) {
    for (const node of dirNames(`${root}/${lab}/nodes`)) {
      for (const id of nodeContainerIds(`${root}/${lab}/nodes/${node}`)) out[id] = lab;
    }
  }
  return out;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The labs under `root` whose lab.json says they are Kubernetes labs. */
function kubeLabs(root: string): string[] {
  const out: string[] = [];
  try {
    for (const e of Deno.readDirSync(root)) {
      try {
        const s = JSON.parse(Deno.readTextFileSync(`${root}/${e.name}/lab.json`));
        if (s?.options?.kubernetes || s?.kube) out.push(e.name);
      } catch { /* not a lab */ }
    }
  } catch { /* no labs */ }
  return out.sort();
}

/** CRI's network namespaces of the labs' nodes: `cni-...` name → lab (from each node's mounts). */
function netnsOwners(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const lab of dirNames(root)) {
    for (const node of dirNames(`${root}/${lab}/mnt`)) {
      const r = new Deno.Command("nsenter", {
        args: [`--mount=${root}/${lab}/mnt/${node}`, "cat", "/proc/self/mountinfo"],
        stdout: "piped",
        stderr: "null",
      }).outputSync();
      const text = new TextDecoder().decode(r.stdout);
      for (const m of text.matchAll(/\/run\/netns\/(cni-[A-Za-z0-9-]+) /g)) out[m[1]!] = lab;
    }
  }
  return out;
}

/** Takes a snapshot of the machine (see MachineSnapshot); `root`: where labs keep their state. */
export function machineSnapshot(root = LAB_ROOT): MachineSnapshot {
  const paths = [...NODE_PATHS.map((p) => p.path), "/opt/containerd", "/usr/local/lib/skein"];
  return {
    namespaces: netnsList(),
    mounts: mountTable().map((m) => `${m.mountPoint} ${m.fsType} ${m.source}`).sort(),
    cgroups: cgroupTree(),
    processes: processes(),
    sysctls: readKubeletSysctls(),
    paths: Object.fromEntries(paths.map((p) => [p, exists(p)])),
    containerOwners: containerOwners(root),
    kubeLabs: kubeLabs(root),
    netnsOwners: netnsOwners(root),
  };
}

/** Processes a Kubernetes lab runs (and no test helper's shell): by their program. */
const LAB_PROCESS =
  /(^|\/)(kubelet|kube-apiserver|kube-scheduler|kube-controller-manager|containerd|containerd-shim[\w-]*|etcd|runc)( |$)/;

/**
 * Only what can be lab `name`'s (`before` and `after` tell other labs' containers apart): its
 * namespaces and CRI's `cni-*`, mounts under /run/netns of those, under the lab's state dir or on
 * the nodes' paths; `k8s.io` and `kubepods` cgroups but those of another lab's containers;
 * processes in the lab's namespaces, Kubernetes/containerd/etcd processes in an unnamed
 * namespace (a leftover whose namespace was deleted) and those naming the lab's state dir or
 * nodes. Another lab's or test's namespaces, containers and processes are not compared.
 */
export function labScope(
  name: string,
  before: MachineSnapshot,
  after: MachineSnapshot,
  root = LAB_ROOT,
): SnapshotScope {
  const nodePaths = NODE_PATHS.map((p) => p.path);
  const others = new Set(
    Object.entries({ ...before.containerOwners, ...after.containerOwners })
      .filter(([, lab]) => lab !== name).map(([id]) => id),
  );
  const otherNetns = new Set(
    Object.entries({ ...before.netnsOwners, ...after.netnsOwners })
      .filter(([, lab]) => lab !== name).map(([ns]) => ns),
  );
  const shared = [...before.kubeLabs, ...after.kubeLabs].some((l) => l !== name);
  const mine = (ns: string) =>
    ns.startsWith(`${name}-`) || (ns.startsWith("cni-") && !otherNetns.has(ns));
  return {
    namespaces: mine,
    mounts: (m: string) => {
      const mp = m.split(" ")[0]!;
      if (mp.startsWith("/run/netns/")) return mine(mp.slice("/run/netns/".length));
      if (mp.startsWith(`${root}/`)) return mp.startsWith(`${root}/${name}/`);
      return nodePaths.some((p) => mp === p || mp.startsWith(`${p}/`));
    },
    cgroups: (c: string) => {
      const m = /\/(k8s\.io|kubepods)(\/([^/]+))?/.exec(c);
      if (m === null) return false;
      // The shared parent is another running lab's as much as this one's.
      if (m[3] === undefined) return !shared;
      return !others.has(m[3]);
    },
    hostState: !shared,
    processes: (p: string) => {
      const [, ns = "", cmd = ""] = /^\d+ netns=(\S+) (.*)$/.exec(p) ?? [];
      if (cmd.includes(`${root}/${name}/`) || new RegExp(`=${name}-n\\d+( |$)`).test(cmd)) {
        return true;
      }
      if (ns.startsWith(`${name}-`)) return true;
      return ns === "?" && LAB_PROCESS.test(cmd.split(" ")[0]!);
    },
  };
}

/** Which items of each list snapshotDiff() compares (default: all). */
export type SnapshotScope =
  & Partial<Record<"namespaces" | "mounts" | "cgroups" | "processes", (item: string) => boolean>>
  & {
    /**
     * Compare the kubelet sysctls and the nodes' host paths (default true). Off while another
     * Kubernetes lab runs: it shares both (the last lab down restores them).
     */
    hostState?: boolean;
  };

/**
 * The differences between two snapshots, one line each ("+ mount /x tmpfs tmpfs", "- netns a",
 * "sysctl kernel/panic: 0 -> 10", "path /var/lib/kubelet: absent -> present"); empty when the
 * machine is as it was. `scope` limits the lists to the items that can be the lab's.
 */
export function snapshotDiff(
  before: MachineSnapshot,
  after: MachineSnapshot,
  scope: SnapshotScope = {},
): string[] {
  const out: string[] = [];
  const kinds = [
    ["namespaces", "netns"],
    ["mounts", "mount"],
    ["cgroups", "cgroup"],
    ["processes", "process"],
  ] as const;
  for (const [key, label] of kinds) {
    const keep = scope[key] ?? (() => true);
    const b = new Set(before[key].filter(keep));
    const a = new Set(after[key].filter(keep));
    for (const x of a) if (!b.has(x)) out.push(`+ ${label} ${x}`);
    for (const x of b) if (!a.has(x)) out.push(`- ${label} ${x}`);
  }
  if (scope.hostState === false) return out;
  for (const [k, v] of Object.entries(before.sysctls)) {
    if (after.sysctls[k] !== v) out.push(`sysctl ${k}: ${v} -> ${after.sysctls[k]}`);
  }
  for (const [p, v] of Object.entries(before.paths)) {
    const w = after.paths[p];
    if (w !== v) out.push(`path ${p}: ${v ? "present" : "absent"} -> ${w ? "present" : "absent"}`);
  }
  return out;
}
