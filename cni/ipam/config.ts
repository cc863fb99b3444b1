/**
 * Parses and validates the netconf's `ipam` section (host-local's schema plus skein's
 * `"subnet": "auto"` and `leaseFile`).
 *
 * @module
 */
import {
  addToIp,
  canonicalCidr,
  formatIp,
  networkOf,
  parseCidr,
  tryParseCidr,
  tryParseIp,
} from "../../net/cidr.ts";
import { CniCode, CniError } from "../errors.ts";
import { foldedValue, knownKeys } from "./_keys.ts";
import { DEFAULT_LEASE_FILE, readLeaseFile } from "./lease_file.ts";
import {
  parseRangeSet,
  type RangeSet,
  rangeSetsOverlap,
  rangeSetText,
  rangeToConfig,
} from "./range.ts";
import { DEFAULT_DATA_DIR } from "./store.ts";
import type { IpamConfig, IpamRange, IpamRoute, NodeLeaseInfo } from "./types.ts";

const IPAM_KEYS = [
  "type",
  "subnet",
  "rangeStart",
  "rangeEnd",
  "gateway",
  "ranges",
  "routes",
  "dataDir",
  "resolvConf",
  "leaseFile",
];
const RANGE_KEYS = ["subnet", "rangeStart", "rangeEnd", "gateway"];
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

function invalid(where: string, why: string): CniError {
  return new CniError(CniCode.InvalidConfig, `Invalid IPAM config: ${where}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * An optional string field; "" means "not set" (the default applies), as in host-local, where
 * Go reads an empty string as no path and an empty IP as nil (templates emit `"gateway": ""`).
 */
function optString(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === "") return undefined;
  if (typeof v !== "string") throw invalid(`${where}.${key}`, "must be a string");
  return v;
}

function rangeObject(raw: unknown, where: string): IpamRange {
  if (!isObject(raw)) throw invalid(where, "must be an object with a subnet");
  const v = knownKeys(raw, RANGE_KEYS, where);
  const subnet = v.subnet;
  if (typeof subnet !== "string") throw invalid(`${where}.subnet`, "missing or not a string");
  return {
    subnet,
    rangeStart: optString(v, "rangeStart", where),
    rangeEnd: optString(v, "rangeEnd", where),
    gateway: optString(v, "gateway", where),
  };
}

function rangeSets(v: unknown, where: string): IpamRange[][] {
  if (!Array.isArray(v)) throw invalid(where, "must be an array of range sets (arrays of ranges)");
  return v.map((set, i) => {
    if (!Array.isArray(set)) throw invalid(`${where}[${i}]`, "must be an array of ranges");
    return set.map((r, j) => rangeObject(r, `${where}[${i}][${j}]`));
  });
}

/** The CNI 1.1 route fields holding numbers, with the values the kernel can take. */
const ROUTE_NUMBERS = [
  { key: "mtu", max: 65535 },
  { key: "advmss", max: 65535 },
  { key: "priority", max: 0xffffffff },
  { key: "table", max: 0xffffffff },
  { key: "scope", max: 255 },
] as const;
const ROUTE_KEYS = ["dst", "gw", ...ROUTE_NUMBERS.map((n) => n.key)];

/**
 * The CNI 1.1 numeric fields of route `r` (mtu, advmss, priority, table, scope), each an
 * integer the kernel can take (code 7 otherwise). An mtu or advmss of 0 is unset, as in the
 * reference plugins (netlink sends no metric for 0).
 */
function routeNumbers(r: Record<string, unknown>, where: string): Partial<IpamRoute> {
  const out: Partial<IpamRoute> = {};
  for (const { key, max } of ROUTE_NUMBERS) {
    const v = r[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
      throw invalid(`${where}.${key}`, `${JSON.stringify(v)} is not an integer from 0 to ${max}`);
    }
    if (v === 0 && (key === "mtu" || key === "advmss")) continue;
    out[key] = v;
  }
  return out;
}

function routes(v: unknown): IpamRoute[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid("ipam.routes", "must be an array");
  return v.map((raw, i) => {
    const where = `ipam.routes[${i}]`;
    if (!isObject(raw)) throw invalid(where, "must be an object with dst");
    const r = knownKeys(raw, ROUTE_KEYS, where);
    const dst = typeof r.dst === "string" ? tryParseCidr(r.dst) : undefined;
    if (!dst || !(r.dst as string).includes("/")) {
      throw invalid(`${where}.dst`, `${JSON.stringify(r.dst)} is not a CIDR`);
    }
    const out: IpamRoute = { dst: canonicalCidr(r.dst as string) };
    if (r.gw !== undefined && r.gw !== "") {
      const gw = typeof r.gw === "string" ? tryParseIp(r.gw) : undefined;
      if (!gw) throw invalid(`${where}.gw`, `${JSON.stringify(r.gw)} is not an IP address`);
      if (gw.family !== dst.family) {
        throw invalid(`${where}.gw`, `${r.gw} is not the same family as ${r.dst}`);
      }
      out.gw = formatIp(gw);
    }
    return { ...out, ...routeNumbers(r, where) };
  });
}

/** Ranges and routes for `"subnet": "auto"`: the lease's subnets, gateway = first address. */
function autoFromLease(lease: NodeLeaseInfo): { sets: IpamRange[][]; routes: IpamRoute[] } {
  const sets: IpamRange[][] = [];
  const rts: IpamRoute[] = [];
  for (
    const [subnet, network] of [[lease.subnet, lease.network], [lease.subnet6, lease.network6]]
  ) {
    if (!subnet) continue;
    sets.push([{ subnet }]);
    if (network && network !== subnet) {
      rts.push({ dst: network, gw: formatIp(addToIp(networkOf(parseCidr(subnet)), 1)) });
    }
  }
  return { sets, routes: rts };
}

/**
 * Parses the netconf's `ipam` section plus the netconf `name`, validates it like host-local
 * (and stricter: unknown keys are refused) and fills every default in, so the result is
 * canonical. `runtimeConfig.ipRanges` and the legacy single `subnet` are prepended to `ranges`
 * as host-local does. `"subnet": "auto"` (or no ranges at all) reads the node lease file.
 *
 * Throws CniError 7 (invalid config) or 2 (unsupported field) with a message naming the field.
 * A node lease file that does not exist yet (CniError 11, try again later) or is corrupt (6) or
 * unreadable (5) is thrown right away only with `strict`; otherwise it is kept in
 * `config.leaseError` and thrown by ipamAdd() (ipamStatus() reports it as 50), so DEL, CHECK
 * and GC still work while the daemon is down.
 */
export function parseIpamConfig(
  netconf: Record<string, unknown>,
  opts: ParseIpamOptions = {},
): Promise<IpamConfig> {
  try {
    return Promise.resolve(parseIpamConfigSync(netconf, opts));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Options of parseIpamConfig(). */
export interface ParseIpamOptions {
  /**
   * Throw lease-file problems right away instead of recording them in `leaseError`
   * (default false: DEL, CHECK and GC must keep working while the daemon is down).
   */
  strict?: boolean;
}

/** The network name: letters, digits, "_", "." and "-", starting with a letter or digit. */
function networkName(netconf: Record<string, unknown>): string {
  const name = netconf.name;
  if (typeof name !== "string" || !NETWORK_NAME.test(name)) {
    throw new CniError(
      CniCode.InvalidConfig,
      `Invalid config: name ${
        JSON.stringify(name)
      } must start with a letter or digit and hold only letters, digits, "_", "." and "-"`,
    );
  }
  return name;
}

/**
 * The "ipam" object with its keys spelt as skein's fields (matched ignoring case, as host-local
 * does), refusing keys skein does not know (code 2).
 */
function ipamObject(netconf: Record<string, unknown>): Record<string, unknown> {
  const ipam = netconf.ipam;
  if (!isObject(ipam)) throw invalid("ipam", "missing or not an object");
  return knownKeys(ipam, IPAM_KEYS, "ipam", ["leaseFile"]);
}

/**
 * The configured range sets (runtimeConfig.ipRanges, the legacy subnet, ipam.ranges) and whether
 * the node lease must supply one (`"subnet": "auto"`, or no range at all).
 */
function configuredRanges(
  netconf: Record<string, unknown>,
  ipam: Record<string, unknown>,
): { sets: IpamRange[][]; auto: boolean } {
  const sets: IpamRange[][] = [];
  // host-local reads both keys ignoring case (Go's encoding/json): "RuntimeConfig", "IPRanges".
  const rc = foldedValue(netconf, "runtimeConfig", "the network config");
  const ipRanges = isObject(rc) ? foldedValue(rc, "ipRanges", "runtimeConfig") : undefined;
  if (ipRanges !== undefined) sets.push(...rangeSets(ipRanges, "runtimeConfig.ipRanges"));
  const legacy = ipam.subnet;
  const auto = legacy === "auto";
  if (legacy !== undefined && !auto) {
    sets.push([rangeObject(
      {
        subnet: legacy,
        rangeStart: ipam.rangeStart,
        rangeEnd: ipam.rangeEnd,
        gateway: ipam.gateway,
      },
      "ipam",
    )]);
  } else if (
    ipam.rangeStart !== undefined || ipam.rangeEnd !== undefined || ipam.gateway !== undefined
  ) {
    throw invalid("ipam", 'rangeStart, rangeEnd and gateway need a legacy "subnet" (use "ranges")');
  }
  // null is an empty list, as in host-local (Go reads it as a nil slice).
  if (ipam.ranges !== undefined && ipam.ranges !== null) {
    sets.push(...rangeSets(ipam.ranges, "ipam.ranges"));
  }
  if (!auto && sets.length === 0 && ipam.ranges !== undefined) {
    // An explicit empty list is a config generator that found no ranges, not a request for the
    // daemon's subnet: answering 11 (try again later) would retry forever.
    throw invalid(
      "ipam.ranges",
      `no IP ranges specified (${
        JSON.stringify(ipam.ranges)
      }); give at least one range set, or leave "ranges" out (or set "subnet": "auto") to use the node subnet of skein daemon`,
    );
  }
  return { sets, auto: auto || sets.length === 0 };
}

/** Range sets parsed, refusing any two that overlap. */
function disjointRangeSets(sets: IpamRange[][]): RangeSet[] {
  const parsed: RangeSet[] = sets.map((s, i) => parseRangeSet(s, `range set ${i}`));
  for (let i = 0; i < parsed.length; i++) {
    for (let j = i + 1; j < parsed.length; j++) {
      if (rangeSetsOverlap(parsed[i]!, parsed[j]!)) {
        throw invalid(
          "ranges",
          `range set ${i} (${rangeSetText(parsed[i]!)}) overlaps with range set ${j} (${
            rangeSetText(parsed[j]!)
          })`,
        );
      }
    }
  }
  return parsed;
}

/** The node lease, or the CniError reading it gave (recorded: DEL/CHECK/GC work without it). */
function tryNodeLease(leaseFile: string): { nodeLease?: NodeLeaseInfo; leaseError?: CniError } {
  try {
    return { nodeLease: readLeaseFile(leaseFile) };
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    return { leaseError: e };
  }
}

/** Synchronous parseIpamConfig(). */
export function parseIpamConfigSync(
  netconf: Record<string, unknown>,
  opts: ParseIpamOptions = {},
): IpamConfig {
  if (!isObject(netconf)) throw invalid("netconf", "must be a JSON object");
  const name = networkName(netconf);
  const ipam = ipamObject(netconf);
  const type = ipam.type === undefined ? "skein" : ipam.type;
  if (typeof type !== "string" || type === "") {
    throw invalid("ipam.type", "must be a non-empty string");
  }
  const dataDir = optString(ipam, "dataDir", "ipam") ?? DEFAULT_DATA_DIR;
  if (!dataDir.startsWith("/")) {
    // Relative to whatever directory the runtime started the plugin in: never what was meant.
    throw invalid("ipam.dataDir", `"${dataDir}" is not an absolute path`);
  }
  const resolvConf = optString(ipam, "resolvConf", "ipam");
  const leaseFile = optString(ipam, "leaseFile", "ipam") ?? DEFAULT_LEASE_FILE;
  let { sets, auto } = configuredRanges(netconf, ipam);
  const rts = routes(ipam.routes);
  const { nodeLease, leaseError } = auto ? tryNodeLease(leaseFile) : {};
  if (nodeLease) {
    const a = autoFromLease(nodeLease);
    sets = [...a.sets, ...sets];
    for (const r of a.routes) {
      if (!rts.some((x) => x.dst === r.dst)) rts.push(r);
    }
  }
  const parsed = disjointRangeSets(sets);
  const config: IpamConfig = {
    type,
    ranges: parsed.map((s) => s.map(rangeToConfig)),
    routes: rts,
    dataDir,
    networkName: name,
    leaseFile,
  };
  if (resolvConf !== undefined) config.resolvConf = resolvConf;
  if (nodeLease) config.nodeLease = nodeLease;
  if (leaseError) {
    if (opts.strict) throw leaseError;
    config.leaseError = leaseError;
  }
  return config;
}

/** Parses the (already canonical) ranges of a config back into range sets. */
export function rangeSetsOf(config: IpamConfig): RangeSet[] {
  if (config.leaseError) throw config.leaseError;
  if (!Array.isArray(config.ranges) || config.ranges.length === 0) {
    throw invalid("ranges", "no IP ranges specified");
  }
  return config.ranges.map((s, i) => parseRangeSet(s, `range set ${i}`));
}
