/**
 * resolv.conf parsing for the result's `dns` (as host-local's `resolvConf` option).
 *
 * @module
 */
import { CniCode, CniError } from "../errors.ts";
import type { IpamDns } from "./types.ts";

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

/** Reads and parses a resolv.conf file; CniError 7 when it cannot be read. */
export function readResolvConf(path: string): IpamDns {
  try {
    return parseResolvConf(Deno.readTextFileSync(path));
  } catch (e) {
    throw new CniError(
      CniCode.InvalidConfig,
      `Invalid IPAM config: ipam.resolvConf: cannot read ${path}: ${(e as Error).message}`,
    );
  }
}
