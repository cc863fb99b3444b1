/**
 * Which leases may reach a backend, on top of store/lease_scope.ts's outside-network test: a
 * record whose node address (public IP) is inside the cluster network is refused too. That is a
 * pod's address, never a node's, and a next hop or tunnel endpoint there loops the pods' packets
 * back into the overlay.
 *
 * @module
 */
import { contains, formatIp, networkOf, tryParseCidr, tryParseIp } from "../net/cidr.ts";
import { leaseOutsideNetwork } from "../store/lease_scope.ts";
import type { Lease, NetworkConfig } from "../store/types.ts";

/** Why a record is left out, as skein_leases_invalid_total's reason label. */
export type LeaseScopeCode = "outside-network" | "public-ip-in-network";

/**
 * Why `lease` must not reach a backend under `net` (leaseOutsideNetwork(), then
 * publicIpInNetwork()), with the metric's reason code; undefined when it may.
 */
export function leaseScopeProblem(
  lease: Lease,
  net: NetworkConfig,
): { code: LeaseScopeCode; why: string } | undefined {
  const outside = leaseOutsideNetwork(lease, net);
  if (outside) return { code: "outside-network", why: outside };
  const inside = publicIpInNetwork(lease, net);
  return inside ? { code: "public-ip-in-network", why: inside } : undefined;
}

/**
 * Why `lease`'s public IP (or IPv6 public IP) is inside the cluster network `net` (or `network6`),
 * or undefined. Unparsable addresses are the backends' to judge. Memoised by address and network
 * (every reconcile asks again about the same leases), bounded.
 */
export function publicIpInNetwork(lease: Lease, net: NetworkConfig): string | undefined {
  return addressInNetwork("public IP", lease.publicIP, net.network) ??
    addressInNetwork("IPv6 public IP", lease.publicIP6, net.network6);
}

/**
 * `lease` without its IPv6 half (subnet6, publicIP6): what an IPv4-only cluster programs of a
 * dual-stack record. The same object when it has none.
 */
export function ipv4Half(lease: Lease): Lease {
  if (lease.subnet6 === undefined && lease.publicIP6 === undefined) return lease;
  const { subnet6: _s, publicIP6: _p, ...v4 } = lease;
  return v4;
}

const MEMO_LIMIT = 100_000;
const memo = new Map<string, string | null>();

function addressInNetwork(
  what: string,
  text: unknown,
  network: string | undefined,
): string | undefined {
  if (typeof text !== "string" || network === undefined) return undefined;
  const key = `${what}|${text}|${network}`;
  let v = memo.get(key);
  if (v === undefined) {
    const ip = tryParseIp(text), c = tryParseCidr(network);
    v = ip && c && contains(c, ip)
      ? `${what} ${formatIp(ip)} is inside the cluster network ${
        formatIp(networkOf(c))
      }/${c.prefix}: a pod's address, not a node's`
      : null;
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(key, v);
  }
  return v ?? undefined;
}
