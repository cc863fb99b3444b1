/**
 * The udp backend's forwarding loop, on its own thread (started by forwarder.ts; not imported by
 * anything else). It blocks in poll() on the TUN fd, the UDP socket and a wake-up eventfd, then
 * moves packets in batches until both are drained: TUN → checks → sendmmsg() to the peer's
 * port, recvmmsg() → checks → TUN. The lease table arrives by postMessage (the daemon writes
 * the eventfd after posting, so the loop yields to its event loop to take it).
 *
 * With offload (the TUN device opened with IFF_VNET_HDR and TSO, net/tun.ts), one read may
 * return a TCP super-packet: it is cut into MTU-sized packets in place (segment.ts) and sent as
 * UDP GSO runs (one datagram per inner packet on the wire, as flannel's format wants). Received
 * runs (UDP GRO) are checked packet by packet and consecutive segments of one TCP flow are
 * merged into one super-packet for one TUN write (coalesce.ts).
 *
 * A datagram from an address no lease holds is dropped as `unknown-source` and its sender noted
 * in a small shared table (unknown_senders.ts) the daemon shows in `/debug/state`.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { PacketIo, READY_SOCK, READY_TUN, READY_WAKE } from "../../net/packet_io.ts";
import { checksumArena } from "./checksum.ts";
import { Coalescer } from "./coalesce.ts";
import {
  DROPPED,
  MERGED,
  RX_BYTES,
  RX_PACKETS,
  SEGMENTED,
  TX_BYTES,
  TX_PACKETS,
} from "./counters.ts";
import {
  checkInbound,
  DROP_REASONS,
  type DropReason,
  lookupPeer,
  type Peer,
  type PeerTable,
  peerTable,
  routeOutbound,
} from "./packet.ts";
import { SENDERS_BYTES, SenderTable } from "./unknown_senders.ts";
import {
  completeChecksum,
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  readVnetHdr,
  segmentedLength,
  segmentTcp4,
  VNET_F_NEEDS_CSUM,
  type VnetHdr,
} from "./segment.ts";
import type { ForwarderMessage } from "./forwarder.ts";

const DROP_INDEX = new Map(DROP_REASONS.map((r, i) => [r, DROPPED + i]));
/** Batches per wake-up before poll() is called again (so a wake-up is seen under load). */
const ROUNDS = 64;
/** Datagrams per UDP GSO send at most (the kernel's UDP_MAX_SEGMENTS is 64 or more). */
const MAX_SEGMENTS = 64;
/** Bytes per UDP GSO send at most (a UDP datagram's payload limit is 65507). */
const MAX_GSO_BYTES = 65000;
/** Largest TUN read. */
const MAX_READ = 65535;

let io: PacketIo | undefined;
let counters: Float64Array<ArrayBufferLike> = new Float64Array(0);
let seq: Int32Array<ArrayBufferLike> = new Int32Array(2);
let table: PeerTable = peerTable({ self: "255.255.255.255/32", peers: [] });
/** Who sent the unknown-source datagrams (written only when one is dropped). */
let senders = new SenderTable(new ArrayBuffer(SENDERS_BYTES), () => false);
let stopping = false;
/** TUN reads and writes carry a virtio_net_hdr (offload on). */
let offload = false;
/** Send runs with UDP GSO (off for good once the kernel refuses it). */
let gso = true;
/** Write merged TCP super-packets into the TUN device (off for good once it refuses one). */
let merge = true;
const vnet: VnetHdr = { flags: 0, gsoType: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };

function drop(r: DropReason, n = 1): void {
  counters[DROP_INDEX.get(r)!]! += n;
}

// ---- TUN → UDP: packets land back to back in the tx arena; queued entries point into it.

/** Entries queued for the next sendmmsg(). */
let queued = 0;
/** Where the next TUN read lands in the tx arena. */
let cursor = 0;
/** The open run of plain packets to one peer (one GSO entry): start, bytes, count, sizes. */
let runStart = -1, runLen = 0, runCount = 0, runSeg = 0, runLast = 0;
let runPeer: Peer | undefined;

function closeRun(p: PacketIo): void {
  if (runStart < 0) return;
  p.queue(queued++, runStart, runLen, p.addressOf(runPeer!.ip, runPeer!.port), runSeg);
  runStart = -1;
}

/** Sends what is queued (the open run included); the arena's contents may then be reused. */
function sendQueued(p: PacketIo): void {
  closeRun(p);
  if (queued === 0) return;
  const failed = p.flush(queued);
  queued = 0;
  if (!failed) return;
  drop("send-failed", failed);
  if (gso && (p.lastSendErrno === 5 || p.lastSendErrno === 22)) gso = false; // EIO, EINVAL
}

/**
 * Adds the packet at `at` (`n` bytes, to `to`) to the open run when it continues it (same peer,
 * right after it, every earlier packet the run's size and this one no larger: one UDP GSO send),
 * else closes the run and starts a new one with it.
 */
function addToRun(p: PacketIo, at: number, n: number, to: Peer): void {
  if (
    gso && runStart >= 0 && to === runPeer && runLast === runSeg && n <= runSeg &&
    runCount < MAX_SEGMENTS && runLen + n <= MAX_GSO_BYTES && runStart + runLen === at
  ) {
    runLen += n;
    runCount++;
    runLast = n;
    return;
  }
  closeRun(p);
  if (queued >= p.slots) sendQueued(p);
  runStart = at;
  runLen = runSeg = runLast = n;
  runCount = 1;
  runPeer = to;
}

/** A plain packet at `cursor`: routed, then added to the open run or starting a new one. */
function plainPacket(p: PacketIo, n: number): void {
  const to = routeOutbound(table, p.tx, cursor, n);
  if (typeof to === "string") return drop(to);
  counters[TX_PACKETS]!++;
  counters[TX_BYTES]! += n;
  addToRun(p, cursor, n, to);
  cursor += n;
}

/**
 * A TCP super-packet at `cursor`: cut into segments in place, each added to the runs like a plain
 * packet, so full-size segments of consecutive super-packets share GSO sends (TCP mostly sends
 * multiples of its MSS): about 1.5 sends per 64 KiB instead of 2 (44 + 2 segments).
 */
function superPacket(p: PacketIo, n: number): void {
  if ((vnet.gsoType & ~GSO_ECN) !== GSO_TCPV4) return drop("bad-offload");
  const to = routeOutbound(table, p.tx, cursor, n);
  if (typeof to === "string") return drop(to);
  const out = segmentedLength(p.tx, cursor, n, vnet.gsoSize);
  if (out < 0 || out > p.tx.length) return drop("bad-offload");
  if (cursor + out > p.tx.length) {
    sendQueued(p);
    p.tx.copyWithin(0, cursor, cursor + n);
    cursor = 0;
  }
  segmentTcp4(p.tx, cursor, n, vnet.gsoSize);
  const seg = (p.tx[cursor + 2]! << 8) | p.tx[cursor + 3]!; // the first segment's length
  for (let at = 0; at < out; at += seg) addToRun(p, cursor + at, Math.min(seg, out - at), to);
  counters[SEGMENTED]!++;
  counters[TX_PACKETS]! += Math.ceil(out / seg);
  counters[TX_BYTES]! += out;
  cursor += out;
}

function tunToUdp(p: PacketIo): number {
  let got = 0;
  for (; got < p.slots; got++) {
    if (queued + 4 > p.slots || cursor + MAX_READ > p.tx.length) {
      sendQueued(p);
      cursor = 0;
    }
    const n = p.readTunAt(cursor, MAX_READ);
    if (n < 0) break;
    if (!offload) {
      plainPacket(p, n);
      continue;
    }
    readVnetHdr(p.vnetHdr, 0, vnet);
    if (vnet.gsoType !== GSO_NONE) superPacket(p, n);
    else if (
      (vnet.flags & VNET_F_NEEDS_CSUM) &&
      !completeChecksum(p.tx, cursor, n, vnet.csumStart, vnet.csumOffset)
    ) drop("bad-offload");
    else plainPacket(p, n);
  }
  sendQueued(p);
  cursor = 0;
  return got;
}

// ---- UDP → TUN: each received buffer's packets checked, TCP runs merged (coalesce.ts).

/** Sender address and receive slot of the buffer being handled. */
let rxSource = 0, rxSlot = 0;
/** The time of this receive batch (ms), read at its first unknown sender (0: not yet). */
let rxNow = 0;

const coalescer = new Coalescer(
  (off, len) => {
    const why = checkInbound(table, rxSource, io!.rx, off, len);
    if (why === undefined) return true;
    drop(why);
    if (why === "unknown-source") {
      const port = io!.rxSourcePort(rxSlot);
      senders.record(rxSource, port, io!.rx, off, len, rxNow ||= Date.now());
    }
    return false;
  },
  {
    plain(off, len) {
      if (!io!.writeTunAt(off, len)) return drop("tun-write-failed");
      counters[RX_PACKETS]!++;
      counters[RX_BYTES]! += len;
    },
    merged(off, len, hdrLen, gsoSize, count) {
      if (!io!.writeTunGso(off, len, hdrLen, 20, gsoSize)) {
        if (io!.errno() === 22) merge = false; // EINVAL: this kernel takes no GSO writes
        return drop("tun-write-failed", count);
      }
      counters[MERGED]!++;
      counters[RX_PACKETS]! += count;
      counters[RX_BYTES]! += len + (count - 1) * hdrLen;
    },
  },
);

function udpToTun(p: PacketIo): number {
  const m = p.receive();
  rxNow = 0;
  for (let i = 0; i < m; i++) {
    rxSource = p.rxSource(i);
    rxSlot = i;
    coalescer.run(p.rx, i * p.slotSize, p.rxLength(i), p.rxSegment(i), offload && merge);
  }
  return m;
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
    // Only the side poll() saw ready; a side that filled a whole batch may have more, and then
    // both sides are looked at each round until both are drained (a short batch means empty).
    let tun = (bits & READY_TUN) !== 0, sock = (bits & READY_SOCK) !== 0;
    for (let r = 0; r < ROUNDS && (tun || sock); r++) {
      const busyTx = tun && tunToUdp(p) >= p.slots;
      const busyRx = sock && udpToTun(p) >= p.slots;
      tun = sock = busyTx || busyRx;
    }
  }
  self.postMessage({ type: "stopped" });
  self.close();
}

self.onmessage = (e: MessageEvent<ForwarderMessage>) => {
  const m = e.data;
  if (m.type === "init") {
    counters = new Float64Array(m.counters);
    senders = new SenderTable(m.senders, (ip) => lookupPeer(table, ip) !== undefined);
    seq = new Int32Array(m.seq);
    offload = m.offload;
    gso = m.gso;
    const slotSize = 65536, txBytes = m.slots * slotSize;
    io = new PacketIo({
      tunFd: m.tunFd,
      sockFd: m.sockFd,
      wakeFd: m.wakeFd,
      slots: m.slots,
      slotSize,
      txBytes,
      vnetHdr: m.offload,
      storage: checksumArena(txBytes + m.slots * slotSize), // sum16() over it runs in WebAssembly
    });
    if (m.gso) io.setGro(true);
    void loop(io);
  } else if (m.type === "table") {
    table = peerTable(m.spec);
    io?.clearAddresses();
    Atomics.store(seq, 1, m.seq);
  } else if (m.type === "tun") {
    io?.setTunFd(m.tunFd);
    Atomics.store(seq, 1, m.seq);
  } else if (m.type === "stop") {
    stopping = true;
  }
};
