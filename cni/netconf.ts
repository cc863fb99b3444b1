/**
 * The network configuration skein reads on stdin: a single network config, or one plugin's
 * config out of a conflist as libcni passes it (with `name`, `cniVersion`, `prevResult` and
 * `runtimeConfig` injected). Unknown keys are ignored, as the reference plugins do; known keys
 * with a wrong value are rejected with code 7 naming the field; reference-bridge features
 * skein does not implement are rejected with code 2 when turned on.
 *
 * @module
 */
import { CniCode, CniError } from "./errors.ts";
import { validateNetworkName } from "./env.ts";
import { isSupportedVersion, SUPPORTED_VERSIONS } from "./versions.ts";
import { type CniResult, parseResult } from "./result.ts";
import { tryParseCidr } from "../net/cidr.ts";
import { isIfname } from "../net/nl/ifname.ts";
import { isMtu } from "../node/mtu.ts";
import { parsePodMac } from "./_pod_mac.ts";
import { foldedValue } from "./ipam/_keys.ts";

/** How the pod is wired to the host. */
export type Mode = "bridge" | "routed" | "loopback";

/** One attachment named by a GC call. */
export interface Attachment {
  /** CNI_CONTAINERID. */
  containerId: string;
  /** CNI_IFNAME: the interface name inside the pod. */
  ifName: string;
}

/** A parsed, validated network configuration. */
export interface NetConf {
  /** The spec version of this config or result. */
  cniVersion: string;
  /** Network name ("name"). */
  name: string;
  /** Top-level "type": "skein" for the main plugin; anything else means skein runs as an IPAM. */
  type: string;
  /** How the pod is wired (bridge, routed, loopback). */
  mode: Mode;
  /** Bridge name (bridge mode), default "cni0". */
  bridge: string;
  /** Put the gateway address on the bridge. */
  isGateway: boolean;
  /** Add a default route via the gateway in the pod. */
  isDefaultGateway: boolean;
  /** Masquerade pod traffic leaving its subnet. */
  ipMasq: boolean;
  /** MTU. */
  mtu?: number;
  /** Hairpin mode on the bridge port. */
  hairpinMode: boolean;
  /** Bridge in promiscuous mode. */
  promiscMode: boolean;
  /** The "ipam" section as given (undefined in loopback mode when absent). */
  ipam?: Record<string, unknown> & { type: string };
  /** prevResult, converted to the internal form. */
  prevResult?: CniResult;
  /**
   * Addresses asked for through args.cni.ips, then runtimeConfig.ips (host-local's order; a
   * prefix length may come with them). The IPAM puts CNI_ARGS `IP=` (CniArgs.ips) first.
   */
  requestedIps: string[];
  /** MAC asked for through runtimeConfig.mac, else args.cni.mac. */
  mac?: string;
  /** GC: `cni.dev/valid-attachments`. */
  validAttachments?: Attachment[];
  /** The whole config object as parsed (for IPAM, and for delegation). */
  raw: Record<string, unknown>;
  /** The exact stdin bytes (passed unchanged to a delegated IPAM plugin). */
  bytes: Uint8Array;
}

function invalid(field: string, why: string): CniError {
  return new CniError(CniCode.InvalidConfig, `invalid network config: field "${field}"`, why);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bool(raw: Record<string, unknown>, k: string, dflt: boolean): boolean {
  const v = raw[k];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") throw invalid(k, `${JSON.stringify(v)} is not true or false`);
  return v;
}

/** Reference bridge options skein does not implement: rejected (code 2) when switched on. */
const UNSUPPORTED: readonly string[] = [
  "vlan",
  "vlanTrunk",
  "macspoofchk",
  "enabledad",
  "disableContainerInterface",
  "portIsolation",
];

/**
 * Invalid UTF-8 is refused (code 6) rather than silently replaced with U+FFFD; a byte order
 * mark is kept, so JSON.parse refuses it as the reference plugins' decoder does.
 */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Deepest object/list nesting accepted in a network config (real ones use 4-6 levels). */
const MAX_DEPTH = 64;

/** How deeply `v` nests objects and lists, counted without recursion; stops past MAX_DEPTH. */
function nestingDepth(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (typeof x !== "object" || x === null) continue;
    if (d > max) max = d;
    if (max > MAX_DEPTH) return max;
    for (const c of Array.isArray(x) ? x : Object.values(x)) {
      if (typeof c === "object" && c !== null) stack.push([c, d + 1]);
    }
  }
  return max;
}

/**
 * Decodes stdin only as far as the spec layer needs: JSON (code 6), "cniVersion" (code 1 when
 * not one of 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0; a missing version is the spec's "0.1.0"),
 * "name" (code 7). Used before the command-specific parsing.
 */
export function decodeConfig(
  bytes: Uint8Array,
): { raw: Record<string, unknown>; cniVersion: string } {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    throw new CniError(
      CniCode.DecodeFailure,
      "error unmarshalling network config",
      "stdin starts with a UTF-8 byte order mark; JSON must not",
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(utf8.decode(bytes));
  } catch (e) {
    throw new CniError(
      CniCode.DecodeFailure,
      "error unmarshalling network config",
      e instanceof SyntaxError
        ? `stdin is not valid JSON: ${e.message}`
        : `stdin is not valid UTF-8 JSON: ${(e as Error).message}`,
    );
  }
  const depth = nestingDepth(raw);
  if (depth > MAX_DEPTH) {
    // Later steps (error messages, the result) serialize parts of the config recursively.
    throw new CniError(
      CniCode.DecodeFailure,
      "error unmarshalling network config",
      `stdin nests objects and lists more than ${MAX_DEPTH} levels deep`,
    );
  }
  if (!isObj(raw)) {
    throw new CniError(
      CniCode.DecodeFailure,
      "error unmarshalling network config",
      "stdin is not a JSON object",
    );
  }
  const v = raw.cniVersion ?? "0.1.0";
  if (typeof v !== "string") {
    throw new CniError(
      CniCode.DecodeFailure,
      "error unmarshalling network config",
      'field "cniVersion" is not a string',
    );
  }
  validateNetworkName(raw.name);
  if (!isSupportedVersion(v)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      "incompatible CNI versions",
      `config is "${v}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    );
  }
  return { raw, cniVersion: v };
}

function ipList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(field, "must be a list of IP addresses");
  return v.map((x, i) => {
    if (typeof x !== "string" || !tryParseCidr(x)) {
      throw invalid(`${field}[${i}]`, `${JSON.stringify(x)} is not an IP address or CIDR`);
    }
    return x;
  });
}

function attachments(v: unknown, field: string): Attachment[] {
  if (!Array.isArray(v)) throw invalid(field, "must be a list of {containerID, ifname}");
  return v.map((x, i) => {
    if (!isObj(x) || typeof x.containerID !== "string" || typeof x.ifname !== "string") {
      throw invalid(`${field}[${i}]`, 'needs string fields "containerID" and "ifname"');
    }
    return { containerId: x.containerID, ifName: x.ifname };
  });
}

/** The "dns" object (the spec's DNS type): only string fields and lists of strings. */
function checkDns(dns: unknown): void {
  if (dns === undefined || dns === null) return;
  if (!isObj(dns)) throw invalid("dns", 'must be an object like {"nameservers": [...]}');
  const strings = (k: string) => {
    const v = dns[k];
    if (v === undefined || v === null) return;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      throw invalid(`dns.${k}`, "must be a list of strings");
    }
  };
  strings("nameservers");
  strings("search");
  strings("options");
  if (dns.domain !== undefined && dns.domain !== null && typeof dns.domain !== "string") {
    throw invalid("dns.domain", "must be a string");
  }
}

/** "mode", "bridge" and "mtu": how the main plugin wires the pod. */
function wiring(raw: Record<string, unknown>): Pick<NetConf, "mode" | "bridge" | "mtu"> {
  const modeRaw = raw.mode ?? "bridge";
  if (modeRaw !== "bridge" && modeRaw !== "routed" && modeRaw !== "loopback") {
    throw invalid(
      "mode",
      `${JSON.stringify(modeRaw)} is not one of "bridge", "routed", "loopback"`,
    );
  }
  const bridge = raw.bridge ?? "cni0";
  if (!isIfname(bridge)) {
    throw invalid("bridge", `${JSON.stringify(bridge)} is not a valid interface name (1-15 bytes)`);
  }
  if (bridge.includes("%")) {
    // The kernel reads "br%d" as a template and makes "br0", which the plugin would not find.
    throw invalid("bridge", `${JSON.stringify(bridge)} contains "%", a kernel name template`);
  }
  let mtu: number | undefined;
  if (raw.mtu !== undefined && raw.mtu !== null && raw.mtu !== 0) {
    if (!isMtu(raw.mtu)) {
      throw invalid("mtu", `${JSON.stringify(raw.mtu)} is not an MTU between 68 and 65535`);
    }
    mtu = raw.mtu;
  }
  return { mode: modeRaw as Mode, bridge, mtu };
}

/** Refuses (code 2) the reference bridge's options skein does not implement, when switched on. */
function checkUnsupported(raw: Record<string, unknown>): void {
  for (const k of UNSUPPORTED) {
    const v = raw[k];
    if (
      v !== undefined && v !== null && v !== false && v !== 0 && !(Array.isArray(v) && !v.length)
    ) {
      throw new CniError(
        CniCode.UnsupportedField,
        `unsupported field in network config: ${k}`,
        `skein does not implement "${k}" (value ${JSON.stringify(v)}); remove it`,
      );
    }
  }
}

/** The "ipam" section: required unless skein is the main plugin in loopback mode. */
function ipamSection(raw: Record<string, unknown>, type: string, mode: Mode): NetConf["ipam"] {
  let ipam: NetConf["ipam"];
  if (raw.ipam !== undefined && raw.ipam !== null) {
    if (!isObj(raw.ipam)) throw invalid("ipam", "must be an object");
    // libcni and the reference plugins read these ignoring case (Go's encoding/json).
    const ipamType = foldedValue(raw.ipam, "type", "ipam");
    if (typeof ipamType !== "string" || ipamType === "") {
      throw invalid("ipam.type", 'must name the IPAM plugin ("skein", "host-local", ...)');
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(ipamType)) {
      throw invalid("ipam.type", `"${ipamType}" is not a plugin name`);
    }
    const dataDir = foldedValue(raw.ipam, "dataDir", "ipam");
    ipam = { ...raw.ipam, type: ipamType, ...(dataDir === undefined ? {} : { dataDir }) };
  }
  if (type === "skein" && mode !== "loopback" && !ipam) {
    throw invalid("ipam", `mode "${mode}" needs an "ipam" section (e.g. {"type": "skein", ...})`);
  }
  if (type !== "skein" && !ipam) {
    throw invalid(
      "ipam",
      `skein runs as the IPAM of "${type}" but the config has no "ipam" section`,
    );
  }
  return ipam;
}

/**
 * "runtimeConfig", checked to be an object when present. This key and those read below match
 * ignoring case, as the reference plugins (Go's encoding/json) read them.
 */
function runtimeConfig(raw: Record<string, unknown>): Record<string, unknown> | undefined {
  const rc = foldedValue(raw, "runtimeConfig", "the network config");
  if (rc === undefined || rc === null) return undefined;
  if (!isObj(rc)) throw invalid("runtimeConfig", "must be an object");
  return rc;
}

/** The config's `args.cni` object (the conventions' args), if any. */
function argsCni(raw: Record<string, unknown>): Record<string, unknown> | undefined {
  const args = foldedValue(raw, "args", "the network config");
  if (args === undefined || args === null) return undefined;
  if (!isObj(args)) throw invalid("args", "must be an object");
  const cni = foldedValue(args, "cni", "args");
  if (cni === undefined || cni === null) return undefined;
  if (!isObj(cni)) throw invalid("args.cni", "must be an object");
  return cni;
}

/** A MAC field of the config, parsed; undefined when absent or empty. */
function macField(obj: Record<string, unknown> | undefined, field: string): string | undefined {
  const dot = field.lastIndexOf(".");
  const mac = obj && foldedValue(obj, field.slice(dot + 1), field.slice(0, dot));
  if (mac === undefined || mac === null || mac === "") return undefined;
  const m = typeof mac === "string" ? parsePodMac(mac) : { problem: "not a string" };
  if ("problem" in m) throw invalid(field, `${JSON.stringify(mac)}: ${m.problem}`);
  return m.mac;
}

/**
 * The pod MAC the config asks for, main plugin only: runtimeConfig.mac, else args.cni.mac (the
 * reference bridge's order; CNI_ARGS `MAC=` comes after both).
 */
function runtimeMac(raw: Record<string, unknown>): string | undefined {
  const fromArgs = macField(argsCni(raw), "args.cni.mac");
  return macField(runtimeConfig(raw), "runtimeConfig.mac") ?? fromArgs;
}

/** The addresses the runtime asks for: args.cni.ips, then runtimeConfig.ips. */
function runtimeIps(raw: Record<string, unknown>): string[] {
  const rc = runtimeConfig(raw);
  const cni = argsCni(raw);
  return [
    ...(cni ? ipList(foldedValue(cni, "ips", "args.cni"), "args.cni.ips") : []),
    ...ipList(rc && foldedValue(rc, "ips", "runtimeConfig"), "runtimeConfig.ips"),
  ];
}

/** The main plugin's own fields (NetConf's defaults when skein is only the IPAM). */
type MainFields = Pick<
  NetConf,
  | "mode"
  | "bridge"
  | "mtu"
  | "isGateway"
  | "isDefaultGateway"
  | "ipMasq"
  | "hairpinMode"
  | "promiscMode"
  | "mac"
>;

/**
 * The fields skein reads as the main plugin (`"type": "skein"`). As the IPAM of another plugin
 * they are that plugin's (macvlan's "mode": "vepa", the reference bridge's "vlan"): skein
 * neither reads nor judges them then.
 */
function mainFields(raw: Record<string, unknown>, type: string): MainFields {
  if (type !== "skein") {
    return {
      mode: "bridge",
      bridge: "cni0",
      isGateway: false,
      isDefaultGateway: false,
      ipMasq: false,
      hairpinMode: false,
      promiscMode: false,
    };
  }
  const { mode, bridge, mtu } = wiring(raw);
  checkUnsupported(raw);
  checkDns(raw.dns);
  const isDefaultGateway = bool(raw, "isDefaultGateway", false);
  return {
    mode,
    bridge,
    mtu,
    isGateway: bool(raw, "isGateway", false) || isDefaultGateway,
    isDefaultGateway,
    ipMasq: bool(raw, "ipMasq", false),
    hairpinMode: bool(raw, "hairpinMode", false),
    promiscMode: bool(raw, "promiscMode", false),
    mac: runtimeMac(raw),
  };
}

/** Parses and validates the whole config (after decodeConfig()). Throws CniError 2, 6 or 7. */
export function parseNetConf(bytes: Uint8Array): NetConf {
  const { raw, cniVersion } = decodeConfig(bytes);
  const type = raw.type;
  if (typeof type !== "string" || type === "") {
    throw invalid("type", 'must name the plugin ("skein")');
  }
  const main = mainFields(raw, type);
  const ipam = ipamSection(raw, type, main.mode);
  const requestedIps = runtimeIps(raw);
  let prevResult: CniResult | undefined;
  if (raw.prevResult !== undefined && raw.prevResult !== null) {
    prevResult = parseResult(raw.prevResult, cniVersion);
  }
  let validAttachments: Attachment[] | undefined;
  for (const k of ["cni.dev/valid-attachments", "cni.dev/attachments"]) {
    if (raw[k] !== undefined && raw[k] !== null) validAttachments = attachments(raw[k], k);
  }
  return {
    cniVersion,
    name: raw.name as string,
    type,
    ...main,
    ipam,
    prevResult,
    requestedIps,
    validAttachments,
    raw,
    bytes,
  };
}
