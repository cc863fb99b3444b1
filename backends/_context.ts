/**
 * Validated backend options shared by host-gw, vxlan and ipip, and their small helpers.
 *
 * @module
 */
import { formatIp, type Ip, parseIp, tryParseIp } from "../net/cidr.ts";
import { isIfname } from "../net/nl/ifname.ts";
import type { NetHandle, NetnsRef } from "../net/types.ts";
import type { Lease } from "../store/types.ts";
import type { BackendOptions, BackendType, SysctlGetter, SysctlSetter, Uplink } from "./types.ts";
import { ipInfo } from "./_parse_cache.ts";
import { parseFields } from "../component/section.ts";
import { type BackendDefinition, backendDefinition, backendNames, BACKENDS } from "./registry.ts";

/** Invalid backend options: nothing was changed. */
export class BackendConfigError extends TypeError {
  /**
   * Creates the error; the message names the field and the problem.
   * @param field the option, e.g. "mtu"
   * @param problem what is wrong with it
   */
  constructor(field: string, problem: string) {
    super(`Invalid backend option ${field}: ${problem}`);
    this.name = "BackendConfigError";
  }
}

/** A failure to create or repair a backend's local device (setup()). */
export class BackendSetupError extends Error {
  /**
   * Creates the error.
   * @param message what failed and why
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BackendSetupError";
  }
}

/**
 * skein's tunnel devices (name and link kind) from the backend table: the only links
 * removeOtherTunnelDevices() ever deletes. Read when called (the table imports the backends).
 */
export function skeinTunnelDevices(): { name: string; kind: string }[] {
  return Object.values(BACKENDS).flatMap((d: BackendDefinition) =>
    d.capabilities.device ? [{ ...d.capabilities.device }] : []
  );
}

/** Encapsulation overhead per backend and underlay family (the table's capability). */
export function overheadOf(type: BackendType, underlay: 4 | 6): number {
  return backendDefinition(type)?.capabilities.overhead[underlay] ?? 0;
}

/** Options after validation, with defaults filled in. */
export interface BackendContext {
  type: BackendType;
  handle: NetHandle;
  netns?: NetnsRef;
  uplink: Uplink;
  publicIP: string;
  publicIP6?: string;
  underlayFamily: 4 | 6;
  node: string;
  /** The backend's own fields from its table entry, parsed, defaults filled (vxlan: vni, port). */
  settings: Readonly<Record<string, unknown>>;
  deviceName: string;
  stateDir?: string;
  /** The overlay device / pod MTU. */
  mtu: number;
  sysctl: { get: SysctlGetter; set: SysctlSetter };
}

/**
 * Checks every option against the backend table and fills in defaults; throws
 * BackendConfigError naming the field. `sysctl` must already be resolved by the caller.
 */
export function validateOptions(
  opts: BackendOptions,
  sysctl: { get: SysctlGetter; set: SysctlSetter },
): BackendContext {
  const def = backendDefinition(opts.type);
  if (!def) {
    throw new BackendConfigError(
      "type",
      `must be one of ${backendNames().join(", ")}, got ${JSON.stringify(opts.type)}`,
    );
  }
  const uplink = checkUplink(opts.uplink);
  const { ip, publicIP6 } = checkAddresses(opts, def);
  if (typeof opts.node !== "string" || opts.node === "") {
    throw new BackendConfigError("node", "must be a non-empty node name");
  }
  const deviceName = checkDeviceName(opts, def, uplink);
  return {
    type: opts.type,
    handle: opts.handle,
    netns: opts.netns,
    uplink,
    publicIP: formatIp(ip),
    publicIP6,
    underlayFamily: ip.family,
    node: opts.node,
    settings: checkSettings(opts, def),
    deviceName,
    stateDir: opts.stateDir,
    mtu: checkMtu(opts, def, uplink, ip.family),
    sysctl,
  };
}

function checkUplink(u: Uplink | undefined): Uplink {
  if (!u || !isIfname(u.name)) throw new BackendConfigError("uplink.name", "not an interface name");
  if (!Number.isInteger(u.index) || u.index <= 0) {
    throw new BackendConfigError("uplink.index", `must be a positive integer, got ${u.index}`);
  }
  if (!Number.isInteger(u.mtu) || u.mtu < 68) {
    throw new BackendConfigError("uplink.mtu", `must be an integer >= 68, got ${u.mtu}`);
  }
  return { name: u.name, index: u.index, mtu: u.mtu };
}

/** publicIP (of an underlay family the backend supports) and the optional publicIP6. */
function checkAddresses(
  opts: BackendOptions,
  def: BackendDefinition,
): { ip: Ip; publicIP6?: string } {
  const ip = tryParseIp(opts.publicIP);
  if (!ip) {
    throw new BackendConfigError("publicIP", `not an IP address: ${JSON.stringify(opts.publicIP)}`);
  }
  let publicIP6: string | undefined;
  if (opts.publicIP6 !== undefined) {
    const p6 = tryParseIp(opts.publicIP6);
    if (!p6 || p6.family !== 6) {
      throw new BackendConfigError(
        "publicIP6",
        `not an IPv6 address: ${JSON.stringify(opts.publicIP6)}`,
      );
    }
    publicIP6 = formatIp(p6);
  }
  if (def.capabilities.overhead[ip.family] === undefined) {
    const families = Object.keys(def.capabilities.overhead).map((f) => `IPv${f}`).join(" or ");
    throw new BackendConfigError("publicIP", `${opts.type} needs an ${families} underlay address`);
  }
  return { ip, publicIP6 };
}

/** The backend's own fields (`opts.settings`) parsed by its table entry, defaults filled. */
function checkSettings(opts: BackendOptions, def: BackendDefinition): Record<string, unknown> {
  const given = opts.settings ?? {};
  const known = Object.keys(def.fields);
  for (const k of Object.keys(given)) {
    if (!known.includes(k)) {
      throw new BackendConfigError(
        k,
        `not a setting of the ${opts.type} backend (it has: ${known.join(", ") || "none"})`,
      );
    }
  }
  return parseFields({ ...given }, def.fields, (key, problem) => {
    throw new BackendConfigError(key, problem);
  });
}

function checkDeviceName(opts: BackendOptions, def: BackendDefinition, u: Uplink): string {
  const device = def.capabilities.device;
  const deviceName = opts.deviceName ?? device?.name ?? "";
  if (!device) return deviceName;
  if (!isIfname(deviceName)) {
    throw new BackendConfigError(
      "deviceName",
      `not a valid interface name (1-15 bytes, no spaces, "/" or ":"): ${
        JSON.stringify(deviceName)
      }`,
    );
  }
  if (deviceName === u.name) {
    throw new BackendConfigError("deviceName", `must differ from the uplink ${u.name}`);
  }
  return deviceName;
}

/** The pod MTU: the uplink's minus the overhead, or `opts.mtu` when it fits. */
function checkMtu(opts: BackendOptions, def: BackendDefinition, u: Uplink, family: 4 | 6): number {
  const overhead = def.capabilities.overhead[family] ?? 0;
  const max = u.mtu - overhead;
  if (max < 68) {
    throw new BackendConfigError(
      "uplink.mtu",
      `${u.mtu} leaves no room for the ${overhead}-byte ${opts.type} header`,
    );
  }
  if (opts.mtu === undefined) return max;
  if (!Number.isInteger(opts.mtu) || opts.mtu < 68) {
    throw new BackendConfigError("mtu", `must be an integer >= 68, got ${opts.mtu}`);
  }
  if (opts.mtu > max) {
    throw new BackendConfigError(
      "mtu",
      `${opts.mtu} is larger than the uplink ${u.name} MTU ${u.mtu} minus the ${opts.type} overhead ${overhead} (${max}); packets would be dropped`,
    );
  }
  return opts.mtu;
}

/**
 * The underlay address to reach a lease's node for an overlay of `family`: publicIP when it is of
 * that family, else publicIP6 for IPv6.
 */
export function underlayOf(lease: Lease, family: 4 | 6): string | undefined {
  const p = ipInfo(lease.publicIP);
  if (p && p.ip.family === family) return p.text;
  if (family === 6 && lease.publicIP6) {
    const p6 = ipInfo(lease.publicIP6);
    if (p6 && p6.ip.family === 6) return p6.text;
  }
  return undefined;
}

/** The family of an address (throws on garbage; callers validated it). */
export function familyOf(ip: string): 4 | 6 {
  return parseIp(ip).family;
}
