/**
 * Who sent the datagrams the udp forwarding worker refused as `unknown-source`: the last few
 * distinct senders (address and port), the inner packet's addresses when it is a sane IPv4
 * packet, how many datagrams each sent and when the last came. A node whose packets arrive from
 * another address than its lease's publicIP (a changed address, NAT, the wrong interface picked)
 * shows up here with its own pod address as the inner source.
 *
 * A fixed table in a SharedArrayBuffer, shared like the counters (counters.ts): the worker is the
 * only writer and writes only when it drops an unknown-source datagram (nothing is added to the
 * path of accepted packets); the daemon reads it at any time for `/debug/state`. A seqlock per slot
 * (a version the writer makes odd while it writes the slot) lets the reader see whole entries.
 *
 * Bounded under a flood of spoofed sources: half the slots are for senders whose inner source lies
 * in a known node's subnet (the ones diagnose can name), half for the rest, so a flood of random
 * packets cannot push a node's entry out. Within its half, a new sender takes an empty slot, else
 * the slot of a sender not seen for STALE_MS, else that of the sender with the fewest datagrams
 * (the oldest of those): a steady sender keeps its slot while one-off sources replace each other.
 * Replaced senders are counted.
 *
 * @module
 */
import type { Ip } from "../../net/cidr.ts";
import { ipv4Problem } from "./packet.ts";

/** Senders the table keeps (half for node-like inner sources, half for the rest). */
export const SENDER_SLOTS = 8;
const HALF = SENDER_SLOTS / 2;
/** A sender not seen for this long gives its slot up first. */
export const STALE_MS = 60_000;

/** Fields of one slot, in order (all float64). */
const SOURCE = 0, PORT = 1, INNER_SRC = 2, INNER_DST = 3, COUNT = 4, LAST = 5, FIELDS = 6;
/** The float64 before the slots: how many senders were replaced. */
const REPLACED = 0, HEADER = 1;
/** Bytes before the float64 region: one seqlock int32 per slot (padded to 8). */
const SEQ_BYTES = Math.ceil(SENDER_SLOTS / 2) * 8;
/** Reads of a slot the reader tries before it leaves the slot out (the writer kept changing it). */
const READ_TRIES = 10_000;

/** Bytes of the shared buffer a table needs. */
export const SENDERS_BYTES = SEQ_BYTES + (HEADER + SENDER_SLOTS * FIELDS) * 8;

/** One sender the worker refused, as the daemon reads it (typed addresses). */
export interface UnknownSender {
  /** The datagram's source address. */
  source: Ip;
  /** The datagram's source port. */
  port: number;
  /** The inner packet's source and destination, when the last one was a sane IPv4 packet. */
  inner?: { source: Ip; destination: Ip };
  /** Datagrams refused from this sender since it took its slot. */
  count: number;
  /** When the last one came. */
  lastSeen: Date;
}

/** What readUnknownSenders() returns. */
export interface UnknownSenders {
  /** The senders kept, the most recently seen first. */
  senders: UnknownSender[];
  /** Senders that lost their slot to a newer one (a flood of sources shows here). */
  replaced: number;
}

function u32At(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** The worker's side: records refused senders into `buffer` (SENDERS_BYTES long). */
export class SenderTable {
  #seq: Int32Array<ArrayBufferLike>;
  #v: Float64Array<ArrayBufferLike>;
  #isNode: (ip: number) => boolean;

  /**
   * `isNode(ip)` (u32, host order) says whether an inner source lies in a known node's subnet
   * (it picks the half of the table a new sender goes to).
   */
  constructor(buffer: ArrayBufferLike, isNode: (ip: number) => boolean) {
    this.#seq = new Int32Array(buffer, 0, SENDER_SLOTS);
    this.#v = new Float64Array(buffer, SEQ_BYTES, HEADER + SENDER_SLOTS * FIELDS);
    this.#isNode = isNode;
  }

  /**
   * Counts one datagram from `source` (u32, host order) and `port` carrying `b[off, off+len)`,
   * at `now` (ms since the epoch). Looks at no more than the table's slots and the inner header.
   */
  record(source: number, port: number, b: Uint8Array, off: number, len: number, now: number) {
    const v = this.#v;
    const sane = ipv4Problem(b, off, len) === undefined;
    let at = -1;
    for (let i = 0; i < SENDER_SLOTS && at < 0; i++) {
      const s = HEADER + i * FIELDS;
      if (v[s + COUNT] !== 0 && v[s + SOURCE] === source && v[s + PORT] === port) at = s;
    }
    const isNew = at < 0;
    if (isNew) at = this.#victim(now, sane && this.#isNode(u32At(b, off + 12)) ? 0 : HALF);
    const slot = (at - HEADER) / FIELDS;
    Atomics.add(this.#seq, slot, 1); // odd: writing
    if (isNew) {
      if (v[at + COUNT] !== 0) v[REPLACED]!++;
      v[at + SOURCE] = source;
      v[at + PORT] = port;
      v[at + COUNT] = 0;
    }
    v[at + COUNT]!++;
    v[at + LAST] = now;
    v[at + INNER_SRC] = sane ? u32At(b, off + 12) : -1;
    v[at + INNER_DST] = sane ? u32At(b, off + 16) : -1;
    Atomics.add(this.#seq, slot, 1); // even: done
  }

  /** The slot a new sender takes in the half starting at slot `first` (see the module doc). */
  #victim(now: number, first: number): number {
    const v = this.#v;
    let best = HEADER + first * FIELDS, bestStale = false;
    for (let i = first; i < first + HALF; i++) {
      const s = HEADER + i * FIELDS;
      if (v[s + COUNT] === 0) return s;
      const stale = now - v[s + LAST]! > STALE_MS;
      if (i === first) {
        bestStale = stale;
        continue;
      }
      const older = v[s + LAST]! < v[best + LAST]!;
      const better = stale
        ? !bestStale || older
        : !bestStale && (v[s + COUNT]! < v[best + COUNT]! ||
          (v[s + COUNT] === v[best + COUNT] && older));
      if (better) {
        best = s;
        bestStale = stale;
      }
    }
    return best;
  }
}

const ip4 = (v: number): Ip => ({ family: 4, value: BigInt(v) });

/** A whole copy of slot `i` (its seqlock even and unchanged around the copy), or undefined. */
function readSlot(seq: Int32Array, v: Float64Array, i: number): Float64Array | undefined {
  const s = HEADER + i * FIELDS;
  for (let tries = 0; tries < READ_TRIES; tries++) {
    const before = Atomics.load(seq, i);
    if (before & 1) continue;
    const copy = v.slice(s, s + FIELDS);
    if (Atomics.load(seq, i) === before) return copy;
  }
  return undefined;
}

/**
 * The daemon's side: the senders in `buffer`, each entry whole (the worker may be writing; a
 * slot it kept changing through every try is left out).
 */
export function readUnknownSenders(buffer: ArrayBufferLike): UnknownSenders {
  const seq = new Int32Array(buffer, 0, SENDER_SLOTS);
  const v = new Float64Array(buffer, SEQ_BYTES, HEADER + SENDER_SLOTS * FIELDS);
  const senders: UnknownSender[] = [];
  for (let i = 0; i < SENDER_SLOTS; i++) {
    const c = readSlot(seq, v, i);
    if (!c?.[COUNT]) continue;
    const u: UnknownSender = {
      source: ip4(c[SOURCE]!),
      port: c[PORT]!,
      count: c[COUNT]!,
      lastSeen: new Date(c[LAST]!),
    };
    if (c[INNER_SRC]! >= 0) {
      u.inner = { source: ip4(c[INNER_SRC]!), destination: ip4(c[INNER_DST]!) };
    }
    senders.push(u);
  }
  senders.sort((a, b) => b.lastSeen.getTime() - a.lastSeen.getTime());
  return { senders, replaced: v[REPLACED] ?? 0 };
}
