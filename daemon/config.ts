/**
 * The daemon's configuration: a YAML file (`--config FILE`) plus flags for the common fields.
 * Every field is declared once in a table (DAEMON_FIELDS here; the `backend` and `datastore`
 * sections come from the backend and datastore tables), and parsing, flags, validation messages
 * and `--help` all come from those tables. Validation is strict: unknown fields are errors, and
 * every error names the field (or flag) and the problem, e.g.
 * `config.backend.type: must be one of host-gw, vxlan, ipip, got "vxlam"`.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { parseArgs } from "node:util";
import {
  boolField,
  cidrField,
  enumField,
  type Field,
  intField,
  ipField,
  regexProblem,
  type Settings,
  show,
  stringField,
} from "../component/fields.ts";
import {
  type FailFn,
  parseFields,
  parseTypedSection,
  rejectUnknown,
  type SectionKinds,
} from "../component/section.ts";
import { tryParseCidr, tryParseIp } from "../net/cidr.ts";
import { DEFAULT_LEASE_FILE, DEFAULT_SUBNET_ENV } from "../node/lease_file.ts";
import { backendDefinition, backendNames, BACKENDS } from "../backends/registry.ts";
import type { BackendType } from "../backends/types.ts";
import {
  DATASTORE_COMMON_FIELDS,
  datastoreNames,
  DATASTORES,
  type DatastoreType,
} from "../store/registry.ts";

/** Backend kinds the daemon accepts: the backend table's names. */
export const BACKEND_KINDS: readonly BackendType[] = backendNames();
/** Datastore kinds the daemon accepts: the datastore table's names. */
export const DATASTORE_KINDS: readonly DatastoreType[] = datastoreNames();
/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** The `backend` section: its type, mtu, and the backend's own fields as set (vxlan: vni, port). */
export interface BackendSection {
  type: BackendType;
  /** Pod MTU override (default: the uplink MTU minus the backend's overhead). */
  mtu?: number;
  /** The backend's own fields (see its entry in backends/registry.ts). */
  [field: string]: unknown;
}

/** The `datastore` section: type, ttl, and every datastore's own fields with their defaults. */
export interface DatastoreSection {
  type: DatastoreType;
  /** Lease time to live in seconds (default 86400, flannel's 24 h). */
  ttl: number;
  /** file: dir; etcd: endpoints, prefix (see store/registry.ts). */
  [field: string]: unknown;
}

/** The validated daemon configuration (defaults filled in). */
export interface DaemonConfig {
  /** Node name (default: $NODE_NAME, else the host name). */
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
  backend: BackendSection;
  datastore: DatastoreSection;
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
  /**
   * Unix socket serving CNI calls, recorded in the lease file (default: cni.sock beside the
   * lease file, /run/skein/cni.sock; "none" turns the service off).
   */
  cniSocket: string;
  /** Persistent state, e.g. the VXLAN MAC (default /var/lib/skein). */
  stateDir: string;
  logLevel: LogLevel;
  /** Run the dataplane in this network namespace (path or name under /run/netns). */
  netns?: string;
  /** Seconds between periodic reconciles (default 10): the safety net behind kernel events. */
  reconcileInterval: number;
  /** Reconcile at once when the kernel reports a change to what skein owns (default true). */
  kernelEvents: boolean;
  /** Seconds the kernel may differ from the plan before /readyz says not ready (default 10). */
  driftGrace: number;
  /**
   * Seconds another node's expired lease stays programmed while its node IP still answers on
   * the underlay (default 300; 0: remove at once, like flannel).
   */
  leaseGrace: number;
  /**
   * Renew the lease from a Worker thread, so a busy main thread cannot delay it. Unset: on when
   * `datastore.ttl` is at most RENEW_WORKER_MAX_TTL (see renewOnWorker()).
   */
  renewWorker?: boolean;
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

/** Splits "127.0.0.1:9472" / "[::1]:9472" into host and port; undefined when malformed. */
function splitListen(listen: string): { hostname: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) return undefined;
  return { hostname: m[1] ?? m[2]!, port };
}

const listenProblem = (v: string) =>
  splitListen(v) ? undefined : `must be HOST:PORT like 127.0.0.1:9472, got ${show(v)}`;

const nodeNameProblem = (v: string) =>
  /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/.test(v)
    ? undefined
    : `${show(v)} is not a valid node name (letters, digits, ".", "_", "-")`;

/** The top-level fields (the `backend` and `datastore` sections come from their tables). */
export const DAEMON_FIELDS = {
  name: stringField({
    flag: "node",
    arg: "NAME",
    defaultText: "$NODE_NAME (Kubernetes' downward API), else the host name",
    check: nodeNameProblem,
    help: "node name",
  }),
  network: cidrField(4, { flag: "network", help: "cluster IPv4 network" }),
  network6: cidrField(6, { help: "cluster IPv6 network (dual-stack)" }),
  subnetLen: intField({ min: 8, max: 30, default: 24, help: "per-node IPv4 subnet length" }),
  subnetLen6: intField({ min: 16, max: 126, default: 64, help: "per-node IPv6 subnet length" }),
  subnetMin: ipField(4, { help: "first node subnet that may be handed out" }),
  subnetMax: ipField(4, { help: "last node subnet that may be handed out" }),
  iface: stringField({
    flag: "iface",
    arg: "NAME",
    defaultText: "the default route's",
    help: "uplink interface",
  }),
  ifaceRegex: stringField({
    check: regexProblem,
    arg: "RE",
    help: "uplink: first interface whose name or IPv4 address matches",
  }),
  ifaceCanReach: ipField(4, { help: "uplink: the interface the kernel routes this address via" }),
  publicIP: ipField(4, {
    flag: "public-ip",
    defaultText: "the uplink's first global IPv4",
    help: "address other nodes reach this node at",
  }),
  publicIP6: ipField(6, { help: "IPv6 address other nodes reach this node at (dual-stack)" }),
  listen: stringField({
    default: "127.0.0.1:9472",
    flag: "listen",
    arg: "HOST:PORT",
    check: listenProblem,
    help: "health/metrics address",
  }),
  ipMasq: boolField({
    default: false,
    flag: "ip-masq",
    help: "masquerade pod traffic leaving the cluster network",
  }),
  leaseFile: stringField({
    default: DEFAULT_LEASE_FILE,
    flag: "lease-file",
    arg: "PATH",
    help: "JSON lease file for the CNI plugin",
  }),
  subnetEnv: stringField({
    default: DEFAULT_SUBNET_ENV,
    flag: "subnet-env",
    arg: "PATH",
    help: "flannel-style env file",
  }),
  cniSocket: stringField({
    flag: "cni-socket",
    arg: "PATH",
    defaultText: "cni.sock beside the lease file",
    help: 'serve CNI calls on this unix socket ("none": plugins always run in-process)',
  }),
  stateDir: stringField({
    default: "/var/lib/skein",
    arg: "DIR",
    help: "persistent state (the VXLAN MAC)",
  }),
  logLevel: enumField(LOG_LEVELS, { default: "info", flag: "log-level", help: "log level" }),
  netns: stringField({
    flag: "netns",
    arg: "NS",
    help: "run the dataplane in this network namespace",
  }),
  reconcileInterval: intField({
    min: 1,
    max: 3600,
    default: 10,
    arg: "S",
    help: "seconds between periodic reconciles (the safety net behind kernel events)",
  }),
  kernelEvents: boolField({
    default: true,
    help: "reconcile at once when the kernel reports a change to what skein owns",
  }),
  driftGrace: intField({
    min: 0,
    max: 3600,
    default: 10,
    arg: "S",
    help: "seconds the kernel may differ from the plan before /readyz says not ready",
  }),
  leaseGrace: intField({
    min: 0,
    max: 86400,
    default: 300,
    arg: "S",
    help: "seconds another node's expired lease stays programmed while its node IP answers",
  }),
  renewWorker: boolField({
    help:
      "renew the lease from a Worker thread (about 11 MiB more RSS) so a busy daemon keeps it; default: on when datastore.ttl <= 300 s",
  }),
  releaseOnExit: boolField({
    default: false,
    flag: "release-on-exit",
    help: "give the lease back on SIGTERM instead of keeping it",
  }),
} as const;

/** The `backend` section: a type from the backend table, mtu, then the chosen backend's fields. */
export const BACKEND_SECTION: SectionKinds = {
  what: "backend",
  type: enumField(backendNames(), {
    default: "vxlan",
    flag: "backend",
    arg: "TYPE",
    help: "",
  }),
  common: {
    mtu: intField({
      min: 576,
      max: 65535,
      defaultText: "the uplink's minus the backend's overhead",
      help: "pod MTU",
    }),
  },
  kinds: Object.fromEntries(Object.entries(BACKENDS).map(([n, d]) => [n, d.fields])),
};

/** The `datastore` section: a type from the datastore table, ttl, then the store's fields. */
export const DATASTORE_SECTION: SectionKinds = {
  what: "datastore",
  type: enumField(datastoreNames(), {
    default: "file",
    flag: "datastore",
    arg: "TYPE",
    help: "",
  }),
  common: DATASTORE_COMMON_FIELDS,
  kinds: Object.fromEntries(Object.entries(DATASTORES).map(([n, d]) => [n, d.fields])),
};

/** Defaults for every optional field (from the tables). */
export const DEFAULTS = {
  subnetLen: DAEMON_FIELDS.subnetLen.default,
  subnetLen6: DAEMON_FIELDS.subnetLen6.default,
  datastoreDir: DATASTORES.file.fields.dir.default,
  ttl: DATASTORE_COMMON_FIELDS.ttl.default,
  listen: DAEMON_FIELDS.listen.default,
  leaseFile: DAEMON_FIELDS.leaseFile.default,
  subnetEnv: DAEMON_FIELDS.subnetEnv.default,
  stateDir: DAEMON_FIELDS.stateDir.default,
  logLevel: DAEMON_FIELDS.logLevel.default as LogLevel,
  reconcileInterval: DAEMON_FIELDS.reconcileInterval.default,
} as const;

const SECTIONS = { backend: BACKEND_SECTION, datastore: DATASTORE_SECTION } as const;

/** One field in `--help` order: its config path, the field, and the kind it belongs to. */
export interface ConfigFieldInfo {
  /** "network", "backend.type", "datastore.endpoints". */
  path: string;
  field: Field;
  /** For a field of one backend or datastore only: its name ("vxlan"). */
  only?: string;
}

/**
 * Every config field in `--help` order: the top-level fields, with the `backend` and
 * `datastore` sections (type, common fields, then each kind's own) after `subnetMax`, where the
 * YAML examples have them.
 */
export function configFields(): ConfigFieldInfo[] {
  const out: ConfigFieldInfo[] = [];
  for (const [key, field] of Object.entries(DAEMON_FIELDS)) {
    out.push({ path: key, field });
    if (key !== "subnetMax") continue;
    for (const [name, s] of Object.entries(SECTIONS)) {
      out.push({ path: `${name}.type`, field: s.type });
      for (const [k, f] of Object.entries(s.common)) out.push({ path: `${name}.${k}`, field: f });
      for (const [kind, table] of Object.entries(s.kinds)) {
        for (const [k, f] of Object.entries(table)) {
          out.push({ path: `${name}.${k}`, field: f, only: kind });
        }
      }
    }
  }
  return out;
}

/** Flag → config path ("backend" → "backend.type"), from the tables. */
const FLAGS: Record<string, string> = Object.fromEntries(
  configFields().flatMap((c) => (c.field.flag ? [[c.field.flag, c.path]] : [])),
);

/** What parseDaemonArgs() returns. */
export interface DaemonArgs {
  help: boolean;
  /** `--dry-run`: print what the daemon would change and exit (`--json`: as JSON). */
  dryRun?: boolean;
  json?: boolean;
  configFile?: string;
  /** Flag values by config path ("backend.type" → "vxlan"). */
  overrides: Record<string, unknown>;
}

/** Parses `skein daemon` flags. Throws ConfigError for unknown flags or missing values. */
export function parseDaemonArgs(args: string[]): DaemonArgs {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
    config: { type: "string", short: "c" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
  };
  for (const { field } of configFields()) {
    if (field.flag) options[field.flag] = { type: field.arg === "" ? "boolean" : "string" };
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
    if (v[flag] !== undefined) overrides[path] = v[flag];
  }
  return {
    help: v.help === true,
    dryRun: v["dry-run"] === true,
    json: v.json === true,
    configFile: typeof v.config === "string" ? v.config : undefined,
    overrides,
  };
}

/** The YAML text as a mapping (empty text: no fields). */
function yamlMapping(yamlText: string | undefined, src: string): Record<string, unknown> {
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
  return structuredClone(raw) as Record<string, unknown>;
}

/** Puts flag values ("backend.type" → x) into the mapping; flags win. */
function applyOverrides(obj: Record<string, unknown>, overrides: Record<string, unknown>): void {
  for (const [path, val] of Object.entries(overrides)) {
    const [a, b] = path.split(".") as [string, string | undefined];
    if (b === undefined) {
      obj[a] = val;
      continue;
    }
    const sub = obj[a];
    obj[a] = {
      ...(typeof sub === "object" && sub !== null && !Array.isArray(sub) ? sub : {}),
      [b]: val,
    };
  }
}

/** Section `key` of `obj` as a mapping (absent: empty). */
function sectionOf(
  obj: Record<string, unknown>,
  key: string,
  fail: FailFn,
): Record<string, unknown> {
  const v = obj[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(key, `must be a mapping, got ${show(v)}`);
  return v as Record<string, unknown>;
}

type TopValues = Settings<typeof DAEMON_FIELDS>;

/** Cross-field checks of the subnet fields. */
function checkSubnets(t: TopValues, fail: FailFn): void {
  for (
    const [k, net, len, what] of [
      ["subnetLen", t.network, t.subnetLen, "the network's"],
      ["subnetLen6", t.network6, t.subnetLen6, "network6's"],
    ] as const
  ) {
    const netLen = net === undefined ? undefined : Number(net.split("/")[1]);
    if (netLen !== undefined && len <= netLen) {
      fail(k, `/${len} must be longer than ${what} /${netLen} (${net})`);
    }
  }
  for (const k of ["subnetMin", "subnetMax"] as const) {
    const v = t[k];
    if (!v) continue;
    if (!t.network) fail(k, "needs network to be set");
    const n = tryParseCidr(t.network!)!;
    const a = tryParseIp(v)!;
    const shift = BigInt(32 - n.prefix);
    if ((a.value >> shift) !== (n.ip.value >> shift)) {
      fail(k, `${v} is outside network ${t.network}`);
    }
    if ((a.value & ((1n << BigInt(32 - t.subnetLen)) - 1n)) !== 0n) {
      fail(k, `${v} is not the start of a /${t.subnetLen} subnet`);
    }
  }
  if (
    t.subnetMin && t.subnetMax && tryParseIp(t.subnetMin)!.value > tryParseIp(t.subnetMax)!.value
  ) {
    fail("subnetMin", `${t.subnetMin} is after subnetMax ${t.subnetMax}`);
  }
}

/** At most one way of choosing the uplink. */
function checkUplinkChoice(t: TopValues, fail: FailFn): void {
  const chosen = (["iface", "ifaceRegex", "ifaceCanReach"] as const).filter((k) => t[k]);
  if (chosen.length > 1) {
    fail(chosen[1]!, `set only one of iface, ifaceRegex, ifaceCanReach (also set: ${chosen[0]})`);
  }
}

/** The node name: the field, else $NODE_NAME or the host name (checked the same way). */
function nodeName(t: TopValues, hostname: string, fail: FailFn): string {
  if (t.name !== undefined) return t.name;
  if (!hostname) fail("name", "is required (the host name could not be read)");
  const problem = nodeNameProblem(hostname);
  if (problem) fail("name", problem);
  return hostname;
}

/** `name` in the lease file's directory (/run/skein/subnet.json → /run/skein/cni.sock). */
function besideLeaseFile(leaseFile: string, name: string): string {
  const slash = leaseFile.lastIndexOf("/");
  return slash < 0 ? name : `${leaseFile.slice(0, slash + 1)}${name}`;
}

/** Drops absent optional values, so the config holds only what is set or defaulted. */
function defined<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Builds the config from a YAML text (may be empty) and flag overrides (which win). Throws
 * ConfigError naming the field (or the flag that set it).
 */
export function buildConfig(
  yamlText: string | undefined,
  overrides: Record<string, unknown> = {},
  opts: { hostname?: string; source?: string } = {},
): DaemonConfig {
  const src = opts.source ?? "config";
  const obj = yamlMapping(yamlText, src);
  applyOverrides(obj, overrides);
  const fail: FailFn = (path, problem) => {
    const flag = path in overrides ? Object.keys(FLAGS).find((f) => FLAGS[f] === path) : undefined;
    throw new ConfigError(flag ? `--${flag}` : `${src}.${path}`, problem);
  };
  rejectUnknown(obj, [...Object.keys(DAEMON_FIELDS), ...Object.keys(SECTIONS)], (p) => {
    throw new ConfigError(src, p);
  });
  const raws = {
    backend: sectionOf(obj, "backend", fail),
    datastore: sectionOf(obj, "datastore", fail),
  };
  const top = parseFields(obj, DAEMON_FIELDS, fail);
  checkSubnets(top, fail);
  checkUplinkChoice(top, fail);
  const section = (name: keyof typeof SECTIONS, defaults: "all" | "none") =>
    parseTypedSection(raws[name], SECTIONS[name], (k, p) => fail(`${name}.${k}`, p), {
      defaults,
      failSection: (p) => {
        throw new ConfigError(`${src}.${name}`, p);
      },
    });
  const cfg = defined({
    ...top,
    name: nodeName(top, opts.hostname ?? defaultNodeName(), fail),
    backend: section("backend", "none") as BackendSection,
    datastore: section("datastore", "all") as DatastoreSection,
  }) as DaemonConfig;
  if (cfg.netns && !cfg.netns.includes("/")) cfg.netns = `/run/netns/${cfg.netns}`;
  cfg.cniSocket ??= besideLeaseFile(cfg.leaseFile, "cni.sock");
  return cfg;
}

/** Splits "127.0.0.1:9472" / "[::1]:9472" into host and port; throws ConfigError. */
export function parseListen(
  listen: string,
  field = "config.listen",
): { hostname: string; port: number } {
  const hp = splitListen(listen);
  if (!hp) throw new ConfigError(field, listenProblem(listen)!);
  return hp;
}

/** The backend's own fields of a config's `backend` section (vxlan: vni, port), as set. */
export function backendSettings(backend: BackendSection): Record<string, unknown> {
  const own = Object.keys(backendDefinition(backend.type)?.fields ?? {});
  return Object.fromEntries(
    Object.entries(backend).filter(([k, v]) => own.includes(k) && v !== undefined),
  );
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
      throw new ConfigError("--config", `cannot read ${args.configFile}: ${readProblem(e)}`);
    }
  }
  return buildConfig(text, args.overrides, { ...opts, source: "config" });
}

/** Why a file could not be read, without Deno's "(os error N): readfile '...'" tail. */
function readProblem(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "it is a directory";
  return (e as Error).message;
}

/**
 * $NODE_NAME when set (a DaemonSet passes spec.nodeName by the downward API, as flannel reads
 * it: a pod on the host network shares the host name, which need not be the Node's name, so
 * `kubectl -n skein exec POD -- skein diagnose` finds its node without --config), else the
 * host name.
 */
function defaultNodeName(): string {
  let env: string | undefined;
  try {
    env = Deno.env.get("NODE_NAME");
  } catch { /* no env permission: the host name */ }
  return env || safeHostname();
}

function safeHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

/**
 * The longest lease TTL for which renewals run on a Worker by default. A busy main thread loses
 * the lease only if it stalls for about 2/3 of the TTL (renewals come every TTL/3): above 300 s
 * that is a stall of minutes, a hang that peers' lease grace covers, not a slow reconcile, and
 * the Worker's second V8 isolate (about 11 MiB) buys nothing.
 */
export const RENEW_WORKER_MAX_TTL = 300;

/** Whether this daemon renews from a Worker: `renewWorker` when set, else by the TTL. */
export function renewOnWorker(cfg: Pick<DaemonConfig, "renewWorker" | "datastore">): boolean {
  return cfg.renewWorker ?? cfg.datastore.ttl <= RENEW_WORKER_MAX_TTL;
}
