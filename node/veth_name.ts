/**
 * The host-side veth name of an attachment: "sk" + 12 hex digits of
 * sha256(containerId + "/" + ifName). Deterministic, so DEL and GC find the link even when the
 * pod's namespace is gone (Calico's "cali" + hash idea).
 *
 * @module
 */
import { sha256Hex } from "./sha256.ts";

/** Prefix of every host veth skein creates. */
export const HOST_VETH_PREFIX = "sk";

/** The host veth name for an attachment (14 characters, within IFNAMSIZ). */
export function hostVethName(containerId: string, ifName: string): string {
  const h = sha256Hex(`${containerId}/${ifName}`);
  return HOST_VETH_PREFIX + h.slice(0, 12);
}

/** True when `name` has the shape of a skein host veth. */
export function isHostVethName(name: string): boolean {
  return /^sk[0-9a-f]{12}$/.test(name);
}
