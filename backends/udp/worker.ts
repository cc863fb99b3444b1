/**
 * The udp backend's forwarding loop, on its own thread (started by forwarder.ts; not imported by
 * anything else). It blocks in poll() on the TUN fd, the UDP socket and a wake-up eventfd, then
 * moves packets in batches until both are drained: TUN → checks → sendmmsg() to the peer's
 * port, recvmmsg() → checks → TUN. The lease table arrives by postMessage (the daemon writes
 * the eventfd after posting, so the loop yields to its event loop to take it).
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { PacketIo, READY_WAKE } from "../../net/packet_io.ts";
import { DROPPED, RX_BYTES, RX_PACKETS, TX_BYTES, TX_PACKETS } from "./counters.ts";
import {
  checkInbound,
  DROP_REASONS,
  type DropReason,
  type Peer,
  type PeerTable,
  peerTable,
  routeOutbound,
} from "./packet.ts";
import type { ForwarderMessage } from "./forwarder.ts";

const DROP_INDEX = new Map(DROP_REASONS.map((r, i) => [r, DROPPED + i]));
/** Batches per wake-up before poll() is called again (so a wake-up is seen under load). */
const ROUNDS = 64;

let io: PacketIo | undefined;
let counters: Float64Array<ArrayBufferLike> = new Float64Array(0);
let seq: Int32Array<ArrayBufferLike> = new Int32Array(2);
let table: PeerTable = peerTable({ self: "255.255.255.255/32", peers: [] });
let stopping = false;

function drop(r: DropReason, n = 1): void {
  counters[DROP_INDEX.get(r)!]! += n;
}

/** Packets of one GSO send (UDP_SEGMENT): back to back in one tx slot, all but the last full. */
let gsoSize = 0;
let gsoMax = 1;

function tunToUdp(p: PacketIo): number {
  const size = p.slotSize, tx = p.tx;
  let k = 0, got = 0, g = 0, off = 0, count = 0, last = 0;
  let peer: Peer | undefined;
  for (let reads = 0; reads < p.slots * gsoMax; reads++) {
    const n = p.readTunAt(g, off, size - off);
    if (n < 0) break;
    got++;
    const to = routeOutbound(table, tx, g * size + off, n);
    if (typeof to === "string") {
      drop(to);
      continue;
    }
    counters[TX_PACKETS]!++;
    counters[TX_BYTES]! += n;
    if (off > 0 && (to !== peer || last !== gsoSize || count >= gsoMax)) {
      p.queue(k++, g, off, p.addressOf(peer!.ip, peer!.port));
      const from = g * size + off;
      if (++g >= p.slots) {
        flushed(p, k);
        k = 0;
        g = 0;
      }
      tx.copyWithin(g * size, from, from + n);
      off = count = 0;
    }
    peer = to;
    off += n;
    count++;
    last = n;
    if (size - off < gsoSize + 64) { // no room for another packet in this slot
      p.queue(k++, g, off, p.addressOf(peer.ip, peer.port));
      off = count = 0;
      if (++g >= p.slots) break;
    }
  }
  if (off > 0) p.queue(k++, g, off, p.addressOf(peer!.ip, peer!.port));
  if (k) flushed(p, k);
  return got;
}

/** Sends `k` queued datagrams (or GSO groups); a kernel that refuses GSO turns it off. */
function flushed(p: PacketIo, k: number): void {
  const failed = p.flush(k);
  if (!failed) return;
  drop("send-failed", failed);
  if (gsoMax > 1 && (p.lastSendErrno === 5 || p.lastSendErrno === 22)) { // EIO, EINVAL
    p.setGso(0);
    gsoMax = 1;
  }
}

function udpToTun(p: PacketIo): number {
  const m = p.receive();
  const size = p.slotSize;
  for (let i = 0; i < m; i++) {
    const len = p.rxLength(i), src = p.rxSource(i);
    const seg = p.rxSegment(i);
    if (seg <= 0 || seg >= len) {
      deliver(p, i, 0, len, src, size);
      continue;
    }
    for (let off = 0; off < len; off += seg) {
      deliver(p, i, off, Math.min(seg, len - off), src, size);
    }
  }
  return m;
}

/** Checks one received datagram (at `off` in rx slot `i`) and writes it into the TUN device. */
function deliver(p: PacketIo, i: number, off: number, len: number, src: number, size: number) {
  const why = checkInbound(table, src, p.rx, i * size + off, len);
  if (why) drop(why);
  else if (!(off ? p.writeTunAt(i, off, len) : p.writeTun(i, len))) drop("tun-write-failed");
  else {
    counters[RX_PACKETS]!++;
    counters[RX_BYTES]! += len;
  }
}

/** Lets the event loop deliver messages until the last posted table is applied (bounded). */
async function takeMessages(): Promise<void> {
  for (let i = 0; i < 100 && !stopping; i++) {
    await new Promise((r) => setTimeout(r, 0));
    if (Atomics.load(seq, 1) >= Atomics.load(seq, 0)) return;
  }
}

async function loop(p: PacketIo): Promise<void> {
  while (!stopping) {
    const bits = p.wait(1000);
    if (bits === 0 || bits & READY_WAKE) {
      if (bits & READY_WAKE) p.drainWake();
      await takeMessages();
      if (bits === 0) continue;
    }
    for (let r = 0; r < ROUNDS; r++) {
      if (tunToUdp(p) + udpToTun(p) === 0) break;
    }
  }
  self.postMessage({ type: "stopped" });
  self.close();
}

self.onmessage = (e: MessageEvent<ForwarderMessage>) => {
  const m = e.data;
  if (m.type === "init") {
    counters = new Float64Array(m.counters);
    seq = new Int32Array(m.seq);
    io = new PacketIo({ tunFd: m.tunFd, sockFd: m.sockFd, wakeFd: m.wakeFd, slots: m.slots });
    gsoSize = m.mtu;
    if (m.gso && io.setGso(m.mtu)) gsoMax = Math.max(1, Math.min(40, Math.floor(60000 / m.mtu)));
    if (m.gso) io.setGro(true);
    void loop(io);
  } else if (m.type === "table") {
    table = peerTable(m.spec);
    io?.clearAddresses();
    Atomics.store(seq, 1, m.seq);
  } else if (m.type === "stop") {
    stopping = true;
  }
};
