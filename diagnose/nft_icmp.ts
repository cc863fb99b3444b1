/**
 * ICMP in the packet model of the nftables verdict (nft_eval.ts): the flow diagnose judges is a
 * ping, an echo request from the source pod and an echo reply from the destination (as tc's
 * u32_eval.ts sees them), and `icmp type` / `icmp code` matches are judged by the names nft's
 * JSON gives them. Pure.
 *
 * @module
 */

/** An ICMP message's type and code (echo request: 8, 0). */
export interface Icmp {
  type: number;
  code: number;
}

/** The ping's request (the flow's direction). */
export const ECHO_REQUEST: Readonly<Icmp> = { type: 8, code: 0 };
/** The ping's reply (the reverse direction). */
export const ECHO_REPLY: Readonly<Icmp> = { type: 0, code: 0 };

/** The ICMP message of one direction of the ping: the request forward, the reply in reverse. */
export function echoOf(reply: boolean): Icmp {
  return { ...(reply ? ECHO_REPLY : ECHO_REQUEST) };
}

/** nft's names for ICMP types (`icmp type echo-request`), as `nft -j list ruleset` writes them. */
const TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "echo-reply",
  3: "destination-unreachable",
  4: "source-quench",
  5: "redirect",
  8: "echo-request",
  9: "router-advertisement",
  10: "router-solicitation",
  11: "time-exceeded",
  12: "parameter-problem",
  13: "timestamp-request",
  14: "timestamp-reply",
  15: "info-request",
  16: "info-reply",
  17: "address-mask-request",
  18: "address-mask-reply",
};

/** nft's names for ICMP codes (`icmp code 0` is written "net-unreachable", whatever the type). */
const CODE_NAMES: Readonly<Record<number, string>> = {
  0: "net-unreachable",
  1: "host-unreachable",
  2: "prot-unreachable",
  3: "port-unreachable",
  4: "frag-needed",
  9: "net-prohibited",
  10: "host-prohibited",
  13: "admin-prohibited",
};

/**
 * The value of an `icmp FIELD` payload match for a packet whose ICMP message is `icmp`, as nft's
 * JSON writes the right side (its name when nft has one, else the number); "unknown" when the
 * message is not known or the field is not its type or code (id, sequence, checksum, mtu).
 *
 * @example
 * ```ts
 * import { ECHO_REQUEST, icmpValue } from "./nft_icmp.ts";
 * icmpValue("type", ECHO_REQUEST); // "echo-request"
 * icmpValue("code", ECHO_REQUEST); // "net-unreachable" (0)
 * icmpValue("type", undefined); // "unknown"
 * ```
 */
export function icmpValue(field: string, icmp: Icmp | undefined): string | number | "unknown" {
  if (!icmp) return "unknown";
  if (field === "type") return TYPE_NAMES[icmp.type] ?? icmp.type;
  if (field === "code") return CODE_NAMES[icmp.code] ?? icmp.code;
  return "unknown";
}
