/**
 * flannel's on-disk/etcd JSON shapes, so flannel-era tooling can read skein's leases:
 * `<prefix>/config` → `{"Network","SubnetLen","Backend":{"Type",...}}` and
 * `<prefix>/subnets/10.244.1.0-24` → `{"PublicIP","BackendType","BackendData":{"VtepMAC"}}`
 * (field names as in flannel's pkg/lease LeaseAttrs). skein adds `"Node"` (unknown fields are
 * ignored by flannel's Go decoder).
 *
 * @module
 */
import { canonicalCidr, parseCidr, tryParseCidr, tryParseIp } from "../net/cidr.ts";
import type { Lease, NetworkConfig } from "./types.ts";

/** A record that cannot be decoded; the store logs and skips it. */
export class BadRecordError extends SyntaxError {
  constructor(readonly key: string, reason: string) {
    super(`Bad lease record ${key}: ${reason}`);
    this.name = "BadRecordError";
  }
}

/**
 * The largest lease record read (skein and flannel write ~200 bytes): a larger one is a
 * BadRecordError before it is parsed.
 */
export const MAX_LEASE_RECORD_BYTES = 64 * 1024;

/**
 * Throws BadRecordError when a record's text is larger than MAX_LEASE_RECORD_BYTES (`size`: the
 * size of a value that was not even decoded, default the text's length).
 */
export function assertLeaseRecordSize(key: string, text: string, size = text.length): void {
  if (size > MAX_LEASE_RECORD_BYTES) {
    throw new BadRecordError(
      key,
      `the value is ${size} bytes, more than the ${MAX_LEASE_RECORD_BYTES} allowed`,
    );
  }
}

/**
 * How long a caller's lease must still have to live for renew() to restore its record over a
 * record that is unreadable or names another node (a store never hands a live lease's subnet to
 * another node, so such a record is invalid while the caller's lease lives).
 */
export const RECLAIM_MARGIN_MS = 5_000;

/** The warning a store gives when renew() restores a node's record over an invalid one. */
export const RESTORED_WARNING = "invalid lease record claimed this node's live subnet; restored";

/** True when `lease` (as its holder last renewed it) lives for RECLAIM_MARGIN_MS more. */
export function leaseStillLive(lease: Lease, now: number): boolean {
  return Date.parse(lease.expiration) - now > RECLAIM_MARGIN_MS;
}

/**
 * The key of a lease as flannel writes it: "10.244.1.0-24", or "10.244.1.0-24&fd00:1::-64" for
 * a dual-stack lease.
 */
export function subnetKey(subnet: string, subnet6?: string): string {
  const k = canonicalCidr(subnet).replace("/", "-");
  return subnet6 ? `${k}&${canonicalCidr(subnet6).replace("/", "-")}` : k;
}

/** Parses a key written by subnetKey(); undefined when it is not one. */
export function parseSubnetKey(key: string): { subnet: string; subnet6?: string } | undefined {
  const [a, b, ...rest] = key.split("&");
  if (a === undefined || rest.length > 0) return undefined;
  const toCidr = (s: string, family: 4 | 6) => {
    const i = s.lastIndexOf("-");
    if (i < 0) return undefined;
    const c = tryParseCidr(`${s.slice(0, i)}/${s.slice(i + 1)}`);
    if (!c || c.family !== family) return undefined;
    const canon = canonicalCidr(`${s.slice(0, i)}/${s.slice(i + 1)}`);
    return canon === `${s.slice(0, i)}/${s.slice(i + 1)}` ? canon : undefined;
  };
  const subnet = toCidr(a, 4);
  if (!subnet) return undefined;
  if (b === undefined) return { subnet };
  const subnet6 = toCidr(b, 6);
  return subnet6 ? { subnet, subnet6 } : undefined;
}

/** flannel's lease record (LeaseAttrs) plus skein's "Node". */
export interface FlannelLeaseRecord {
  PublicIP: string;
  PublicIPv6?: string;
  BackendType?: string;
  BackendData?: Record<string, unknown>;
  Node?: string;
}

const FLANNEL_BACKEND_DATA: Record<string, string> = { vtepMAC: "VtepMAC", vni: "VNI" };

/** The JSON value stored for `lease` (without subnet and expiration, which live in the key/TTL). */
export function encodeLeaseRecord(lease: Lease): FlannelLeaseRecord {
  const r: FlannelLeaseRecord = { PublicIP: lease.publicIP };
  if (lease.publicIP6) r.PublicIPv6 = lease.publicIP6;
  r.BackendType = lease.backendType;
  if (lease.backendData && Object.keys(lease.backendData).length > 0) {
    // flannel's field names for what skein's backends call vtepMAC/vni (flannel reads only these).
    r.BackendData = Object.fromEntries(
      Object.entries(lease.backendData).map(([k, v]) => [FLANNEL_BACKEND_DATA[k] ?? k, v]),
    );
  }
  r.Node = lease.node;
  return r;
}

/**
 * Decodes a lease record found under `key`; throws BadRecordError naming what is wrong.
 * `expiration` comes from the store (TTL or the file's field).
 */
export function decodeLeaseRecord(key: string, value: unknown, expiration: string): Lease {
  const sub = parseSubnetKey(key);
  if (!sub) throw new BadRecordError(key, "the key is not a subnet like 10.244.1.0-24");
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BadRecordError(key, "the value is not a JSON object");
  }
  const v = value as Record<string, unknown>;
  const ip = typeof v.PublicIP === "string" ? tryParseIp(v.PublicIP) : undefined;
  if (!ip || ip.family !== 4) {
    throw new BadRecordError(key, `PublicIP ${JSON.stringify(v.PublicIP)} is not an IPv4 address`);
  }
  const lease: Lease = {
    subnet: sub.subnet,
    publicIP: v.PublicIP as string,
    node: "",
    backendType: "",
    expiration,
  };
  if (sub.subnet6) lease.subnet6 = sub.subnet6;
  if (v.PublicIPv6 !== undefined && v.PublicIPv6 !== null) {
    const ip6 = typeof v.PublicIPv6 === "string" ? tryParseIp(v.PublicIPv6) : undefined;
    if (!ip6 || ip6.family !== 6) {
      throw new BadRecordError(
        key,
        `PublicIPv6 ${JSON.stringify(v.PublicIPv6)} is not an IPv6 address`,
      );
    }
    lease.publicIP6 = v.PublicIPv6 as string;
  }
  if (v.BackendType !== undefined) {
    if (typeof v.BackendType !== "string") {
      throw new BadRecordError(key, "BackendType is not a string");
    }
    lease.backendType = v.BackendType;
  }
  if (v.BackendData !== undefined && v.BackendData !== null) {
    if (typeof v.BackendData !== "object" || Array.isArray(v.BackendData)) {
      throw new BadRecordError(key, "BackendData is not a JSON object");
    }
    lease.backendData = v.BackendData as Record<string, unknown>;
  }
  if (v.Node !== undefined) {
    if (typeof v.Node !== "string") throw new BadRecordError(key, "Node is not a string");
    lease.node = v.Node;
  }
  return lease;
}

const BACKEND_KEYS: Record<string, string> = { type: "Type", vni: "VNI", port: "Port", mtu: "MTU" };

/** NetworkConfig → flannel's `<prefix>/config` JSON. */
export function encodeNetworkConfig(c: NetworkConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { Network: c.network, SubnetLen: c.subnetLen };
  if (c.subnetMin) out.SubnetMin = c.subnetMin;
  if (c.subnetMax) out.SubnetMax = c.subnetMax;
  if (c.network6) {
    out.EnableIPv6 = true;
    out.IPv6Network = c.network6;
    out.IPv6SubnetLen = c.subnetLen6 ?? 64;
  }
  const backend: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.backend)) {
    if (v !== undefined) backend[BACKEND_KEYS[k] ?? k.charAt(0).toUpperCase() + k.slice(1)] = v;
  }
  out.Backend = backend;
  return out;
}

/** flannel's config JSON → NetworkConfig; throws SyntaxError naming the bad field. */
export function decodeNetworkConfig(value: unknown): NetworkConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SyntaxError("Bad network config: not a JSON object");
  }
  const v = value as Record<string, unknown>;
  const net = typeof v.Network === "string" ? tryParseCidr(v.Network) : undefined;
  if (!net || net.family !== 4) {
    throw new SyntaxError(
      `Bad network config: Network ${JSON.stringify(v.Network)} is not an IPv4 CIDR`,
    );
  }
  const subnetLen = v.SubnetLen === undefined ? 24 : v.SubnetLen;
  if (
    typeof subnetLen !== "number" || !Number.isInteger(subnetLen) || subnetLen < net.prefix ||
    subnetLen > 30
  ) {
    throw new SyntaxError(
      `Bad network config: SubnetLen ${
        JSON.stringify(v.SubnetLen)
      } must be an integer between ${net.prefix} and 30`,
    );
  }
  const c: NetworkConfig = {
    network: canonicalCidr(v.Network as string),
    subnetLen,
    backend: { type: "vxlan" },
  };
  for (const f of ["SubnetMin", "SubnetMax"] as const) {
    if (v[f] === undefined) continue;
    const ip = typeof v[f] === "string" ? tryParseIp(v[f] as string) : undefined;
    if (!ip || ip.family !== 4) {
      throw new SyntaxError(
        `Bad network config: ${f} ${JSON.stringify(v[f])} is not an IPv4 address`,
      );
    }
    if (f === "SubnetMin") c.subnetMin = v[f] as string;
    else c.subnetMax = v[f] as string;
  }
  if (typeof v.IPv6Network === "string" && v.EnableIPv6 !== false) {
    const n6 = tryParseCidr(v.IPv6Network);
    if (!n6 || n6.family !== 6) {
      throw new SyntaxError(
        `Bad network config: IPv6Network ${JSON.stringify(v.IPv6Network)} is not an IPv6 CIDR`,
      );
    }
    c.network6 = canonicalCidr(v.IPv6Network);
    const l6 = v.IPv6SubnetLen === undefined ? 64 : v.IPv6SubnetLen;
    if (typeof l6 !== "number" || !Number.isInteger(l6) || l6 < n6.prefix || l6 > 126) {
      throw new SyntaxError(
        `Bad network config: IPv6SubnetLen ${
          JSON.stringify(v.IPv6SubnetLen)
        } must be an integer between ${n6.prefix} and 126`,
      );
    }
    c.subnetLen6 = l6;
  }
  if (v.Backend !== undefined) {
    if (typeof v.Backend !== "object" || v.Backend === null || Array.isArray(v.Backend)) {
      throw new SyntaxError("Bad network config: Backend is not a JSON object");
    }
    const b: { type: string; [k: string]: unknown } = { type: "vxlan" };
    const reverse = Object.fromEntries(Object.entries(BACKEND_KEYS).map(([a, z]) => [z, a]));
    for (const [k, val] of Object.entries(v.Backend as Record<string, unknown>)) {
      b[reverse[k] ?? k.charAt(0).toLowerCase() + k.slice(1)] = val;
    }
    if (typeof b.type !== "string") {
      throw new SyntaxError("Bad network config: Backend.Type is not a string");
    }
    c.backend = b;
  }
  parseCidr(c.network);
  return c;
}
