/**
 * The VXLAN device's MAC (the "VTEP MAC" other nodes put in their FDB and neighbour tables). It
 * must stay the same across daemon restarts, or every peer holds a wrong entry until it
 * reconciles. Source, in order: the file in stateDir, the existing device's MAC, a MAC derived
 * from the node name, public IP and VNI (stable without any state). It is written back to
 * stateDir when that is set.
 *
 * @module
 */
import { formatMac, parseMac } from "../net/cidr.ts";
import { atomicWriteFile } from "../node/atomic_write.ts";
import { readBoundedText } from "../node/bounded_read.ts";

/** Path of the persisted MAC for a device: `<stateDir>/<device>.mac`. */
export function vtepMacPath(stateDir: string, device: string): string {
  return `${stateDir.replace(/\/+$/, "")}/${device}.mac`;
}

/**
 * A locally administered unicast MAC derived from `seed` with FNV-1a (64 bit); the same seed
 * always gives the same MAC.
 */
export function derivedMac(seed: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(seed)) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = Number((h >> BigInt(8 * i)) & 0xffn);
  out[0] = (out[0]! & 0xfc) | 0x02; // locally administered, unicast
  return formatMac(out);
}

/** Reads a persisted MAC; undefined when the file is missing or does not hold a MAC. */
export function readVtepMac(path: string): string | undefined {
  let text: string;
  try {
    // A directory, FIFO, device, an unreadable or a huge file is as good as none: derive a MAC.
    text = readBoundedText(path, 4096);
  } catch {
    return undefined;
  }
  try {
    const mac = parseMac(text.trim());
    if (mac[0]! & 1) return undefined; // multicast: not usable as a device address
    if (mac.every((b) => b === 0)) return undefined; // the kernel refuses an all-zero address
    return formatMac(mac);
  } catch {
    return undefined;
  }
}

/** Writes the MAC atomically (temp file + rename), creating stateDir if needed. */
export function writeVtepMac(path: string, mac: string): void {
  atomicWriteFile(path, mac + "\n", { mkdir: true });
}

/**
 * Picks the VTEP MAC (see the module doc) and persists it to stateDir when given and different.
 * Never throws for the write: a state directory that cannot take it (full, read-only) leaves the
 * MAC unpersisted, not the daemon stopped.
 */
export function resolveVtepMac(opts: {
  stateDir?: string;
  device: string;
  existing?: string;
  seed: string;
}): string {
  const path = opts.stateDir ? vtepMacPath(opts.stateDir, opts.device) : undefined;
  const stored = path ? readVtepMac(path) : undefined;
  let existing: string | undefined;
  if (opts.existing) {
    try {
      const m = parseMac(opts.existing);
      if (!(m[0]! & 1) && m.some((b) => b !== 0)) existing = formatMac(m);
    } catch {
      existing = undefined;
    }
  }
  const mac = stored ?? existing ?? derivedMac(opts.seed);
  if (path && stored !== mac) {
    try {
      writeVtepMac(path, mac);
    } catch {
      // A full or read-only state directory must not stop the node: the MAC is the device's or
      // the derived one either way (both stable), and the next start writes it again.
    }
  }
  return mac;
}
