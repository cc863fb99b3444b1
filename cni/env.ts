/**
 * The CNI_* environment variables, read and validated like the reference `skel` package.
 *
 * @module
 */
import { CniCode, CniError } from "./errors.ts";
import { type IfnameProblem, ifnameProblem } from "../net/nl/ifname.ts";

/** The CNI verbs skein implements. */
export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION" | "STATUS" | "GC";

/** The runtime's parameters for one plugin call. */
export interface CmdArgs {
  /** CNI_COMMAND. */
  command: CniCommand;
  /** CNI_CONTAINERID ("" for VERSION/STATUS/GC). */
  containerId: string;
  /** CNI_NETNS: path of the pod's network namespace ("" when not given, e.g. DEL). */
  netns: string;
  /** CNI_IFNAME: the interface name inside the pod. */
  ifName: string;
  /** CNI_ARGS, raw. */
  args: string;
  /** CNI_PATH split on ":" (empty entries dropped). */
  path: string[];
}

const COMMANDS: readonly CniCommand[] = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"];

/** Which variables each command requires (CNI spec, "Parameters"; the reference skel). */
const REQUIRED: Record<string, readonly CniCommand[]> = {
  CNI_CONTAINERID: ["ADD", "DEL", "CHECK"],
  CNI_NETNS: ["ADD", "CHECK"],
  CNI_IFNAME: ["ADD", "DEL", "CHECK"],
  CNI_PATH: ["ADD", "DEL", "CHECK"],
};

const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

/**
 * Longest CNI_CONTAINERID accepted. Runtimes use 64 hex digits; the id is written into
 * reservation files and nftables comments (at most 128 bytes), so an unbounded one is refused.
 */
export const MAX_CONTAINER_ID = 128;

/**
 * Reads and validates the CNI_* variables. Throws CniError code 4 naming the variable for a
 * missing or invalid one (unknown CNI_COMMAND, bad container id, bad interface name, a value
 * that is not valid UTF-8).
 */
export function readCmdArgs(getenv: (name: string) => string | undefined): CmdArgs {
  const get = (n: string) => {
    try {
      return getenv(n) ?? "";
    } catch (e) {
      // Deno.env.get() throws for a value that is not valid UTF-8.
      throw new CniError(
        CniCode.InvalidEnv,
        `invalid ${n}`,
        `${n} is not valid UTF-8 (${(e as Error).message})`,
      );
    }
  };
  const command = get("CNI_COMMAND");
  if (command === "") {
    throw new CniError(CniCode.InvalidEnv, "required env variables [CNI_COMMAND] missing");
  }
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(
      CniCode.InvalidEnv,
      `unknown CNI_COMMAND: ${command}`,
      `CNI_COMMAND must be one of ${COMMANDS.join(", ")}`,
    );
  }
  const cmd = command as CniCommand;
  const missing = Object.entries(REQUIRED)
    .filter(([name, cmds]) => cmds.includes(cmd) && get(name) === "")
    .map(([name]) => name);
  if (missing.length) {
    throw new CniError(CniCode.InvalidEnv, `required env variables [${missing.join(",")}] missing`);
  }
  const out: CmdArgs = {
    command: cmd,
    containerId: get("CNI_CONTAINERID"),
    netns: get("CNI_NETNS"),
    ifName: get("CNI_IFNAME"),
    args: get("CNI_ARGS"),
    path: get("CNI_PATH").split(":").filter((p) => p !== ""),
  };
  if (["ADD", "DEL", "CHECK"].includes(cmd)) {
    validateContainerId(out.containerId);
    validateIfName(out.ifName);
  }
  return out;
}

/** Container ids follow the reference rule `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`. Throws code 4. */
export function validateContainerId(id: string): void {
  if (id.length > MAX_CONTAINER_ID) {
    throw new CniError(
      CniCode.InvalidEnv,
      "containerID is too long",
      `CNI_CONTAINERID has ${id.length} characters; at most ${MAX_CONTAINER_ID} are accepted`,
    );
  }
  if (!VALID_NAME.test(id)) {
    throw new CniError(
      CniCode.InvalidEnv,
      "invalid characters in containerID",
      `CNI_CONTAINERID "${id}" must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`,
    );
  }
}

/**
 * Names the kernel refuses for a new device with EINVAL: its per-device sysctl directories
 * (net.ipv4.conf.all, .default) would clash.
 */
const RESERVED = new Set(["all", "default"]);

const IFNAME_WHY: Record<IfnameProblem | "control" | "reserved" | "template", string> = {
  "control": "interface name contains control characters",
  "reserved": 'interface names "all" and "default" are reserved by the kernel',
  "template": 'interface name contains "%", which the kernel reads as a name template (eth%d)',
  "empty": "interface name is empty",
  "too-long": "interface name is too long (at most 15 bytes)",
  "dot": "interface name is . or ..",
  "bad-char": "interface name contains / or : or whitespace characters",
};

/**
 * Linux interface names (the kernel's rule, net/nl/ifname.ts): 1-15 bytes, not "." or "..",
 * no "/", ":" or whitespace, not "all" or "default" (the kernel refuses those with EINVAL when
 * the device is created, after IPAM), no "%" (the kernel makes "eth%d" into "eth0", a name the
 * plugin did not ask for); and, unlike the kernel, no control characters: the name is written
 * into IPAM reservation files, which hold one name per line. Throws code 4.
 */
export function validateIfName(name: string): void {
  const problem = ifnameProblem(name) ??
    // deno-lint-ignore no-control-regex
    (/[\x00-\x1f\x7f]/.test(name)
      ? "control"
      : RESERVED.has(name)
      ? "reserved"
      : name.includes("%")
      ? "template"
      : undefined);
  if (problem) {
    throw new CniError(
      CniCode.InvalidEnv,
      `invalid CNI_IFNAME "${name}"`,
      `CNI_IFNAME: ${IFNAME_WHY[problem]}`,
    );
  }
}

/** Network names follow the same rule as container ids. Throws CniError code 7. */
export function validateNetworkName(name: unknown): string {
  if (typeof name !== "string" || name === "") {
    throw new CniError(CniCode.InvalidConfig, "missing network name", 'field "name" is required');
  }
  if (!VALID_NAME.test(name)) {
    throw new CniError(
      CniCode.InvalidConfig,
      "invalid characters found in network name",
      `field "name": "${name}" must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`,
    );
  }
  return name;
}
