/**
 * Which leases of the datastore may become routes at all: a record whose subnet is outside the
 * cluster network, or is not one node-sized block of it, is someone else's mistake (or an
 * attack: `0.0.0.0-0` would become a default route, the node's own LAN would be hijacked).
 *
 * @module
 */
import { contains, tryParseCidr } from "../net/cidr.ts";
import type { Lease, NetworkConfig } from "./types.ts";

const MEMO_LIMIT = 100_000;
/** Verdicts by subnet (`subnet|subnet6` for dual-stack leases) under the network in `memoNet`. */
const memo = new Map<string, string | null>();
let memoNet: {
  network: string;
  subnetLen: number;
  network6: string | undefined;
  subnetLen6: number | undefined;
} = { network: "", subnetLen: -1, network6: undefined, subnetLen6: undefined };

/**
 * Why `lease` must not be programmed under `net`, or undefined when it may be. Memoised by
 * subnet for the current network (every reconcile asks again about the same leases: parsing
 * them afresh cost ~10 MiB of garbage per reconcile with 5,000 leases); bounded, and forgotten
 * when the network changes.
 */
export function leaseOutsideNetwork(lease: Lease, net: NetworkConfig): string | undefined {
  if (
    net.network !== memoNet.network || net.subnetLen !== memoNet.subnetLen ||
    net.network6 !== memoNet.network6 || net.subnetLen6 !== memoNet.subnetLen6
  ) {
    memo.clear();
    memoNet = {
      network: net.network,
      subnetLen: net.subnetLen,
      network6: net.network6,
      subnetLen6: net.subnetLen6,
    };
  }
  if (
    typeof lease.subnet !== "string" ||
    (lease.subnet6 !== undefined && typeof lease.subnet6 !== "string")
  ) {
    return check(lease, net);
  }
  const key = lease.subnet6 === undefined ? lease.subnet : `${lease.subnet}|${lease.subnet6}`;
  let v = memo.get(key);
  if (v === undefined) {
    v = check(lease, net) ?? null;
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(key, v);
  }
  return v ?? undefined;
}

function check(lease: Lease, net: NetworkConfig): string | undefined {
  const one = (subnet: string, network: string | undefined, len: number | undefined) => {
    const c = tryParseCidr(subnet);
    if (!c) return `subnet ${subnet} is not a CIDR prefix`;
    const n = network === undefined ? undefined : tryParseCidr(network);
    if (!n || n.family !== c.family) {
      return `subnet ${subnet}: the cluster has no IPv${c.family} network`;
    }
    if (!contains(n, c.ip) || c.prefix < n.prefix) {
      return `subnet ${subnet} is outside the cluster network ${network}`;
    }
    if (len !== undefined && c.prefix !== len) {
      return `subnet ${subnet} is not a /${len} (the network's subnet length)`;
    }
    return undefined;
  };
  // An IPv4-only cluster uses a dual-stack record's IPv4 half (flannel with EnableIPv6 off; a
  // Node's podCIDRs are dual-stack by default since Kubernetes 1.21).
  return one(lease.subnet, net.network, net.subnetLen) ??
    (lease.subnet6 === undefined || net.network6 === undefined
      ? undefined
      : one(lease.subnet6, net.network6, net.subnetLen6 ?? 64));
}
