/**
 * The semantic check of a received route's next hop (RFC 4271 §6.3, RFC 7606 §7.3, RFC 4760
 * §3): a NEXT_HOP (or MP_REACH_NLRI next hop) that is not a usable unicast address of another
 * host — unspecified, loopback, multicast, class E / broadcast, or one of this speaker's own
 * addresses — makes the route ignored: logged and counted, no NOTIFICATION, the session stays.
 * BIRD does the same ("Invalid NEXT_HOP attribute").
 *
 * @module
 */

import { contains, parseCidr, sameIp, tryParseIp } from "../../net/cidr.ts";

const BAD_V4 = [
  ["0.0.0.0/8", "an unspecified address"],
  ["127.0.0.0/8", "a loopback address"],
  ["224.0.0.0/4", "a multicast address"],
  ["240.0.0.0/4", "a reserved or broadcast address"],
].map(([c, why]) => ({ cidr: parseCidr(c!), why: why! }));

const BAD_V6 = [
  ["::/128", "the unspecified address"],
  ["::1/128", "the loopback address"],
  ["ff00::/8", "a multicast address"],
].map(([c, why]) => ({ cidr: parseCidr(c!), why: why! }));

/**
 * Why `nextHop` cannot be a route's next hop (undefined when it can). `own` lists this
 * speaker's addresses on the session (its address on the connection, its IPv6 next hop, its
 * BGP identifier): a route back to ourselves would loop or be refused by the kernel.
 */
export function invalidNextHop(nextHop: string, own: readonly string[]): string | undefined {
  const ip = tryParseIp(nextHop);
  if (!ip) return `next hop ${nextHop} is not an address`;
  for (const b of ip.family === 4 ? BAD_V4 : BAD_V6) {
    if (contains(b.cidr, ip)) return `next hop ${nextHop} is ${b.why}`;
  }
  if (own.some((o) => sameIp(o, nextHop))) return `next hop ${nextHop} is this node's own address`;
  return undefined;
}
