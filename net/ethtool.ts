/**
 * Reading a device's offload settings the way `ethtool -k DEV` does: the SIOCETHTOOL ioctl on a
 * datagram socket opened inside the device's namespace (synchronous calls only: setns is per
 * thread). Read-only.
 *
 * @module
 */
import { NetlinkError } from "./errors.ts";
import * as L from "./libc.ts";
import { checkIfname } from "./nl/ifname.ts";
import { withNetns } from "./netns.ts";
import type { NetnsRef } from "./types.ts";

const SIOCETHTOOL = 0x8946;
/** ETHTOOL_GTXCSUM: get TX checksum offload (struct ethtool_value). */
const ETHTOOL_GTXCSUM = 0x16;
/** sizeof(struct ifreq) on 64-bit Linux. */
const IFREQ_SIZE = 40;

function getValue(dev: string, cmd: number): number {
  checkIfname(dev);
  const fd = L.libc().socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new NetlinkError(`Cannot open a socket to ask ${dev}'s offloads`, L.errno());
  try {
    const value = new Uint8Array(8); // struct ethtool_value { u32 cmd; u32 data; }
    new DataView(value.buffer).setUint32(0, cmd, true);
    const ifr = new Uint8Array(IFREQ_SIZE);
    ifr.set(new TextEncoder().encode(dev));
    const ptr = Deno.UnsafePointer.value(Deno.UnsafePointer.of(value));
    new DataView(ifr.buffer).setBigUint64(16, BigInt(ptr), true); // ifr_data
    if (L.libcIoctl().ioctl(fd, BigInt(SIOCETHTOOL), ifr) !== 0) {
      throw new NetlinkError(`Cannot read the offload settings of ${dev} (ethtool -k)`, L.errno());
    }
    return new DataView(value.buffer).getUint32(4, true);
  } finally {
    L.libc().close(fd);
  }
}

/**
 * `ethtool -k DEV | grep tx-checksumming`: true when TX checksum offload is on. Throws
 * NetlinkError (ENODEV, EOPNOTSUPP, ...) when it cannot be read.
 */
export function txChecksumOffload(dev: string, opts: { netns?: NetnsRef } = {}): boolean {
  const read = () => getValue(dev, ETHTOOL_GTXCSUM) !== 0;
  return opts.netns === undefined ? read() : withNetns(opts.netns, read);
}
