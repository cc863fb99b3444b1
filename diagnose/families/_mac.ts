/**
 * MAC helpers for fixes: a MAC to give a device that must stop sharing one (a host veth with its
 * pod's MAC, two nodes' uplinks with the same MAC).
 *
 * @module
 */

/** A unicast, locally administered MAC that differs from `mac` (one bit of its first byte). */
export function otherMac(mac: string): string {
  const [first = "00", ...rest] = mac.split(":");
  const b = ((parseInt(first, 16) ^ 0x04) | 0x02) & 0xfe;
  return [b.toString(16).padStart(2, "0"), ...rest].join(":");
}
