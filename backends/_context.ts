/**
 * Validated backend options shared by host-gw, vxlan and ipip, and their small helpers.
 *
 * @module
 */
import { formatIp, parseIp, tryParseIp } from "../net/cidr.ts";
import { isIfname } from "../net/nl/ifname.ts";
import type { NetHandle, NetnsRef } from "../net/types.ts";
import type { Lease } from "../store/types.ts";
import {
  BACKEND_TYPES,
  type BackendOptions,
  type BackendType,
  type SysctlGetter,
  type SysctlSetter,
  type Uplink,
} from "./types.ts";
import { ipInfo } from "./_parse_cache.ts";

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

/** Default tunnel device names. */
export const DEFAULT_DEVICE: Readonly<Record<BackendType, string | undefined>> = {
  "host-gw": undefined,
  vxlan: "skein.1",
  ipip: "skein-ipip",
};

/** Encapsulation overhead per backend and underlay family. */
export function overheadOf(type: BackendType, underlay: 4 | 6): number {
  if (type === "vxlan") return underlay === 6 ? 70 : 50;
  if (type === "ipip") return 20;
  return 0;
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
  vni: number;
  port: number;
  deviceName: string;
  stateDir?: string;
  /** The overlay device / pod MTU. */
  mtu: number;
  sysctl: { get: SysctlGetter; set: SysctlSetter };
}

/**
 * Checks every option and fills in defaults; throws BackendConfigError naming the field.
 * `sysctl` must already be resolved by the caller.
 */
export function validateOptions(
  opts: BackendOptions,
  sysctl: { get: SysctlGetter; set: SysctlSetter },
): BackendContext {
  if (!BACKEND_TYPES.includes(opts.type)) {
    throw new BackendConfigError(
      "type",
      `must be one of ${BACKEND_TYPES.join(", ")}, got ${JSON.stringify(opts.type)}`,
    );
  }
  const u = opts.uplink;
  if (!u || !isIfname(u.name)) throw new BackendConfigError("uplink.name", "not an interface name");
  if (!Number.isInteger(u.index) || u.index <= 0) {
    throw new BackendConfigError("uplink.index", `must be a positive integer, got ${u.index}`);
  }
  if (!Number.isInteger(u.mtu) || u.mtu < 68) {
    throw new BackendConfigError("uplink.mtu", `must be an integer >= 68, got ${u.mtu}`);
  }
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
  if (opts.type === "ipip" && ip.family !== 4) {
    throw new BackendConfigError("publicIP", "ipip needs an IPv4 underlay address");
  }
  if (typeof opts.node !== "string" || opts.node === "") {
    throw new BackendConfigError("node", "must be a non-empty node name");
  }
  const vni = opts.vni ?? 1;
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) {
    throw new BackendConfigError("vni", `must be an integer 0..16777215, got ${opts.vni}`);
  }
  const port = opts.port ?? 8472;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BackendConfigError("port", `must be an integer 1..65535, got ${opts.port}`);
  }
  const deviceName = opts.deviceName ?? DEFAULT_DEVICE[opts.type] ?? "";
  if (opts.type !== "host-gw" && !isIfname(deviceName)) {
    throw new BackendConfigError(
      "deviceName",
      `not a valid interface name (1-15 bytes, no spaces, "/" or ":"): ${
        JSON.stringify(deviceName)
      }`,
    );
  }
  if (opts.type !== "host-gw" && deviceName === u.name) {
    throw new BackendConfigError("deviceName", `must differ from the uplink ${u.name}`);
  }
  const overhead = overheadOf(opts.type, ip.family);
  const max = u.mtu - overhead;
  if (max < 68) {
    throw new BackendConfigError(
      "uplink.mtu",
      `${u.mtu} leaves no room for the ${overhead}-byte ${opts.type} header`,
    );
  }
  let mtu = max;
  if (opts.mtu !== undefined) {
    if (!Number.isInteger(opts.mtu) || opts.mtu < 68) {
      throw new BackendConfigError("mtu", `must be an integer >= 68, got ${opts.mtu}`);
    }
    if (opts.mtu > max) {
      throw new BackendConfigError(
        "mtu",
        `${opts.mtu} is larger than the uplink ${u.name} MTU ${u.mtu} minus the ${opts.type} overhead ${overhead} (${max}); packets would be dropped`,
      );
    }
    mtu = opts.mtu;
  }
  return {
    type: opts.type,
    handle: opts.handle,
    netns: opts.netns,
    uplink: { name: u.name, index: u.index, mtu: u.mtu },
    publicIP: formatIp(ip),
    publicIP6,
    underlayFamily: ip.family,
    node: opts.node,
    vni,
    port,
    deviceName,
    stateDir: opts.stateDir,
    mtu,
    sysctl,
  };
}

/** Sets a sysctl only when it differs (a read is cheap, a write may disturb). True when written. */
export function ensureSysctl(ctx: BackendContext, key: string, value: string): boolean {
  if (ctx.sysctl.get(key)?.trim() === value) return false;
  ctx.sysctl.set(key, value);
  return true;
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
