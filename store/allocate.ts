/**
 * Subnet selection shared by every store: which subnet a node gets, given the cluster network
 * config and the leases that are live right now. Pure: no I/O.
 *
 * @module
 */
import {
  canonicalCidr,
  type Cidr,
  contains,
  familyBits,
  formatIp,
  networkOf,
  parseCidr,
  parseIp,
} from "../net/cidr.ts";
import { SubnetExhaustedError } from "./errors.ts";
import type { AcquireRequest, Lease, NetworkConfig } from "./types.ts";

/** The subnets a network config hands out: indexes `min..max` of `network` split into /len. */
export interface SubnetRange {
  network: Cidr;
  len: number;
  /** Index of the first subnet that may be handed out. */
  min: bigint;
  /** Index of the last one (inclusive). */
  max: bigint;
}

/**
 * The range of subnets for one family. Defaults as flannel: the first subnet of the network is
 * skipped (SubnetMin = network + one subnet), SubnetMax = the last subnet.
 */
export function subnetRange(config: NetworkConfig, family: 4 | 6 = 4): SubnetRange {
  const text = family === 4 ? config.network : config.network6;
  if (!text) throw new RangeError(`The network config has no IPv${family} network`);
  const network = parseCidr(canonicalCidr(text));
  const len = family === 4 ? config.subnetLen : config.subnetLen6 ?? 64;
  if (len < network.prefix || len > familyBits(family)) {
    throw new RangeError(`Cannot split ${text} into /${len} subnets`);
  }
  const shift = BigInt(familyBits(family) - len);
  const count = 1n << BigInt(len - network.prefix);
  const base = networkOf(network).value;
  const index = (ipText: string, what: string): bigint => {
    const ip = parseIp(ipText);
    if (!contains(network, ip)) throw new RangeError(`${what} ${ipText} is outside ${text}`);
    if (((ip.value - base) & ((1n << shift) - 1n)) !== 0n) {
      throw new RangeError(`${what} ${ipText} is not the start of a /${len} subnet`);
    }
    return (ip.value - base) >> shift;
  };
  const min = family === 4 && config.subnetMin
    ? index(config.subnetMin, "subnetMin")
    : count > 1n
    ? 1n
    : 0n;
  const max = family === 4 && config.subnetMax ? index(config.subnetMax, "subnetMax") : count - 1n;
  if (min > max) throw new RangeError(`subnetMin is after subnetMax`);
  return { network, len, min, max };
}

/** The i-th subnet of a range ("10.244.0.0/16", len 24, 3 → "10.244.3.0/24"). */
export function subnetAt(range: SubnetRange, i: bigint): string {
  const shift = BigInt(familyBits(range.network.family) - range.len);
  const v = networkOf(range.network).value + (i << shift);
  return `${formatIp({ family: range.network.family, value: v })}/${range.len}`;
}

/** True when `subnet` is one of the range's subnets (right length, inside min..max). */
export function inRange(range: SubnetRange, subnet: string): boolean {
  const c = parseCidr(subnet);
  if (
    c.family !== range.network.family || c.prefix !== range.len || !contains(range.network, c.ip)
  ) {
    return false;
  }
  const shift = BigInt(familyBits(c.family) - range.len);
  const i = (networkOf(c).value - networkOf(range.network).value) >> shift;
  return i >= range.min && i <= range.max;
}

/**
 * A free subnet of `range` not in `used` (canonical CIDRs). "first" walks from the start (what
 * the file store does under its lock: deterministic); "random" starts anywhere (etcd: fewer
 * collisions between nodes racing without a lock, like flannel). Undefined when the range is full.
 */
export function pickSubnet(
  range: SubnetRange,
  used: ReadonlySet<string>,
  opts: { pick?: "first" | "random"; random?: () => number } = {},
): string | undefined {
  const count = range.max - range.min + 1n;
  let start = 0n;
  if (opts.pick === "random") {
    const r = opts.random ?? Math.random;
    // Two doubles give enough randomness for any range skein can list.
    start = BigInt(Math.floor(r() * 2 ** 32)) * BigInt(2 ** 21) + BigInt(Math.floor(r() * 2 ** 21));
    start %= count;
  }
  const steps = count < BigInt(used.size) + 1n ? count : BigInt(used.size) + 1n;
  for (let k = 0n; k < steps; k++) {
    const s = subnetAt(range, range.min + (start + k) % count);
    if (!used.has(s)) return s;
  }
  return undefined;
}

/** The range's subnets that hold one of `ips` (node addresses: the underlay's, never pods'). */
export function nodeSubnets(range: SubnetRange, ips: readonly (string | undefined)[]): string[] {
  const out: string[] = [];
  for (const text of ips) {
    if (!text) continue;
    let ip;
    try {
      ip = parseIp(text);
    } catch {
      continue; // a record's field the store kept as given: not a node address
    }
    if (ip.family !== range.network.family || !contains(range.network, ip)) continue;
    const s = `${formatIp(networkOf({ family: ip.family, ip, prefix: range.len }))}/${range.len}`;
    if (inRange(range, s)) out.push(s);
  }
  return out;
}

/** What acquire() should do: give back an existing lease, or claim new subnets. */
export type LeaseChoice =
  | { reuse: Lease }
  | { subnet: string; subnet6?: string };

/**
 * Decides the subnet for `req` among the live `leases`: the node's own lease (same node name,
 * or the same public IP on a record without a node name, as flannel reuses by PublicIP) when it
 * still fits the config; else `previousSubnet` when free; else a free subnet. Throws
 * SubnetExhaustedError when none is left.
 */
export function chooseLease(
  req: AcquireRequest,
  leases: readonly Lease[],
  config: NetworkConfig,
  opts: {
    pick?: "first" | "random";
    random?: () => number;
    /** IPv4 subnets never to hand out (besides the leased ones). */
    exclude?: ReadonlySet<string>;
    /** IPv6 subnets never to hand out (besides the leased ones). */
    exclude6?: ReadonlySet<string>;
  } = {},
): LeaseChoice {
  const range = subnetRange(config, 4);
  const range6 = config.network6 ? subnetRange(config, 6) : undefined;
  const fits = (l: Lease) =>
    inRange(range, l.subnet) &&
    (!range6 || (l.subnet6 !== undefined && inRange(range6, l.subnet6)));
  const own = leases.find((l) => l.node === req.node && fits(l)) ??
    leases.find((l) => l.node === "" && l.publicIP === req.publicIP && fits(l));
  if (own) return { reuse: own };

  const used = new Set(leases.map((l) => l.subnet));
  const used6 = new Set(leases.flatMap((l) => (l.subnet6 ? [l.subnet6] : [])));
  for (const s of opts.exclude ?? []) used.add(s);
  for (const s of opts.exclude6 ?? []) used6.add(s);
  // A subnet holding a node's own address is the underlay's: pods there would take hosts' IPs.
  for (const s of nodeSubnets(range, [req.publicIP, ...leases.map((l) => l.publicIP)])) used.add(s);
  if (range6) {
    const ips6 = [req.publicIP6, ...leases.map((l) => l.publicIP6)];
    for (const s of nodeSubnets(range6, ips6)) used6.add(s);
  }
  let subnet: string | undefined;
  if (req.previousSubnet) {
    const prev = tryCanonical(req.previousSubnet);
    if (prev && !used.has(prev) && inRange(range, prev)) subnet = prev;
  }
  subnet ??= pickSubnet(range, used, opts);
  if (!subnet) {
    throw new SubnetExhaustedError(
      `No free /${range.len} subnet left in ${config.network} (${used.size} leased)`,
    );
  }
  if (!range6) return { subnet };
  const subnet6 = pickSubnet(range6, used6, opts);
  if (!subnet6) {
    throw new SubnetExhaustedError(
      `No free /${range6.len} subnet left in ${config.network6} (${used6.size} leased)`,
    );
  }
  return { subnet, subnet6 };
}

function tryCanonical(text: string): string | undefined {
  try {
    return canonicalCidr(text);
  } catch {
    return undefined;
  }
}
