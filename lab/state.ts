/**
 * A lab's recorded state (`/run/skein/lab/<name>/lab.json`), so `lab down` and `lab status`
 * work from another process. Written before every step that creates something (namespaces are
 * recorded before they exist, processes right after they start), so a lab that failed half-way
 * can still be torn down.
 *
 * @module
 */
import { atomicWriteFile } from "../node/atomic_write.ts";
import type { LabOptions } from "./plan.ts";

/** A daemon process the lab started. */
export interface DaemonState {
  /** Node short name, "n1". */
  node: string;
  pid: number;
  /** Health/metrics address "127.0.0.1:PORT". */
  listen: string;
  /** When it was (re)started, ISO 8601. */
  startedAt: string;
}

/** A pod the lab attached. */
export interface PodState {
  /** "n1-p1" */
  name: string;
  node: string;
  netns: string;
  containerId: string;
  /** Its IPv4 address (without prefix) once ADD succeeded. */
  ip?: string;
}

/** A helper process the lab started (e.g. etcd). */
export interface ProcessState {
  name: string;
  pid: number;
  /** Directory the process owns and the lab removes on `down`. */
  dir?: string;
  /** Client URL, for etcd. */
  url?: string;
}

/** A Kubernetes lab node's runtime (`--kubernetes`). */
export interface KubeNodeState {
  /** Node short name, "n1". */
  node: string;
  /** The file pinning its mount namespace. */
  mountNs: string;
  containerd?: number;
  kubelet?: number;
}

/** What a Kubernetes lab changed on the host, for `lab down` to undo (`--kubernetes`). */
export interface KubeState {
  /** The host sysctls kubelet rewrites, as found before the lab's first kubelet started. */
  hostSysctls?: Record<string, string>;
  /** Host paths the lab created (mount points for the nodes' bind mounts). */
  madePaths: string[];
  /** `/sys/fs/cgroup/<hierarchy>/k8s.io` directories that did not exist before the lab. */
  madeCgroups: string[];
  /** Mounts the lab made in the host's mount namespace (its pin directory). */
  mounts: string[];
  nodes: KubeNodeState[];
}

/** Everything `down` needs to undo and `status` needs to show. */
export interface LabState {
  version: 1;
  name: string;
  options: LabOptions;
  createdAt: string;
  /** "building" while `up` runs, "ready" when it finished, "failed" when it stopped half-way. */
  phase: "building" | "ready" | "failed";
  /** Namespace names this lab created (or was about to create), in creation order. */
  namespaces: string[];
  daemons: DaemonState[];
  pods: PodState[];
  processes: ProcessState[];
  /** A Kubernetes lab's node runtimes and host changes (`--kubernetes`). */
  kube?: KubeState;
  /** The pid of the `lab up` building it (`lab down` of a lab still "building" stops it first). */
  upPid?: number;
}

/** lab.json is missing or unreadable. */
export class LabStateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LabStateError";
  }
}

/** A fresh state for options. */
export function newLabState(options: LabOptions): LabState {
  return {
    version: 1,
    name: options.name,
    options,
    createdAt: new Date().toISOString(),
    phase: "building",
    namespaces: [],
    daemons: [],
    pods: [],
    processes: [],
  };
}

/** Writes lab.json atomically (temp file + rename). */
export function writeLabState(file: string, state: LabState): void {
  atomicWriteFile(file, JSON.stringify(state, null, 2) + "\n");
}

/** Reads lab.json; undefined when there is none; LabStateError when it is corrupt. */
export function readLabState(file: string): LabState | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new LabStateError(`Cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new LabStateError(`Cannot parse ${file}: ${(e as Error).message}`, { cause: e });
  }
  const s = v as Partial<LabState>;
  if (
    typeof v !== "object" || v === null || s.version !== 1 || typeof s.name !== "string" ||
    !Array.isArray(s.namespaces) || !Array.isArray(s.daemons) || !Array.isArray(s.pods) ||
    !Array.isArray(s.processes) || typeof s.options !== "object"
  ) {
    throw new LabStateError(`Cannot use ${file}: not a skein lab state (version 1)`);
  }
  return s as LabState;
}
