/**
 * resolv.conf parsing for the result's `dns` (as host-local's `resolvConf` option).
 *
 * @module
 */
import { CniCode, CniError } from "../errors.ts";
import type { IpamDns } from "./types.ts";
import { readBoundedText } from "../../node/bounded_read.ts";

/** Parses resolv.conf text: `nameserver`, `domain`, `search`, `options` lines; `#`/`;` comments. */
export function parseResolvConf(text: string): IpamDns {
  const dns: IpamDns = {};
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    if (line === "") continue;
    const [key, ...vals] = line.split(/\s+/);
    if (key === "nameserver" && vals[0]) (dns.nameservers ??= []).push(vals[0]);
    else if (key === "domain" && vals[0]) dns.domain = vals[0];
    else if (key === "search") dns.search = vals;
    else if (key === "options") (dns.options ??= []).push(...vals);
  }
  return dns;
}

/** Largest resolv.conf read (glibc's is a few hundred bytes). */
const MAX_RESOLV_CONF = 64 * 1024;

/**
 * Reads and parses a resolv.conf file; CniError 7 when it cannot be read, or is not a regular
 * file of at most 64 KiB (`/dev/zero` would be read until memory runs out, a FIFO forever).
 */
export function readResolvConf(path: string): IpamDns {
  try {
    return parseResolvConf(readBoundedText(path, MAX_RESOLV_CONF));
  } catch (e) {
    throw new CniError(
      CniCode.InvalidConfig,
      `Invalid IPAM config: ipam.resolvConf: cannot read ${path}: ${(e as Error).message}`,
    );
  }
}
