/**
 * The pod MAC a runtime may ask for (`runtimeConfig.mac`, `CNI_ARGS` `MAC=`), checked at the
 * boundary: the kernel refuses a multicast or all-zero address for a veth (EADDRNOTAVAIL), and
 * learning that only when the veth is created means the IPAM reservation was already made.
 *
 * @module
 */
import { formatMac, parseMac } from "../net/cidr.ts";

/** A pod MAC, lower-case and colon-separated ("0a:58:0a:f4:01:05"), or why it cannot be one. */
export function parsePodMac(text: string): { mac: string } | { problem: string } {
  let b: Uint8Array;
  try {
    b = parseMac(text);
  } catch {
    return { problem: "not a MAC address like 0a:58:0a:f4:01:05" };
  }
  if (b.every((x) => x === 0)) return { problem: "the all-zero address is not a unicast MAC" };
  if ((b[0]! & 1) === 1) {
    return { problem: "a multicast or broadcast address (lowest bit of the first byte set)" };
  }
  return { mac: formatMac(b) };
}
