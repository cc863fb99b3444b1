/**
 * Pure helpers that decide which addresses and routes a pod gets (no kernel access).
 *
 * @module
 */
import type { ResultIp, ResultRoute } from "./result.ts";
import { canonicalCidr, formatIp, parseCidr } from "../net/cidr.ts";

/** The gateway a route without "gw" uses: the first address of that family with a gateway. */
export function defaultGateways(ips: readonly ResultIp[]): { 4?: string; 6?: string } {
  const out: { 4?: string; 6?: string } = {};
  for (const ip of ips) {
    const fam = parseCidr(ip.address).family;
    if (ip.gateway && out[fam] === undefined) out[fam] = ip.gateway;
  }
  return out;
}

/** The family of a route destination. */
export function routeFamily(dst: string): 4 | 6 {
  return parseCidr(dst).family;
}

/** True when `a` and `b` are the same prefix ("0.0.0.0/0" == "0.0.0.0/0", "10.1.0.5/16" == "10.1.0.0/16"). */
export function samePrefix(a: string, b: string): boolean {
  try {
    return canonicalCidr(a) === canonicalCidr(b);
  } catch {
    return false;
  }
}

/** Adds a default route per family with a gateway unless one is already there (isDefaultGateway). */
export function withDefaultRoutes(
  routes: readonly ResultRoute[],
  gws: { 4?: string; 6?: string },
): ResultRoute[] {
  const out = [...routes];
  for (const fam of [4, 6] as const) {
    const gw = gws[fam];
    if (!gw) continue;
    const dflt = fam === 4 ? "0.0.0.0/0" : "::/0";
    if (!out.some((r) => samePrefix(r.dst, dflt))) out.push({ dst: dflt, gw });
  }
  return out;
}

/** The routed-mode gateway per family: Calico's 169.254.1.1 and fe80::1 (answered by the host veth). */
export const ROUTED_GATEWAY = { 4: "169.254.1.1", 6: "fe80::1" } as const;

/**
 * Routed mode: the pod's address becomes a host address (/32, /128) and every route goes via
 * the link-local gateway; a default route per family is always present.
 */
export function routedPlan(
  ips: readonly ResultIp[],
  routes: readonly ResultRoute[],
): { ips: ResultIp[]; routes: ResultRoute[] } {
  const fams = new Set(ips.map((ip) => parseCidr(ip.address).family));
  const outIps = ips.map((ip) => {
    const c = parseCidr(ip.address);
    return {
      ...ip,
      address: `${formatIp(c.ip)}/${c.family === 4 ? 32 : 128}`,
      gateway: ROUTED_GATEWAY[c.family],
    };
  });
  const outRoutes: ResultRoute[] = [];
  for (const r of routes) {
    const fam = routeFamily(r.dst);
    if (!fams.has(fam)) continue;
    if (outRoutes.some((x) => samePrefix(x.dst, r.dst))) continue;
    outRoutes.push({ ...r, gw: ROUTED_GATEWAY[fam] });
  }
  for (const fam of [4, 6] as const) {
    if (!fams.has(fam)) continue;
    const dflt = fam === 4 ? "0.0.0.0/0" : "::/0";
    if (!outRoutes.some((r) => samePrefix(r.dst, dflt))) {
      outRoutes.push({ dst: dflt, gw: ROUTED_GATEWAY[fam] });
    }
  }
  return { ips: outIps, routes: outRoutes };
}
