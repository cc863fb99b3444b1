/**
 * Reads the node lease file the daemon writes, for `"subnet": "auto"`: skein's JSON
 * (`/run/skein/subnet.json`) or flannel's `subnet.env` (any path ending in `.env`).
 *
 * @module
 */
import { canonicalCidr, tryParseCidr } from "../../net/cidr.ts";
import { CniCode, CniError } from "../errors.ts";
import type { NodeLeaseInfo } from "./types.ts";

/** Where the daemon writes the node lease by default. */
export const DEFAULT_LEASE_FILE = "/run/skein/subnet.json";

function corrupt(path: string, why: string): CniError {
  return new CniError(
    CniCode.DecodeFailure,
    `Cannot use node lease file ${path}: ${why}`,
    "the file is written by `skein daemon`; rewrite it or restart the daemon",
  );
}

function cidrField(path: string, field: string, v: unknown, family: 4 | 6): string {
  const c = typeof v === "string" ? tryParseCidr(v) : undefined;
  if (!c || !v || !(v as string).includes("/") || c.family !== family) {
    throw corrupt(
      path,
      `field "${field}" must be an IPv${family} CIDR string, got ${JSON.stringify(v)}`,
    );
  }
  return canonicalCidr(v as string);
}

/** Parses skein's JSON lease file text. Throws CniError 6 naming the bad field. */
export function parseLeaseJson(text: string, path: string): NodeLeaseInfo {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw corrupt(path, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw corrupt(path, "expected a JSON object");
  }
  const o = v as Record<string, unknown>;
  const out: NodeLeaseInfo = {};
  if (o.subnet !== undefined) out.subnet = cidrField(path, "subnet", o.subnet, 4);
  if (o.network !== undefined) out.network = cidrField(path, "network", o.network, 4);
  if (o.subnet6 !== undefined) out.subnet6 = cidrField(path, "subnet6", o.subnet6, 6);
  if (o.network6 !== undefined) out.network6 = cidrField(path, "network6", o.network6, 6);
  if (!out.subnet && !out.subnet6) throw corrupt(path, `field "subnet" is missing`);
  if (o.node !== undefined) {
    if (typeof o.node !== "string") throw corrupt(path, `field "node" must be a string`);
    out.node = o.node;
  }
  if (o.backend !== undefined) {
    if (typeof o.backend !== "string") throw corrupt(path, `field "backend" must be a string`);
    out.backend = o.backend;
  }
  if (o.mtu !== undefined) {
    if (typeof o.mtu !== "number" || !Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > 65535) {
      throw corrupt(path, `field "mtu" must be an integer 68-65535, got ${JSON.stringify(o.mtu)}`);
    }
    out.mtu = o.mtu;
  }
  if (o.ipMasq !== undefined) {
    if (typeof o.ipMasq !== "boolean") throw corrupt(path, `field "ipMasq" must be a boolean`);
    out.ipMasq = o.ipMasq;
  }
  return out;
}

/**
 * Parses flannel's `subnet.env` (`FLANNEL_NETWORK`, `FLANNEL_SUBNET` (the gateway address with
 * the subnet's length, e.g. 10.244.1.1/24), `FLANNEL_IPV6_NETWORK`, `FLANNEL_IPV6_SUBNET`,
 * `FLANNEL_MTU`, `FLANNEL_IPMASQ`). Throws CniError 6 naming the bad variable.
 */
export function parseSubnetEnv(text: string, path: string): NodeLeaseInfo {
  const vars = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw corrupt(path, `line ${JSON.stringify(line)} is not KEY=VALUE`);
    vars.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
  }
  const out: NodeLeaseInfo = {};
  const get = (k: string) => vars.get(k) || undefined;
  if (get("FLANNEL_SUBNET")) {
    out.subnet = cidrField(path, "FLANNEL_SUBNET", get("FLANNEL_SUBNET"), 4);
  }
  if (get("FLANNEL_NETWORK")) {
    out.network = cidrField(path, "FLANNEL_NETWORK", get("FLANNEL_NETWORK"), 4);
  }
  if (get("FLANNEL_IPV6_SUBNET")) {
    out.subnet6 = cidrField(path, "FLANNEL_IPV6_SUBNET", get("FLANNEL_IPV6_SUBNET"), 6);
  }
  if (get("FLANNEL_IPV6_NETWORK")) {
    out.network6 = cidrField(path, "FLANNEL_IPV6_NETWORK", get("FLANNEL_IPV6_NETWORK"), 6);
  }
  if (!out.subnet && !out.subnet6) throw corrupt(path, "FLANNEL_SUBNET is missing");
  const mtu = get("FLANNEL_MTU");
  if (mtu !== undefined) {
    const n = Number(mtu);
    if (!/^[0-9]+$/.test(mtu) || n < 68 || n > 65535) {
      throw corrupt(path, `FLANNEL_MTU must be an integer 68-65535, got ${JSON.stringify(mtu)}`);
    }
    out.mtu = n;
  }
  const masq = get("FLANNEL_IPMASQ");
  if (masq !== undefined) {
    if (masq !== "true" && masq !== "false") {
      throw corrupt(path, `FLANNEL_IPMASQ must be true or false, got ${JSON.stringify(masq)}`);
    }
    out.ipMasq = masq === "true";
  }
  return out;
}

/** The largest node lease file read (the daemon writes a few hundred bytes). */
export const MAX_LEASE_FILE_BYTES = 64 * 1024;

function fileKind(info: Deno.FileInfo): string | undefined {
  if (info.isFile) return undefined;
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/** Refuses a lease file that is not a regular file or is too large (CniError 6). */
function checkLeaseFile(path: string, info: Deno.FileInfo): void {
  const kind = fileKind(info);
  if (kind) throw corrupt(path, `it is ${kind}, not a regular file`);
  if (info.size > MAX_LEASE_FILE_BYTES) {
    throw corrupt(path, `it is ${info.size} bytes, more than the ${MAX_LEASE_FILE_BYTES} allowed`);
  }
}

/** Reads at most MAX_LEASE_FILE_BYTES of a regular file (checked again after opening). */
function readBounded(path: string): string {
  // stat first: opening a FIFO would wait for a writer.
  checkLeaseFile(path, Deno.statSync(path));
  using f = Deno.openSync(path, { read: true });
  checkLeaseFile(path, f.statSync());
  const buf = new Uint8Array(MAX_LEASE_FILE_BYTES + 1);
  let n = 0;
  while (n < buf.length) {
    const r = f.readSync(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  if (n > MAX_LEASE_FILE_BYTES) {
    throw corrupt(path, `it grew past the ${MAX_LEASE_FILE_BYTES} bytes allowed while being read`);
  }
  return new TextDecoder().decode(buf.subarray(0, n));
}

/**
 * Reads the node lease file. A missing file means the daemon has not leased a subnet yet:
 * CniError 11 (try again later) so the runtime retries the pod instead of failing it for good.
 * Anything but a regular file of at most 64 KiB (a directory, FIFO, device, a huge file) is
 * refused with CniError 6 without reading it.
 */
export function readLeaseFile(path: string): NodeLeaseInfo {
  let text: string;
  try {
    text = readBounded(path);
  } catch (e) {
    if (e instanceof CniError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new CniError(
        CniCode.TryAgainLater,
        `Node subnet not assigned yet: lease file ${path} does not exist`,
        "`skein daemon` writes it once it has leased this node's pod subnet; is it running?",
      );
    }
    throw new CniError(
      CniCode.IoFailure,
      `Cannot read node lease file ${path}: ${(e as Error).message}`,
      undefined,
      { cause: e },
    );
  }
  return path.endsWith(".env") ? parseSubnetEnv(text, path) : parseLeaseJson(text, path);
}
