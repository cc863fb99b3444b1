/**
 * The kernel's rule for interface names (`dev_valid_name()` in net/core/dev.c), the one check
 * every layer uses: netlink encoders before they put a name in `IFLA_IFNAME`, the CNI plugin for
 * `CNI_IFNAME`, IPAM for the names it reads back from reservation files, backends for device
 * names. It lives here, at the bottom, so that net/nl/ can use it too.
 *
 * A name is valid when it is 1-15 bytes of UTF-8 (IFNAMSIZ 16 with the NUL), is not "." or "..",
 * and has no "/", ":", NUL or whitespace byte, where whitespace is what the kernel's `isspace()`
 * says: tab, newline, vertical tab, form feed, carriage return, space, and the byte 0xA0 (so
 * "à", UTF-8 C3 A0, is refused, while U+2000 is not). Other control characters are accepted, as
 * the kernel accepts them.
 *
 * @module
 */

/** The kernel's IFNAMSIZ: 15 bytes of name plus the terminating NUL. */
export const IFNAMSIZ = 16;

/** Why a name is not a valid interface name. */
export type IfnameProblem = "empty" | "too-long" | "dot" | "bad-char";

/** The rule in one line, for error messages. */
export const IFNAME_RULE = 'an interface name is 1-15 bytes without "/", ":" or spaces';

const encoder = new TextEncoder();

function badByte(b: number): boolean {
  // "/" ":" NUL, and the kernel's isspace(): \t \n \v \f \r, space, 0xA0.
  return b === 0x2f || b === 0x3a || b === 0 || (b >= 0x09 && b <= 0x0d) || b === 0x20 ||
    b === 0xa0;
}

/**
 * Why the kernel would refuse `name` as an interface name, or undefined when it would take it
 * (`ip link add NAME ...` answers "not a valid ifname" or EINVAL for the same names).
 *
 * @example
 * ```ts
 * import { ifnameProblem } from "./ifname.ts";
 * ifnameProblem("eth0"); // undefined
 * ifnameProblem("abcdefghijklmnop"); // "too-long"
 * ```
 */
export function ifnameProblem(name: unknown): IfnameProblem | undefined {
  if (typeof name !== "string" || name.length === 0) return "empty";
  const bytes = encoder.encode(name);
  if (bytes.length >= IFNAMSIZ) return "too-long";
  if (name === "." || name === "..") return "dot";
  for (const b of bytes) if (badByte(b)) return "bad-char";
  return undefined;
}

/** True when the kernel would take `name` as an interface name (see ifnameProblem()). */
export function isIfname(name: unknown): name is string {
  return ifnameProblem(name) === undefined;
}

/**
 * Throws a TypeError naming `what` when `name` is not a valid interface name; netlink requests
 * check every name with it before anything is sent.
 */
export function checkIfname(name: string, what = "link"): void {
  if (ifnameProblem(name) !== undefined) {
    throw new TypeError(`Cannot use ${what} name "${name}": ${IFNAME_RULE}`);
  }
}
