/**
 * The daemon's configuration: a YAML file (`--config FILE`) plus flags for the common fields.
 * Validation is strict: unknown fields are errors, and every error names the field (or flag)
 * and the problem, e.g. `config.backend.type: must be one of host-gw, vxlan, ipip, got "vxlam"`.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { parseArgs } from "node:util";
import { canonicalCidr, familyBits, tryParseCidr, tryParseIp } from "../net/cidr.ts";
import { DEFAULT_ETCD_PREFIX } from "../store/etcd_defaults.ts";
import { backendDefinition, backendNames } from "../backends/registry.ts";
import type { BackendType } from "../backends/types.ts";
import { datastoreNames, type DatastoreType } from "../store/registry.ts";

/** Backend kinds the daemon accepts: the backend table's names. */
export const BACKEND_KINDS: readonly BackendType[] = backendNames();
/** Datastore kinds the daemon accepts: the datastore table's names. */
export const DATASTORE_KINDS: readonly DatastoreType[] = datastoreNames();
/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** The validated daemon configuration (defaults filled in). */
export interface DaemonConfig {
  /** Node name (default: the host name). */
  name: string;
  /** Cluster IPv4 network; may be omitted when the datastore already holds the network config. */
  network?: string;
  /** Optional cluster IPv6 network (dual-stack). */
  network6?: string;
  /** Per-node IPv4 subnet length (default 24). */
  subnetLen: number;
  /** Per-node IPv6 subnet length (default 64). */
  subnetLen6: number;
  subnetMin?: string;
  subnetMax?: string;
  backend: { type: BackendType; vni?: number; port?: number; mtu?: number };
  datastore: {
    type: DatastoreType;
    /** file: the shared directory (default /var/lib/skein/leases). */
    dir: string;
    /** etcd: client URLs. */
    endpoints: string[];
    /** etcd: key prefix (default "/coreos.com/network", flannel's). */
    prefix: string;
    /** Lease time to live in seconds (default 86400, flannel's 24 h). */
    ttl: number;
  };
  /** Uplink by name. */
  iface?: string;
  /** Uplink: first interface whose name or IPv4 address matches. */
  ifaceRegex?: string;
  /** Uplink: the interface the kernel routes this address through (`ip route get`). */
  ifaceCanReach?: string;
  /** The address other nodes reach this node at (default: the uplink's first global IPv4). */
  publicIP?: string;
  /** IPv6 public address for dual-stack (default: the uplink's first global IPv6, if any). */
  publicIP6?: string;
  /** Health/metrics HTTP address (default 127.0.0.1:9472). */
  listen: string;
  /** Masquerade pod traffic that leaves the cluster network (default false, like flannel). */
  ipMasq: boolean;
  /** skein's JSON lease file for the CNI plugin (default /run/skein/subnet.json). */
  leaseFile: string;
  /** flannel-style env file (default /run/skein/subnet.env). */
  subnetEnv: string;
  /** Persistent state, e.g. the VXLAN MAC (default /var/lib/skein). */
  stateDir: string;
  logLevel: LogLevel;
  /** Run the dataplane in this network namespace (path or name under /run/netns). */
  netns?: string;
  /** Seconds between periodic reconciles (default 10). */
  reconcileInterval: number;
  /** Release the lease on SIGTERM (default false: keep it, like flannel). */
  releaseOnExit: boolean;
}

/** A configuration problem; `field` is "config.backend.type" or a flag like "--backend". */
export class ConfigError extends Error {
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = "ConfigError";
  }
}

/** Defaults for every optional field. */
export const DEFAULTS = {
  subnetLen: 24,
  subnetLen6: 64,
  datastoreDir: "/var/lib/skein/leases",
  ttl: 86400,
  listen: "127.0.0.1:9472",
  leaseFile: "/run/skein/subnet.json",
  subnetEnv: "/run/skein/subnet.env",
  stateDir: "/var/lib/skein",
  logLevel: "info" as LogLevel,
  reconcileInterval: 10,
} as const;

const TOP_FIELDS = [
  "name",
  "network",
  "network6",
  "subnetLen",
  "subnetLen6",
  "subnetMin",
  "subnetMax",
  "backend",
  "datastore",
  "iface",
  "ifaceRegex",
  "ifaceCanReach",
  "publicIP",
  "publicIP6",
  "listen",
  "ipMasq",
  "leaseFile",
  "subnetEnv",
  "stateDir",
  "logLevel",
  "netns",
  "reconcileInterval",
  "releaseOnExit",
];
const BACKEND_FIELDS = ["type", "vni", "port", "mtu"];
const DATASTORE_FIELDS = ["type", "dir", "endpoints", "prefix", "ttl"];

/** Flag → config path. */
const FLAGS: Record<string, string> = {
  node: "name",
  network: "network",
  backend: "backend.type",
  iface: "iface",
  "public-ip": "publicIP",
  datastore: "datastore.type",
  "store-dir": "datastore.dir",
  "etcd-endpoints": "datastore.endpoints",
  "etcd-prefix": "datastore.prefix",
  listen: "listen",
  netns: "netns",
  "log-level": "logLevel",
  "lease-file": "leaseFile",
  "subnet-env": "subnetEnv",
  "ip-masq": "ipMasq",
  "release-on-exit": "releaseOnExit",
};

/** What parseDaemonArgs() returns. */
export interface DaemonArgs {
  help: boolean;
  configFile?: string;
  /** Flag values by config path ("backend.type" → "vxlan"). */
  overrides: Record<string, unknown>;
}

/** Parses `skein daemon` flags. Throws ConfigError for unknown flags or missing values. */
export function parseDaemonArgs(args: string[]): DaemonArgs {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
    config: { type: "string", short: "c" },
  };
  for (const f of Object.keys(FLAGS)) {
    options[f] = { type: f === "ip-masq" || f === "release-on-exit" ? "boolean" : "string" };
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new ConfigError("flags", (e as Error).message.replace(/\. To specify.*$/s, ""));
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const overrides: Record<string, unknown> = {};
  for (const [flag, path] of Object.entries(FLAGS)) {
    const val = v[flag];
    if (val === undefined) continue;
    overrides[path] = flag === "etcd-endpoints"
      ? String(val).split(",").map((s) => s.trim()).filter((s) => s)
      : val;
  }
  return {
    help: v.help === true,
    configFile: typeof v.config === "string" ? v.config : undefined,
    overrides,
  };
}

/** The flag that sets a config path, for error messages. */
function flagFor(path: string): string | undefined {
  return Object.entries(FLAGS).find(([, p]) => p === path)?.[0];
}

/**
 * Builds the config from a YAML text (may be empty) and flag overrides (which win). Throws
 * ConfigError naming the field.
 */
export function buildConfig(
  yamlText: string | undefined,
  overrides: Record<string, unknown> = {},
  opts: { hostname?: string; source?: string } = {},
): DaemonConfig {
  const src = opts.source ?? "config";
  let raw: unknown = {};
  if (yamlText !== undefined && yamlText.trim() !== "") {
    try {
      raw = parseYaml(yamlText);
    } catch (e) {
      throw new ConfigError(src, `not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(src, "must be a mapping of fields");
  }
  const fromFlag = new Set<string>();
  const obj = structuredClone(raw) as Record<string, unknown>;
  for (const [path, val] of Object.entries(overrides)) {
    const [a, b] = path.split(".") as [string, string | undefined];
    fromFlag.add(path);
    if (b === undefined) obj[a] = val;
    else {
      const sub = obj[a];
      obj[a] = {
        ...(typeof sub === "object" && sub !== null && !Array.isArray(sub) ? sub : {}),
        [b]: val,
      };
    }
  }
  const name = (path: string) => {
    const f = flagFor(path);
    return fromFlag.has(path) && f ? `--${f}` : `${src}.${path}`;
  };
  const fail = (path: string, problem: string): never => {
    throw new ConfigError(name(path), problem);
  };

  unknownFields(obj, TOP_FIELDS, src);
  const str = (o: Record<string, unknown>, k: string, path: string): string | undefined => {
    const x = o[k];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== "string" || x === "") fail(path, `must be a non-empty string, got ${show(x)}`);
    return x as string;
  };
  const int = (
    o: Record<string, unknown>,
    k: string,
    path: string,
    min: number,
    max: number,
  ): number | undefined => {
    let x = o[k];
    if (x === undefined || x === null) return undefined;
    if (typeof x === "string" && /^[0-9]+$/.test(x)) x = Number(x);
    if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) {
      fail(path, `must be an integer from ${min} to ${max}, got ${show(o[k])}`);
    }
    return x as number;
  };
  const bool = (o: Record<string, unknown>, k: string, path: string): boolean | undefined => {
    const x = o[k];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== "boolean") fail(path, `must be true or false, got ${show(x)}`);
    return x as boolean;
  };
  const oneOf = <T extends string>(
    x: string | undefined,
    allowed: readonly T[],
    path: string,
  ): T | undefined => {
    if (x === undefined) return undefined;
    if (!allowed.includes(x as T)) {
      fail(path, `must be one of ${allowed.join(", ")}, got ${show(x)}`);
    }
    return x as T;
  };
  const cidr = (x: string | undefined, family: 4 | 6, path: string): string | undefined => {
    if (x === undefined) return undefined;
    const c = tryParseCidr(x);
    if (!c || !x.includes("/")) {
      fail(
        path,
        `must be an IPv${family} CIDR like ${
          family === 4 ? "10.244.0.0/16" : "fd00:10:244::/56"
        }, got ${show(x)}`,
      );
    }
    if (c!.family !== family) fail(path, `must be an IPv${family} network, got ${show(x)}`);
    if (canonicalCidr(x) !== x) fail(path, `has host bits set: did you mean ${canonicalCidr(x)}?`);
    return x;
  };
  const ip = (x: string | undefined, family: 4 | 6, path: string): string | undefined => {
    if (x === undefined) return undefined;
    const a = tryParseIp(x);
    if (!a || a.family !== family) fail(path, `must be an IPv${family} address, got ${show(x)}`);
    return x;
  };

  const backendRaw = section(obj, "backend", name("backend"));
  unknownFields(backendRaw, BACKEND_FIELDS, `${src}.backend`);
  const dsRaw = section(obj, "datastore", name("datastore"));
  unknownFields(dsRaw, DATASTORE_FIELDS, `${src}.datastore`);

  const network = cidr(str(obj, "network", "network"), 4, "network");
  const network6 = cidr(str(obj, "network6", "network6"), 6, "network6");
  const subnetLen = int(obj, "subnetLen", "subnetLen", 8, 30) ?? DEFAULTS.subnetLen;
  const subnetLen6 = int(obj, "subnetLen6", "subnetLen6", 16, 126) ?? DEFAULTS.subnetLen6;
  if (network && subnetLen <= Number(network.split("/")[1])) {
    fail(
      "subnetLen",
      `/${subnetLen} must be longer than the network's /${network.split("/")[1]} (${network})`,
    );
  }
  if (network6 && subnetLen6 <= Number(network6.split("/")[1])) {
    fail(
      "subnetLen6",
      `/${subnetLen6} must be longer than network6's /${network6.split("/")[1]} (${network6})`,
    );
  }
  const subnetMin = ip(str(obj, "subnetMin", "subnetMin"), 4, "subnetMin");
  const subnetMax = ip(str(obj, "subnetMax", "subnetMax"), 4, "subnetMax");
  for (const [k, v] of [["subnetMin", subnetMin], ["subnetMax", subnetMax]] as const) {
    if (!v) continue;
    if (!network) fail(k, "needs network to be set");
    const n = tryParseCidr(network!)!;
    const a = tryParseIp(v)!;
    const hostBits = BigInt(familyBits(4) - subnetLen);
    const base = n.ip.value;
    const inNet = (a.value >> BigInt(32 - n.prefix)) === (base >> BigInt(32 - n.prefix));
    if (!inNet) fail(k, `${v} is outside network ${network}`);
    if ((a.value & ((1n << hostBits) - 1n)) !== 0n) {
      fail(k, `${v} is not the start of a /${subnetLen} subnet`);
    }
  }
  if (subnetMin && subnetMax && tryParseIp(subnetMin)!.value > tryParseIp(subnetMax)!.value) {
    fail("subnetMin", `${subnetMin} is after subnetMax ${subnetMax}`);
  }

  const backendType =
    oneOf(str(backendRaw, "type", "backend.type"), BACKEND_KINDS, "backend.type") ?? "vxlan";
  const backend: DaemonConfig["backend"] = { type: backendType };
  const vni = int(backendRaw, "vni", "backend.vni", 0, 16777215);
  const port = int(backendRaw, "port", "backend.port", 1, 65535);
  const mtu = int(backendRaw, "mtu", "backend.mtu", 576, 65535);
  if ((vni !== undefined || port !== undefined) && backendType !== "vxlan") {
    fail(
      vni !== undefined ? "backend.vni" : "backend.port",
      `only applies to the vxlan backend (backend.type is ${backendType})`,
    );
  }
  if (vni !== undefined) backend.vni = vni;
  if (port !== undefined) backend.port = port;
  if (mtu !== undefined) backend.mtu = mtu;

  const dsType = oneOf(str(dsRaw, "type", "datastore.type"), DATASTORE_KINDS, "datastore.type") ??
    "file";
  const endpointsRaw = dsRaw.endpoints;
  let endpoints: string[] = [];
  if (endpointsRaw !== undefined && endpointsRaw !== null) {
    const list = typeof endpointsRaw === "string"
      ? endpointsRaw.split(",").map((s) => s.trim())
      : endpointsRaw;
    if (!Array.isArray(list) || list.some((e) => typeof e !== "string")) {
      fail("datastore.endpoints", `must be a list of URLs, got ${show(endpointsRaw)}`);
    }
    endpoints = list as string[];
    for (const e of endpoints) {
      let u: URL | undefined;
      try {
        u = new URL(e);
      } catch { /* below */ }
      if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) {
        fail("datastore.endpoints", `${show(e)} is not an http(s) URL like http://127.0.0.1:2379`);
      }
    }
  }
  if (dsType === "etcd" && endpoints.length === 0) {
    fail(
      "datastore.endpoints",
      "is required for the etcd datastore (e.g. [http://127.0.0.1:2379])",
    );
  }
  if (dsType === "file" && endpoints.length > 0) {
    fail("datastore.endpoints", "only applies to the etcd datastore");
  }
  const prefix = str(dsRaw, "prefix", "datastore.prefix") ?? DEFAULT_ETCD_PREFIX;
  if (!prefix.startsWith("/")) fail("datastore.prefix", `must start with "/", got ${show(prefix)}`);
  const ttl = int(dsRaw, "ttl", "datastore.ttl", 2, 10 * 86400) ?? DEFAULTS.ttl;

  const ifaceRegex = str(obj, "ifaceRegex", "ifaceRegex");
  if (ifaceRegex !== undefined) {
    try {
      new RegExp(ifaceRegex);
    } catch (e) {
      fail("ifaceRegex", `not a valid regular expression: ${(e as Error).message}`);
    }
  }
  const iface = str(obj, "iface", "iface");
  const ifaceCanReach = ip(str(obj, "ifaceCanReach", "ifaceCanReach"), 4, "ifaceCanReach");
  const chosen = [["iface", iface], ["ifaceRegex", ifaceRegex], ["ifaceCanReach", ifaceCanReach]]
    .filter(([, v]) => v);
  if (chosen.length > 1) {
    fail(
      chosen[1]![0]!,
      `set only one of iface, ifaceRegex, ifaceCanReach (also set: ${chosen[0]![0]})`,
    );
  }

  const listen = str(obj, "listen", "listen") ?? DEFAULTS.listen;
  parseListen(listen, name("listen"));
  const logLevel = oneOf(str(obj, "logLevel", "logLevel"), LOG_LEVELS, "logLevel") ??
    DEFAULTS.logLevel;
  const hostname = opts.hostname ?? safeHostname();
  const nodeName = str(obj, "name", "name") ?? hostname;
  if (!nodeName) fail("name", "is required (the host name could not be read)");
  if (!/^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/.test(nodeName!)) {
    fail("name", `${show(nodeName)} is not a valid node name (letters, digits, ".", "_", "-")`);
  }

  const cfg: DaemonConfig = {
    name: nodeName!,
    subnetLen,
    subnetLen6,
    backend,
    datastore: {
      type: dsType,
      dir: str(dsRaw, "dir", "datastore.dir") ?? DEFAULTS.datastoreDir,
      endpoints,
      prefix,
      ttl,
    },
    listen,
    ipMasq: bool(obj, "ipMasq", "ipMasq") ?? false,
    leaseFile: str(obj, "leaseFile", "leaseFile") ?? DEFAULTS.leaseFile,
    subnetEnv: str(obj, "subnetEnv", "subnetEnv") ?? DEFAULTS.subnetEnv,
    stateDir: str(obj, "stateDir", "stateDir") ?? DEFAULTS.stateDir,
    logLevel,
    reconcileInterval: int(obj, "reconcileInterval", "reconcileInterval", 1, 3600) ??
      DEFAULTS.reconcileInterval,
    releaseOnExit: bool(obj, "releaseOnExit", "releaseOnExit") ?? false,
  };
  if (network) cfg.network = network;
  if (network6) cfg.network6 = network6;
  if (subnetMin) cfg.subnetMin = subnetMin;
  if (subnetMax) cfg.subnetMax = subnetMax;
  if (iface) cfg.iface = iface;
  if (ifaceRegex) cfg.ifaceRegex = ifaceRegex;
  if (ifaceCanReach) cfg.ifaceCanReach = ifaceCanReach;
  const publicIP = ip(str(obj, "publicIP", "publicIP"), 4, "publicIP");
  if (publicIP) cfg.publicIP = publicIP;
  const publicIP6 = ip(str(obj, "publicIP6", "publicIP6"), 6, "publicIP6");
  if (publicIP6) cfg.publicIP6 = publicIP6;
  const netns = str(obj, "netns", "netns");
  if (netns) cfg.netns = netns.includes("/") ? netns : `/run/netns/${netns}`;
  return cfg;
}

/** The backend's own fields of a config's `backend` section (vxlan: vni, port), as set. */
export function backendSettings(backend: DaemonConfig["backend"]): Record<string, unknown> {
  const own = Object.keys(backendDefinition(backend.type)?.fields ?? {});
  return Object.fromEntries(
    Object.entries(backend).filter(([k, v]) => own.includes(k) && v !== undefined),
  );
}

/** Splits "127.0.0.1:9472" / "[::1]:9472" into host and port; throws ConfigError. */
export function parseListen(
  listen: string,
  field = "config.listen",
): { hostname: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError(field, `must be HOST:PORT like 127.0.0.1:9472, got ${show(listen)}`);
  }
  return { hostname: m[1] ?? m[2]!, port };
}

/** Reads and builds the config from `skein daemon` arguments. */
export async function loadConfig(
  args: DaemonArgs,
  opts: { hostname?: string } = {},
): Promise<DaemonConfig> {
  let text: string | undefined;
  if (args.configFile) {
    try {
      text = await Deno.readTextFile(args.configFile);
    } catch (e) {
      throw new ConfigError("--config", `cannot read ${args.configFile}: ${(e as Error).message}`);
    }
  }
  return buildConfig(text, args.overrides, { ...opts, source: "config" });
}

function section(
  obj: Record<string, unknown>,
  key: string,
  field: string,
): Record<string, unknown> {
  const v = obj[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) {
    throw new ConfigError(field, `must be a mapping, got ${show(v)}`);
  }
  return v as Record<string, unknown>;
}

function unknownFields(obj: Record<string, unknown>, known: string[], where: string): void {
  const bad = Object.keys(obj).filter((k) => !known.includes(k));
  if (bad.length > 0) {
    throw new ConfigError(
      where,
      `unknown field${bad.length > 1 ? "s" : ""} ${
        bad.map((b) => JSON.stringify(b)).join(", ")
      } (known: ${known.join(", ")})`,
    );
  }
}

function show(v: unknown): string {
  return typeof v === "string"
    ? JSON.stringify(v)
    : v === undefined
    ? "nothing"
    : JSON.stringify(v) ?? String(v);
}

function safeHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}
