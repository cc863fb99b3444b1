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

function tunToUdp(p: PacketIo): number {
  let k = 0, got = 0;
  const size = p.slotSize;
  for (let slot = 0; slot < p.slots; slot++) {
    const n = p.readTun(slot);
    if (n < 0) break;
    got++;
    const to = routeOutbound(table, p.tx, slot * size, n);
    if (typeof to === "string") {
      drop(to);
      continue;
    }
    p.queue(k++, slot, n, p.addressOf(to.ip, to.port));
    counters[TX_PACKETS]!++;
    counters[TX_BYTES]! += n;
  }
  if (k) {
    const failed = p.flush(k);
    if (failed) {
      drop("send-failed", failed);
      counters[TX_PACKETS]! -= failed;
    }
  }
  return got;
}

function udpToTun(p: PacketIo): number {
  const m = p.receive();
  const size = p.slotSize;
  for (let i = 0; i < m; i++) {
    const len = p.rxLength(i);
    const why = checkInbound(table, p.rxSource(i), p.rx, i * size, len);
    if (why) drop(why);
    else if (!p.writeTun(i, len)) drop("tun-write-failed");
    else {
      counters[RX_PACKETS]!++;
      counters[RX_BYTES]! += len;
    }
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
    void loop(io);
  } else if (m.type === "table") {
    table = peerTable(m.spec);
    io?.clearAddresses();
    Atomics.store(seq, 1, m.seq);
  } else if (m.type === "stop") {
    stopping = true;
  }
};
