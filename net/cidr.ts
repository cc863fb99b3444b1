/**
 * IPv4/IPv6 address and prefix math. Pure: no I/O. Addresses are handled as bigint so the
 * same code serves both families.
 *
 * @module
 */

/** A parsed IP address. */
export interface Ip {
  family: 4 | 6;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

/** A parsed prefix. `ip` keeps the host bits as written; `network` has them cleared. */
export interface Cidr {
  family: 4 | 6;
  /** The address as written ("10.0.0.5/24" keeps .5). */
  ip: Ip;
  prefix: number;
}

/** Thrown for text that is not an address, prefix or MAC. */
export class AddressParseError extends SyntaxError {
  constructor(input: string, reason: string) {
    super(`Cannot parse address "${input}": ${reason}`);
    this.name = "AddressParseError";
  }
}

/** Bit width of a family. */
export function familyBits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

/** Parses "10.0.0.1" or "fd00::1" (also "::ffff:1.2.3.4"). Throws AddressParseError. */
export function parseIp(text: string): Ip {
  const ip = tryParseIp(text);
  if (!ip) throw new AddressParseError(text, "not an IPv4 or IPv6 address");
  return ip;
}

/** Like parseIp() but returns undefined instead of throwing. */
export function tryParseIp(text: string): Ip | undefined {
  if (typeof text !== "string") return undefined;
  if (text.includes(":")) {
    const v = parseV6(text);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseV4(text);
  return v === undefined ? undefined : { family: 4, value: v };
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(text: string): bigint | undefined {
  if (text.length > 45 || text.includes("%")) return undefined;
  let head = text;
  let v4tail: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    v4tail = parseV4(text.slice(lastColon + 1));
    if (v4tail === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const dbl = head.split("::");
  if (dbl.length > 2) return undefined;
  const groupsOf = (s: string): string[] | undefined => {
    if (s === "") return [];
    const g = s.split(":");
    return g.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x)) ? g : undefined;
  };
  const left = groupsOf(dbl[0] ?? "");
  const right = dbl.length === 2 ? groupsOf(dbl[1] ?? "") : [];
  if (!left || !right) return undefined;
  const missing = 8 - left.length - right.length;
  if (dbl.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...left, ...Array(missing).fill("0"), ...right];
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(parseInt(g, 16));
  if (v4tail !== undefined) v = (v & ~0xffffffffn) | v4tail;
  return v;
}

/** Formats an address: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as "::"). */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) {
    const v = ip.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join(".");
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}

/** Normalises an address string ("010.0.0.1" is rejected, "FD00:0::1" → "fd00::1"). */
export function normalizeIp(text: string): string {
  return formatIp(parseIp(text));
}

/** Parses "10.244.0.0/16" or "fd00::/64". A bare address gets a full-length prefix. */
export function parseCidr(text: string): Cidr {
  const c = tryParseCidr(text);
  if (!c) throw new AddressParseError(text, "not a CIDR prefix like 10.244.0.0/16 or fd00::/64");
  return c;
}

/** Like parseCidr() but returns undefined instead of throwing. */
export function tryParseCidr(text: string): Cidr | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  const ip = tryParseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const bits = familyBits(ip.family);
  if (slash < 0) return { family: ip.family, ip, prefix: bits };
  const p = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > bits) return undefined;
  return { family: ip.family, ip, prefix };
}

/** Formats a prefix keeping the address as given ("10.0.0.5/24"). */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c.ip)}/${c.prefix}`;
}

/** The netmask as an integer. */
export function maskOf(family: 4 | 6, prefix: number): bigint {
  const bits = BigInt(familyBits(family));
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefix))) & all;
}

/** The network address of a prefix (host bits cleared). */
export function networkOf(c: Cidr): Ip {
  return { family: c.family, value: c.ip.value & maskOf(c.family, c.prefix) };
}

/** The last address of a prefix (the broadcast address for IPv4). */
export function lastOf(c: Cidr): Ip {
  return {
    family: c.family,
    value: networkOf(c).value | ~maskOf(c.family, c.prefix) & allOnes(c.family),
  };
}

function allOnes(family: 4 | 6): bigint {
  return (1n << BigInt(familyBits(family))) - 1n;
}

/** The canonical form of a prefix ("10.0.0.5/24" → "10.0.0.0/24"). */
export function canonicalCidr(text: string): string {
  const c = parseCidr(text);
  return `${formatIp(networkOf(c))}/${c.prefix}`;
}

/** Number of addresses in a prefix. */
export function sizeOf(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.prefix);
}

/** True when `ip` lies inside `c`. Different families never match. */
export function contains(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && (ip.value & maskOf(c.family, c.prefix)) === networkOf(c).value;
}

/** True when two prefixes share any address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(a.family, p);
  return (a.ip.value & m) === (b.ip.value & m);
}

/** `base + n` (n may be negative); throws RangeError when it leaves the family's space. */
export function addToIp(ip: Ip, n: bigint | number): Ip {
  const v = ip.value + BigInt(n);
  if (v < 0n || v > allOnes(ip.family)) {
    throw new RangeError(`Address ${formatIp(ip)} + ${n} is out of range`);
  }
  return { family: ip.family, value: v };
}

/** The n-th address of a prefix counting from its network address ("10.244.1.0/24", 1 → 10.244.1.1). */
export function nthIp(c: Cidr, n: bigint | number): Ip {
  const i = BigInt(n);
  if (i < 0n || i >= sizeOf(c)) throw new RangeError(`Index ${n} is outside ${formatCidr(c)}`);
  return { family: c.family, value: networkOf(c).value + i };
}

/** Compares two addresses (family first, then value): negative, zero or positive. */
export function compareIp(a: Ip, b: Ip): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/**
 * True when two address strings name the same address ("fd00::1" and "FD00:0::1"); false when
 * either is missing or not an address (identical text is equal without parsing).
 */
export function sameIp(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === b) return true;
  const x = tryParseIp(a), y = tryParseIp(b);
  return x !== undefined && y !== undefined && compareIp(x, y) === 0;
}

/** Splits `c` into its subnets of length `len` (lazily, in address order). */
export function* subnetsOf(c: Cidr, len: number): Generator<Cidr> {
  if (len < c.prefix || len > familyBits(c.family)) {
    throw new RangeError(`Cannot split ${formatCidr(c)} into /${len} subnets`);
  }
  const step = 1n << BigInt(familyBits(c.family) - len);
  const count = 1n << BigInt(len - c.prefix);
  const base = networkOf(c).value;
  for (let i = 0n; i < count; i++) {
    yield { family: c.family, ip: { family: c.family, value: base + i * step }, prefix: len };
  }
}

/** Address as bytes in network order (4 or 16 bytes). */
export function ipToBytes(ip: Ip): Uint8Array {
  const n = ip.family === 4 ? 4 : 16;
  const out = new Uint8Array(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 255n);
    v >>= 8n;
  }
  return out;
}

/** Address from network-order bytes (4 or 16). */
export function ipFromBytes(b: Uint8Array): Ip {
  if (b.length !== 4 && b.length !== 16) {
    throw new AddressParseError(`<${b.length} bytes>`, "an address is 4 or 16 bytes");
  }
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return { family: b.length === 4 ? 4 : 6, value: v };
}

/** Parses "aa:bb:cc:dd:ee:ff" (case-insensitive, also "-" separated) into 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = typeof text === "string" ? text.split(/[:-]/) : [];
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new AddressParseError(String(text), "not a MAC address like 0a:58:0a:f4:01:01");
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** Formats bytes as a lower-case colon-separated hardware address. */
export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}
