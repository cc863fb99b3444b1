/**
 * CNI results: one internal shape (the 1.1.0 one) and conversion to and from every version
 * skein speaks. 0.3.x/0.4.0 results carry `"version": "4"|"6"` on each IP; 1.x drops it;
 * 1.1.0 adds route `mtu`, `advmss`, `priority`, `table`, `scope`.
 *
 * @module
 */
import { CniCode, CniError } from "./errors.ts";
import { tryParseCidr, tryParseIp } from "../net/cidr.ts";
import { versionAtLeast } from "./versions.ts";

/** One interface of a result. */
export interface ResultInterface {
  /** Interface name. */
  name: string;
  /** Hardware address. */
  mac?: string;
  /** 1.0.0+. */
  mtu?: number;
  /** Path of the pod's netns for pod-side interfaces; absent for host-side ones. */
  sandbox?: string;
  /** vhost-user or similar socket path (1.0.0+). */
  socketPath?: string;
  /** PCI address of the device (1.1.0+). */
  pciID?: string;
}

/** One address of a result. */
export interface ResultIp {
  /** "10.244.1.5/24". */
  address: string;
  /** Gateway address. */
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

/** One route of a result. */
export interface ResultRoute {
  /** Destination prefix. */
  dst: string;
  /** Next hop. */
  gw?: string;
  /** MTU. */
  mtu?: number;
  /** Advertised MSS (1.1.0+). */
  advmss?: number;
  /** Route metric (1.1.0+). */
  priority?: number;
  /** Routing table (1.1.0+). */
  table?: number;
  /** Route scope (1.1.0+). */
  scope?: number;
}

/** DNS settings of a result. */
export interface ResultDns {
  /** DNS servers. */
  nameservers?: string[];
  /** Local domain. */
  domain?: string;
  /** Search domains. */
  search?: string[];
  /** Resolver options. */
  options?: string[];
}

/** A CNI result in skein's internal (1.1.0) form. */
export interface CniResult {
  /** The spec version of this config or result. */
  cniVersion: string;
  /** Interfaces the plugin created. */
  interfaces?: ResultInterface[];
  /** Addresses assigned. */
  ips?: ResultIp[];
  /** Routes installed. */
  routes?: ResultRoute[];
  /** DNS settings. */
  dns?: ResultDns;
}

function bad(what: string, why: string): CniError {
  return new CniError(CniCode.DecodeFailure, `cannot decode result: ${what}`, why);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function optNum(o: Record<string, unknown>, k: string, where: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw bad(`${where}.${k}`, "not an integer");
  return v;
}

function optStr(o: Record<string, unknown>, k: string, where: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw bad(`${where}.${k}`, "not a string");
  return v;
}

function optStrList(o: Record<string, unknown>, k: string, where: string): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw bad(`${where}.${k}`, "not a list of strings");
  }
  return v as string[];
}

/**
 * Parses a result of any supported version (a prevResult, or a delegated IPAM plugin's
 * output) into the internal form. Throws CniError code 6 when it does not have a result's shape.
 */
export function parseResult(raw: unknown, cniVersion?: string): CniResult {
  if (!isObj(raw)) throw bad("result", "not a JSON object");
  const version = typeof raw.cniVersion === "string" ? raw.cniVersion : (cniVersion ?? "1.0.0");
  const out: CniResult = { cniVersion: version };
  if (raw.interfaces !== undefined && raw.interfaces !== null) {
    if (!Array.isArray(raw.interfaces)) throw bad("interfaces", "not a list");
    out.interfaces = raw.interfaces.map((x, i) => {
      const w = `interfaces[${i}]`;
      if (!isObj(x)) throw bad(w, "not an object");
      const name = optStr(x, "name", w);
      if (!name) throw bad(`${w}.name`, "missing");
      return dropUndefined({
        name,
        mac: optStr(x, "mac", w),
        mtu: optNum(x, "mtu", w),
        sandbox: optStr(x, "sandbox", w),
        socketPath: optStr(x, "socketPath", w),
        pciID: optStr(x, "pciID", w),
      });
    });
  }
  if (raw.ips !== undefined && raw.ips !== null) {
    if (!Array.isArray(raw.ips)) throw bad("ips", "not a list");
    out.ips = raw.ips.map((x, i) => {
      const w = `ips[${i}]`;
      if (!isObj(x)) throw bad(w, "not an object");
      const address = optStr(x, "address", w);
      if (!address || !tryParseCidr(address) || !address.includes("/")) {
        throw bad(`${w}.address`, `"${String(x.address)}" is not an address with a prefix`);
      }
      const gateway = optStr(x, "gateway", w);
      if (gateway !== undefined && !tryParseIp(gateway)) {
        throw bad(`${w}.gateway`, `"${gateway}" is not an IP address`);
      }
      const iface = optNum(x, "interface", w);
      if (
        iface !== undefined && (iface < 0 || (out.interfaces && iface >= out.interfaces.length))
      ) {
        // CHECK would otherwise compare that address with no interface and pass.
        throw bad(`${w}.interface`, `${iface} is not an index into "interfaces"`);
      }
      return dropUndefined({ address, gateway, interface: iface });
    });
  }
  if (raw.routes !== undefined && raw.routes !== null) {
    if (!Array.isArray(raw.routes)) throw bad("routes", "not a list");
    out.routes = raw.routes.map((x, i) => {
      const w = `routes[${i}]`;
      if (!isObj(x)) throw bad(w, "not an object");
      const dst = optStr(x, "dst", w);
      if (!dst || !tryParseCidr(dst)) throw bad(`${w}.dst`, `"${String(x.dst)}" is not a prefix`);
      const gw = optStr(x, "gw", w);
      if (gw !== undefined && !tryParseIp(gw)) throw bad(`${w}.gw`, `"${gw}" is not an IP address`);
      return dropUndefined({
        dst,
        gw,
        mtu: optNum(x, "mtu", w),
        advmss: optNum(x, "advmss", w),
        priority: optNum(x, "priority", w),
        table: optNum(x, "table", w),
        scope: optNum(x, "scope", w),
      });
    });
  }
  if (isObj(raw.dns)) {
    const d = raw.dns;
    out.dns = dropUndefined({
      nameservers: optStrList(d, "nameservers", "dns"),
      domain: optStr(d, "domain", "dns"),
      search: optStrList(d, "search", "dns"),
      options: optStrList(d, "options", "dns"),
    });
  }
  return out;
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/**
 * Renders a result in the JSON shape of spec version `cniVersion` (what a runtime of that
 * version expects on stdout).
 */
export function formatResult(r: CniResult, cniVersion: string): Record<string, unknown> {
  const v1 = versionAtLeast(cniVersion, "1.0.0");
  const v11 = versionAtLeast(cniVersion, "1.1.0");
  const out: Record<string, unknown> = { cniVersion };
  if (r.interfaces?.length) {
    out.interfaces = r.interfaces.map((i) =>
      dropUndefined({
        name: i.name,
        mac: i.mac,
        mtu: v1 ? i.mtu : undefined,
        sandbox: i.sandbox,
        socketPath: v1 ? i.socketPath : undefined,
        pciID: v11 ? i.pciID : undefined,
      })
    );
  }
  if (r.ips?.length) {
    out.ips = r.ips.map((ip) => {
      const family = ip.address.includes(":") ? "6" : "4";
      return dropUndefined({
        version: v1 ? undefined : family,
        interface: ip.interface,
        address: ip.address,
        gateway: ip.gateway,
      });
    });
  }
  if (r.routes?.length) {
    out.routes = r.routes.map((rt) =>
      dropUndefined({
        dst: rt.dst,
        gw: rt.gw,
        mtu: v11 ? rt.mtu : undefined,
        advmss: v11 ? rt.advmss : undefined,
        priority: v11 ? rt.priority : undefined,
        table: v11 ? rt.table : undefined,
        scope: v11 ? rt.scope : undefined,
      })
    );
  }
  out.dns = r.dns ? dropUndefined({ ...r.dns }) : {};
  return out;
}
