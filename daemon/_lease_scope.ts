/**
 * Which leases of the datastore may become routes at all: a record whose subnet is outside the
 * cluster network, or is not one node-sized block of it, is someone else's mistake (or an
 * attack: `0.0.0.0-0` would become a default route, the node's own LAN would be hijacked).
 *
 * @module
 */
import { contains, tryParseCidr } from "../net/cidr.ts";
import type { Lease, NetworkConfig } from "../store/types.ts";

/** Why `lease` must not be programmed under `net`, or undefined when it may be. */
export function leaseOutsideNetwork(lease: Lease, net: NetworkConfig): string | undefined {
  const check = (subnet: string, network: string | undefined, len: number | undefined) => {
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
  return check(lease.subnet, net.network, net.subnetLen) ??
    (lease.subnet6 === undefined
      ? undefined
      : check(lease.subnet6, net.network6, net.subnetLen6 ?? 64));
}
