/**
 * The fix for a lease the backend refused to program (`route.skipped`), read from the refusal's
 * reason: a host-gw peer on another segment needs a backend that crosses a router.
 */

/** What the fix needs to know about the node whose plan skipped the lease. */
export interface SkippedFixInput {
  /** The node's backend type ("host-gw"). */
  backend: string;
  /** The refusal's reason, as the backend wrote it. */
  reason: string;
  /** The daemon's config file, when known. */
  configFile?: string;
}

/**
 * The exact fix for a refused lease: a host-gw peer whose node IP is not on the uplink's network
 * (nodes on two segments, a router between them) is fixed by switching the backend to vxlan with
 * `directRouting: true` (host-gw routes kept to the nodes on this segment, VXLAN across the router)
 * in the daemon config; other refusals keep the generic advice.
 */
export function skippedFix(i: SkippedFixInput): string {
  if (i.backend === "host-gw" && i.reason.includes("is not on a network connected to")) {
    const where = i.configFile ?? "the daemon config (/etc/skein/daemon.yaml)";
    return `host-gw needs every node on one L2 segment: in ${where} set ` +
      `'backend: {type: vxlan, directRouting: true}' on every node (host-gw routes stay on this ` +
      `segment, VXLAN crosses the router; bgp with crossSubnet: true works too), then restart ` +
      `the daemons`;
  }
  return "fix the lease or the backend choice the reason names";
}
