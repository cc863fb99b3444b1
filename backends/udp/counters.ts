/**
 * The udp forwarding worker's counters, shared with the daemon through a SharedArrayBuffer: the
 * worker is the only writer, the daemon reads them at any time (`/metrics`, `/debug/state`).
 *
 * @module
 */
import { DROP_REASONS, type DropReason } from "./packet.ts";

/** Packets and bytes sent to peers (TUN → UDP). */
export const TX_PACKETS = 0;
/** Bytes of TX_PACKETS. */
export const TX_BYTES = 1;
/** Packets received from peers and written into the TUN device (UDP → TUN). */
export const RX_PACKETS = 2;
/** Bytes of RX_PACKETS. */
export const RX_BYTES = 3;
/** TCP super-packets read from the TUN device and cut into packets (offload). */
export const SEGMENTED = 4;
/** Super-packets merged from received TCP segments and written into the TUN device (offload). */
export const MERGED = 5;
/** First drop counter; one per DROP_REASONS entry, in order. */
export const DROPPED = 6;
/** Slots in the counter array. */
export const COUNTER_SLOTS = DROPPED + DROP_REASONS.length;

/** What the worker has counted so far. */
export interface UdpCounters {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** TCP super-packets read from the TUN device and cut (SEGMENTED). */
  segmented: number;
  /** Super-packets merged from received segments (MERGED). */
  merged: number;
  /** Drops by reason (every reason present, zeros included). */
  dropped: Record<DropReason, number>;
}

/** The counters of `c` (a Float64Array over the shared buffer), as a plain object. */
export function readCounters(c: Float64Array): UdpCounters {
  const dropped = {} as Record<DropReason, number>;
  DROP_REASONS.forEach((r, i) => dropped[r] = c[DROPPED + i] ?? 0);
  return {
    txPackets: c[TX_PACKETS] ?? 0,
    txBytes: c[TX_BYTES] ?? 0,
    rxPackets: c[RX_PACKETS] ?? 0,
    rxBytes: c[RX_BYTES] ?? 0,
    segmented: c[SEGMENTED] ?? 0,
    merged: c[MERGED] ?? 0,
    dropped,
  };
}
