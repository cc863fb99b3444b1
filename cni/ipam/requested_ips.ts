/**
 * Collects the specific addresses a runtime asks for, the way host-local does: CNI_ARGS `IP=`
 * (comma-separated allowed), then `args.cni.ips`, then `runtimeConfig.ips`.
 *
 * @module
 */
import { normalizeIp, tryParseIp } from "../../net/cidr.ts";
import { CniCode, CniError } from "../errors.ts";

function ipText(v: unknown, where: string, code: number): string {
  const s = typeof v === "string" ? v.replace(/\/[0-9]+$/, "") : undefined;
  if (s === undefined || !tryParseIp(s)) {
    throw new CniError(code, `Cannot understand requested IP ${JSON.stringify(v)} in ${where}`);
  }
  return normalizeIp(s);
}

function ipList(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    throw new CniError(CniCode.InvalidConfig, `Invalid config: ${where} must be an array of IPs`);
  }
  return v.map((x, i) => ipText(x, `${where}[${i}]`, CniCode.InvalidConfig));
}

/**
 * Requested IPs from CNI_ARGS (`IP=10.0.0.5` or `IP=10.0.0.5,fd00::5`), `args.cni.ips` and
 * `runtimeConfig.ips` (entries may carry a prefix length, which is ignored). Returns canonical
 * addresses without duplicates. Throws CniError 4 for a bad `IP=` and 7 for bad config entries.
 */
export function requestedIpsFrom(
  opts: { netconf: Record<string, unknown>; cniArgs?: string },
): string[] {
  const out: string[] = [];
  for (const pair of (opts.cniArgs ?? "").split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq) !== "IP") continue;
    for (const v of pair.slice(eq + 1).split(",")) {
      if (v !== "") out.push(ipText(v, "CNI_ARGS IP=", CniCode.InvalidEnv));
    }
  }
  const args = opts.netconf.args as { cni?: { ips?: unknown } } | undefined;
  if (args && typeof args === "object" && args.cni && typeof args.cni === "object") {
    out.push(...ipList(args.cni.ips, "args.cni.ips"));
  }
  const rc = opts.netconf.runtimeConfig as { ips?: unknown } | undefined;
  if (rc && typeof rc === "object") out.push(...ipList(rc.ips, "runtimeConfig.ips"));
  return [...new Set(out)];
}
