/**
 * Test fixture for the packet checks (packet.ts, unknown_senders.ts): a valid IPv4 header (UDP
 * protocol number, TTL 64) with a zero payload, its header checksum computed here. Tests only.
 *
 * @module
 */
import { ipv4ToU32 } from "./packet.ts";

/** A valid IPv4 header (+ `payload` zero bytes) from `src` to `dst`, checksum filled. */
export function ipv4Packet(src: string, dst: string, payload = 8): Uint8Array {
  const b = new Uint8Array(20 + payload);
  const v = new DataView(b.buffer);
  b[0] = 0x45;
  v.setUint16(2, b.length);
  b[8] = 64;
  b[9] = 17;
  v.setUint32(12, ipv4ToU32(src)!);
  v.setUint32(16, ipv4ToU32(dst)!);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += v.getUint16(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(10, ~sum & 0xffff);
  return b;
}
