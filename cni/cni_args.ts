/**
 * CNI_ARGS parsing, as the reference plugins' `types.LoadArgs` does it:
 * `IgnoreUnknown=1;IP=10.244.1.5;K8S_POD_NAME=web-0`. Unknown keys are an error unless
 * `IgnoreUnknown` is true.
 *
 * @module
 */
import { CniCode, CniError } from "./errors.ts";
import { tryParseIp } from "../net/cidr.ts";
import { parsePodMac } from "./_pod_mac.ts";

/** What skein reads from CNI_ARGS. */
export interface CniArgs {
  /** `IgnoreUnknown=1|true`: unknown keys are skipped instead of rejected. */
  ignoreUnknown: boolean;
  /** `IP=a[,b]`: addresses the runtime asks for (host-local's IPAMArgs.IP). */
  ips: string[];
  /** `MAC=aa:bb:..`: the pod interface's hardware address (the reference bridge's BridgeArgs.MAC). */
  mac?: string;
  /** Every key=value pair as given. */
  pairs: Record<string, string>;
}

/** Keys skein understands (IP for IPAM, the K8S_* keys kubelet/containerd pass). */
const KNOWN_KEYS = new Set([
  "IgnoreUnknown",
  "IP",
  "K8S_POD_NAME",
  "K8S_POD_NAMESPACE",
  "K8S_POD_INFRA_CONTAINER_ID",
  "K8S_POD_UID",
  "MAC",
]);

function parseBool(key: string, v: string): boolean {
  // libcni's UnmarshallableBool, the type of IgnoreUnknown: "1" or "true", "0" or "false", in
  // any case.
  const l = v.toLowerCase();
  if (l === "1" || l === "true") return true;
  if (l === "0" || l === "false") return false;
  throw invalid(`${key}=${v}: not a boolean`);
}

function invalid(why: string): CniError {
  return new CniError(CniCode.InvalidEnv, "invalid CNI_ARGS", `CNI_ARGS: ${why}`);
}

/**
 * Parses CNI_ARGS (`K=V;K=V`). Throws CniError code 4 (naming CNI_ARGS) for a pair without
 * "=", a bad value, or an unknown key when IgnoreUnknown is not set.
 */
export function parseCniArgs(text: string | undefined): CniArgs {
  // No prototype: a "__proto__" or "constructor" key is a key like any other.
  const out: CniArgs = { ignoreUnknown: false, ips: [], pairs: Object.create(null) };
  if (!text) return out;
  const pairs: [string, string][] = [];
  for (const part of text.split(";")) {
    // As libcni's LoadArgs: every ";"-separated part is exactly one KEY=VALUE ("" and
    // "a=b=c" are invalid pairs, not skipped or split at the first "=").
    const eq = part.indexOf("=");
    if (eq <= 0 || part.indexOf("=", eq + 1) >= 0) {
      const shown = part.length > 64 ? `${part.slice(0, 64)}...` : part;
      throw invalid(`invalid pair "${shown}" (want KEY=VALUE)`);
    }
    pairs.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  for (const [k, v] of pairs) {
    out.pairs[k] = v;
    if (k === "IgnoreUnknown") out.ignoreUnknown = parseBool(k, v);
  }
  for (const [k, v] of pairs) {
    if (k === "IP") {
      // A key given twice: the later value wins, as in libcni's LoadArgs.
      out.ips = [];
      for (const ip of v.split(",").map((s) => s.trim()).filter((s) => s)) {
        if (!tryParseIp(ip)) throw invalid(`IP=${v}: "${ip}" is not an IP address`);
        out.ips.push(ip);
      }
    } else if (k === "MAC") {
      // "MAC=" asks for nothing, as in the reference bridge (an empty UnmarshallableString).
      if (v === "") {
        delete out.mac;
        continue;
      }
      const m = parsePodMac(v);
      if ("problem" in m) throw invalid(`MAC=${v}: ${m.problem}`);
      out.mac = m.mac;
    } else if (!KNOWN_KEYS.has(k) && !out.ignoreUnknown) {
      throw invalid(`unknown argument "${k}" (set IgnoreUnknown=1 to skip unknown arguments)`);
    }
  }
  return out;
}
