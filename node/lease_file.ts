/**
 * The node lease file: what `skein daemon` tells everything else on the node about this node's
 * lease (subnet, cluster network, MTU, masquerade, backend). The daemon writes it; the CNI IPAM
 * (`"subnet": "auto"`), `skein lab status` and `skein diagnose` read it. Two forms:
 * skein's JSON (`/run/skein/subnet.json`) and flannel's `subnet.env` (any path ending in `.env`),
 * which the daemon writes beside it so flannel tooling keeps working.
 *
 * The schema is one table (FIELDS): a field is one row (its JSON key, its kind, its flannel
 * variable if it has one) plus its property in NodeLease. The parser and the writer both follow
 * the table, in its order. Readers ignore keys they do not know, so a newer daemon may add
 * optional fields without breaking an older plugin.
 *
 * Hostile input is bounded: only a regular file of at most 64 KiB is read (a FIFO, device or
 * directory is refused without opening or reading it), and every value is checked.
 *
 * @module
 */
import { canonicalCidr, formatIp, nthIp, parseCidr, tryParseCidr } from "../net/cidr.ts";
import { atomicWriteFile } from "./atomic_write.ts";
import { FileRefusedError, readBoundedText } from "./bounded_read.ts";
import { isMtu } from "./mtu.ts";

/** Where the daemon writes the node lease by default. */
export const DEFAULT_LEASE_FILE = "/run/skein/subnet.json";
/** Where the daemon writes flannel's subnet.env by default. */
export const DEFAULT_SUBNET_ENV = "/run/skein/subnet.env";

/** The largest node lease file read (the daemon writes a few hundred bytes). */
export const MAX_LEASE_FILE_BYTES = 64 * 1024;

/** What the node lease file says; every field is optional to a reader. */
export interface NodeLease {
  /** The node name. */
  node?: string;
  /** The IPv4 cluster network ("10.244.0.0/16"), canonical. */
  network?: string;
  /** This node's IPv4 pod subnet, canonical ("10.244.1.0/24"). */
  subnet?: string;
  /** The IPv6 cluster network, when dual-stack. */
  network6?: string;
  /** This node's IPv6 pod subnet, when dual-stack. */
  subnet6?: string;
  /** The pod MTU the daemon chose (uplink MTU minus tunnel overhead). */
  mtu?: number;
  /** Whether the node masquerades traffic leaving the cluster network. */
  ipMasq?: boolean;
  /** The backend type ("vxlan", "host-gw", "ipip"). */
  backend?: string;
  /** The unix socket on which the daemon serves CNI calls (cni/forward.ts), when it does. */
  cniSocket?: string;
}

/** What the daemon writes: the fields every lease has are required. */
export type NodeLeaseFile =
  & NodeLease
  & Required<Pick<NodeLease, "node" | "network" | "subnet" | "mtu" | "ipMasq" | "backend">>;

/** How a field's value is checked. */
type FieldKind = "string" | "cidr4" | "cidr6" | "mtu" | "boolean" | "path";

interface FieldSpec {
  /** The JSON key and NodeLease property. */
  key: keyof NodeLease;
  kind: FieldKind;
  /** The flannel subnet.env variable, when the field has one. */
  env?: string;
}

/** The schema, in the order the writer emits the fields. */
const FIELDS: readonly FieldSpec[] = [
  { key: "node", kind: "string" },
  { key: "network", kind: "cidr4", env: "FLANNEL_NETWORK" },
  { key: "subnet", kind: "cidr4", env: "FLANNEL_SUBNET" },
  { key: "network6", kind: "cidr6", env: "FLANNEL_IPV6_NETWORK" },
  { key: "subnet6", kind: "cidr6", env: "FLANNEL_IPV6_SUBNET" },
  { key: "mtu", kind: "mtu", env: "FLANNEL_MTU" },
  { key: "ipMasq", kind: "boolean", env: "FLANNEL_IPMASQ" },
  { key: "backend", kind: "string" },
  { key: "cniSocket", kind: "path" },
];

/** Why a node lease file could not be used. */
export type LeaseFileProblem = "missing" | "corrupt" | "io";

/**
 * The node lease file could not be read (`missing`: no such file, the daemon has not leased a
 * subnet yet; `io`: another read error) or used (`corrupt`: not a regular file, too large, or a
 * bad value; `reason` names it).
 */
export class LeaseFileError extends Error {
  /** Which of the three. */
  readonly problem: LeaseFileProblem;
  /** The file. */
  readonly path: string;
  /** What is wrong, without the path ("field \"mtu\" must be ..."). */
  readonly reason: string;
  /**
   * Creates the error; the message names the file and the reason.
   * @param problem missing, corrupt or io
   * @param path the lease file
   * @param reason what is wrong
   */
  constructor(problem: LeaseFileProblem, path: string, reason: string, options?: ErrorOptions) {
    super(
      `Cannot ${problem === "corrupt" ? "use" : "read"} node lease file ${path}: ${reason}`,
      options,
    );
    this.name = "LeaseFileError";
    this.problem = problem;
    this.path = path;
    this.reason = reason;
  }
}

function corrupt(path: string, reason: string): LeaseFileError {
  return new LeaseFileError("corrupt", path, reason);
}

function cidrValue(path: string, label: string, v: unknown, family: 4 | 6): string {
  const c = typeof v === "string" ? tryParseCidr(v) : undefined;
  if (!c || !(v as string).includes("/") || c.family !== family) {
    throw corrupt(path, `${label} must be an IPv${family} CIDR string, got ${JSON.stringify(v)}`);
  }
  return canonicalCidr(v as string);
}

/** Checks one JSON value against its field's kind. */
function jsonValue(path: string, f: FieldSpec, v: unknown): string | number | boolean {
  const label = `field "${f.key}"`;
  switch (f.kind) {
    case "cidr4":
      return cidrValue(path, label, v, 4);
    case "cidr6":
      return cidrValue(path, label, v, 6);
    case "mtu":
      if (!isMtu(v)) {
        throw corrupt(path, `${label} must be an integer 68-65535, got ${JSON.stringify(v)}`);
      }
      return v;
    case "boolean":
      if (typeof v !== "boolean") throw corrupt(path, `${label} must be a boolean`);
      return v;
    case "string":
      if (typeof v !== "string") throw corrupt(path, `${label} must be a string`);
      return v;
    case "path":
      if (typeof v !== "string" || !v.startsWith("/")) {
        throw corrupt(path, `${label} must be an absolute path, got ${JSON.stringify(v)}`);
      }
      return v;
  }
}

/** Checks one subnet.env value (a string) against its field's kind. */
function envValue(path: string, f: FieldSpec, name: string, v: string): string | number | boolean {
  switch (f.kind) {
    case "cidr4":
      return cidrValue(path, `field "${name}"`, v, 4);
    case "cidr6":
      return cidrValue(path, `field "${name}"`, v, 6);
    case "mtu": {
      const n = Number(v);
      if (!/^[0-9]+$/.test(v) || !isMtu(n)) {
        throw corrupt(path, `${name} must be an integer 68-65535, got ${JSON.stringify(v)}`);
      }
      return n;
    }
    case "boolean":
      if (v !== "true" && v !== "false") {
        throw corrupt(path, `${name} must be true or false, got ${JSON.stringify(v)}`);
      }
      return v === "true";
    case "string":
    case "path":
      return v;
  }
}

function set(out: NodeLease, key: keyof NodeLease, v: string | number | boolean): void {
  (out as Record<string, unknown>)[key] = v;
}

/**
 * Parses skein's JSON lease file text into typed, canonical values. Keys it does not know are
 * ignored. Throws LeaseFileError (corrupt) naming the bad field.
 */
export function parseLeaseJson(text: string, path: string): NodeLease {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw corrupt(path, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw corrupt(path, "expected a JSON object");
  }
  const o = v as Record<string, unknown>;
  const out: NodeLease = {};
  for (const f of FIELDS) {
    if (o[f.key] !== undefined) set(out, f.key, jsonValue(path, f, o[f.key]));
  }
  if (!out.subnet && !out.subnet6) throw corrupt(path, `field "subnet" is missing`);
  return out;
}

function envVars(text: string, path: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw corrupt(path, `line ${JSON.stringify(line)} is not KEY=VALUE`);
    vars.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
  }
  return vars;
}

/**
 * Parses flannel's `subnet.env` (`FLANNEL_NETWORK`, `FLANNEL_SUBNET` (the gateway address with
 * the subnet's length, e.g. 10.244.1.1/24), `FLANNEL_IPV6_NETWORK`, `FLANNEL_IPV6_SUBNET`,
 * `FLANNEL_MTU`, `FLANNEL_IPMASQ`); an empty value counts as absent. Throws LeaseFileError
 * (corrupt) naming the bad variable.
 */
export function parseSubnetEnv(text: string, path: string): NodeLease {
  const vars = envVars(text, path);
  const out: NodeLease = {};
  for (const f of FIELDS) {
    const v = f.env ? vars.get(f.env) : undefined;
    if (f.env && v) set(out, f.key, envValue(path, f, f.env, v));
  }
  if (!out.subnet && !out.subnet6) throw corrupt(path, "FLANNEL_SUBNET is missing");
  return out;
}

/**
 * Reads and parses the node lease file (`.env` paths as flannel's subnet.env, others as JSON).
 * Throws LeaseFileError: `missing` when there is no such file (the daemon has not leased a
 * subnet yet), `corrupt` for anything but a regular file of at most 64 KiB (refused without
 * reading it) or a bad value, `io` for other read errors.
 *
 * @example
 * ```ts
 * import { readLeaseFile, writeLeaseFiles } from "./lease_file.ts";
 * const dir = Deno.makeTempDirSync();
 * const lease = {
 *   node: "n1", network: "10.244.0.0/16", subnet: "10.244.1.0/24",
 *   mtu: 1450, ipMasq: true, backend: "vxlan",
 * };
 * writeLeaseFiles(lease, { leaseFile: `${dir}/subnet.json`, subnetEnv: `${dir}/subnet.env` });
 * readLeaseFile(`${dir}/subnet.env`).subnet; // "10.244.1.0/24"
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function readLeaseFile(path: string): NodeLease {
  let text: string;
  try {
    text = readBoundedText(path, MAX_LEASE_FILE_BYTES);
  } catch (e) {
    if (e instanceof FileRefusedError) throw corrupt(path, e.reason);
    if (e instanceof Deno.errors.NotFound) {
      throw new LeaseFileError("missing", path, "it does not exist", { cause: e });
    }
    throw new LeaseFileError("io", path, (e as Error).message, { cause: e });
  }
  return path.endsWith(".env") ? parseSubnetEnv(text, path) : parseLeaseJson(text, path);
}

/** readLeaseFile(), or undefined when the file is missing or unusable (for status displays). */
export function tryReadLeaseFile(path: string): NodeLease | undefined {
  try {
    return readLeaseFile(path);
  } catch (e) {
    if (e instanceof LeaseFileError) return undefined;
    throw e;
  }
}

/** The JSON lease file's text: the fields that are set, in schema order. */
export function leaseFileText(l: NodeLeaseFile): string {
  const o: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = l[f.key];
    if (v !== undefined && v !== "") o[f.key] = v;
  }
  return JSON.stringify(o, null, 2) + "\n";
}

/** The first host address with the subnet's length, as flannel writes FLANNEL_SUBNET ("10.244.1.1/24"). */
export function gatewayForm(subnet: string): string {
  const c = parseCidr(subnet);
  return `${formatIp(nthIp(c, 1))}/${c.prefix}`;
}

/** flannel's subnet.env text: the fields that have a variable, subnets in gateway form. */
export function subnetEnvText(l: NodeLeaseFile): string {
  const lines: string[] = [];
  for (const f of FIELDS) {
    const v = l[f.key];
    if (!f.env || v === undefined || v === "") continue;
    const isSubnet = f.key === "subnet" || f.key === "subnet6";
    lines.push(`${f.env}=${isSubnet ? gatewayForm(String(v)) : String(v)}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * Writes both files atomically (creating the directory); the env file first, so the JSON file
 * (which the plugin prefers) lands last.
 */
export function writeLeaseFiles(
  l: NodeLeaseFile,
  paths: { leaseFile: string; subnetEnv: string },
): void {
  atomicWriteFile(paths.subnetEnv, subnetEnvText(l), { mkdir: true });
  atomicWriteFile(paths.leaseFile, leaseFileText(l), { mkdir: true });
}
