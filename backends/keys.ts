/**
 * The keys the reconciler matches kernel objects by, in one place: a desired entry and the kernel
 * object it corresponds to get the same key, whoever built it (snapshot.ts from netlink dumps,
 * plan.ts from a backend's desired state). Each key is a string because they index Maps.
 *
 * | object    | key                               | the kernel's identity                         |
 * | --------- | --------------------------------- | --------------------------------------------- |
 * | route     | `10.244.1.0/24\|0` (dst, metric)  | table + dst + metric (tos 0), one per table   |
 * | neighbour | `5\|10.244.1.0` (link, address)   | link + address                                |
 * | FDB entry | `5\|0a:00:00:00:00:01` (link, MAC) | link + MAC (a vxlan MAC may have many remotes) |
 * | link      | `skein.1` (name)                  | name in the namespace                         |
 *
 * Addresses are normalised through the memoised parse cache (`FD00:0::1` and `fd00::1` are one
 * key); route keys for the kernel's default metric come prebuilt from it (CidrInfo.routeKey), so a
 * reconcile of 5,000 leases builds no new route-key strings.
 *
 * @module
 */
import type { Route } from "../net/types.ts";
import { cidrInfo, ipInfo } from "./_parse_cache.ts";

/** The kernel's default metric when none is given: 0 for IPv4, 1024 for IPv6 (IP6_RT_PRIO_USER). */
export function metricOf(family: 4 | 6, metric: number | undefined): number {
  return metric ?? (family === 6 ? 1024 : 0);
}

/** The key of a route to the canonical prefix `dst` with `metric` (agrees with CidrInfo.routeKey). */
export function routeKey(dst: string, metric: number): string {
  return `${dst}|${metric}`;
}

/**
 * The key of a kernel route (as routeList() returns it: `dst` already canonical). Routes with the
 * default metric to a prefix the parse cache knows reuse its prebuilt key.
 */
export function kernelRouteKey(r: Route): string {
  const metric = metricOf(r.family, r.metric);
  const info = metric === metricOf(r.family, undefined) ? cidrInfo(r.dst) : undefined;
  return info?.canonical === r.dst ? info.routeKey : routeKey(r.dst, metric);
}

/** The key of a desired route to `dst` (any spelling of a prefix), default metric; undefined for a non-prefix. */
export function desiredRouteKey(dst: string): string | undefined {
  return cidrInfo(dst)?.routeKey;
}

/** The key of a neighbour: link index and normalised address. */
export function neighKey(dev: number, ip: string): string {
  return `${dev}|${ipInfo(ip)?.text ?? ip}`;
}

/** The key of an FDB entry: link index and lower-case MAC. */
export function fdbKey(dev: number, mac: string): string {
  return `${dev}|${mac.toLowerCase()}`;
}

/** The key of a link: its name. */
export function linkKey(name: string): string {
  return name;
}
