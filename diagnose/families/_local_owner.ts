/**
 * Why a node takes an address for its own: an address on one of its links, or a `local` route
 * (table local, or another table) covering it, with the command that removes it. Shared by
 * route.wrong_dev (the source node keeps the destination's packets) and pod.host (the pod's own
 * node delivers the pod's packets to itself).
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";
import { within } from "../route_diff.ts";

/** What makes `ip` local on kernel `k` (`text`), and the fix; `ns` prefixes the command. */
export function localOwner(k: Kernel, ns: string, ip: string): { text: string; fix: string } {
  const link = k.linkWithAddr(ip);
  const addr = link ? k.addrs().find((a) => a.cidr.split("/")[0] === ip) : undefined;
  if (addr && link) {
    return {
      text: `${link.name} holds ${addr.cidr}`,
      fix: `${ns}ip addr del ${addr.cidr} dev ${link.name}`,
    };
  }
  const route = k.routes().find((r) =>
    r.type === "local" && r.family === 4 && within(`${ip}/32`, r.dst)
  );
  if (!route) {
    return {
      text: "a local route",
      fix: `${ns}ip route show table local  # and delete the one for ${ip}`,
    };
  }
  const table = route.table === 255 ? "local" : route.table;
  const dev = route.oif !== undefined ? k.link(route.oif)?.name : undefined;
  return {
    text: `a local route for ${route.dst} in table ${table}`,
    fix: `${ns}ip route del local ${route.dst} table ${table}${dev ? ` dev ${dev}` : ""}`,
  };
}
