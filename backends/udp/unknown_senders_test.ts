import { assert, assertEquals } from "../../testing/assert.ts";
import { ipv4Packet } from "./_ip_fixture.ts";
import { formatIp } from "../../net/cidr.ts";
import { ipv4ToU32 } from "./packet.ts";
import {
  readUnknownSenders,
  SENDER_SLOTS,
  SENDERS_BYTES,
  SenderTable,
  STALE_MS,
  type UnknownSenders,
} from "./unknown_senders.ts";

/** Node subnets: 10.244.0.0/16. */
const isNode = (ip: number) => ip >>> 16 === 0x0af4;

function table() {
  const buf = new SharedArrayBuffer(SENDERS_BYTES);
  return { t: new SenderTable(buf, isNode), read: () => readUnknownSenders(buf) };
}

/** The senders as "ip:port inner-src>inner-dst xcount" lines. */
function lines(u: UnknownSenders): string[] {
  return u.senders.map((s) =>
    `${formatIp(s.source)}:${s.port} ${
      s.inner ? `${formatIp(s.inner.source)}>${formatIp(s.inner.destination)}` : "-"
    } x${s.count}`
  );
}

const B = ipv4ToU32("192.168.77.98")!;
const PKT = ipv4Packet("10.244.2.2", "10.244.1.2");
const T0 = Date.UTC(2026, 0, 1);
const JUNK = new Uint8Array(36).fill(0xde);
/** Sane, but from no node's subnet. */
const OTHER = ipv4Packet("10.99.0.1", "10.244.1.2");

Deno.test("SenderTable: a sender is kept with its inner addresses, count and last time", () => {
  const { t, read } = table();
  assertEquals(read(), { senders: [], replaced: 0 });
  t.record(B, 8285, PKT, 0, PKT.length, T0);
  t.record(B, 8285, PKT, 0, PKT.length, T0 + 5);
  const u = read();
  assertEquals(lines(u), ["192.168.77.98:8285 10.244.2.2>10.244.1.2 x2"]);
  assertEquals(u.senders[0]!.source, { family: 4, value: BigInt(B) });
  assertEquals(u.senders[0]!.lastSeen, new Date(T0 + 5));
  assertEquals(u.replaced, 0);
});

Deno.test("SenderTable: another port is another sender; a payload that is not IPv4 has no inner", () => {
  const { t, read } = table();
  t.record(B, 8285, PKT, 0, PKT.length, T0);
  t.record(B, 40000, JUNK, 0, JUNK.length, T0 + 1);
  const bad = PKT.slice();
  bad[10]! ^= 1; // header checksum broken: not a sane header, no inner addresses
  t.record(B + 1, 8285, bad, 0, bad.length, T0 + 2);
  t.record(B + 2, 8285, PKT, 0, 10, T0 + 3); // truncated
  assertEquals(lines(read()), [
    "192.168.77.100:8285 - x1",
    "192.168.77.99:8285 - x1",
    "192.168.77.98:40000 - x1",
    "192.168.77.98:8285 10.244.2.2>10.244.1.2 x1",
  ]);
});

Deno.test("SenderTable: half the slots for node-like inner sources, half for the rest; replaced counted", () => {
  const { t, read } = table();
  const half = SENDER_SLOTS / 2;
  for (let i = 0; i < half + 5; i++) t.record(B + i, 8285, PKT, 0, PKT.length, T0 + i);
  let u = read();
  assertEquals(u.senders.length, half);
  assertEquals(u.replaced, 5);
  // All had one datagram: the oldest went first, the newest are kept.
  assertEquals(u.senders.at(-1)!.source.value, BigInt(B + 5));
  assertEquals(u.senders[0]!.source.value, BigInt(B + half + 4));
  for (let i = 0; i < half + 2; i++) t.record(B + 100 + i, 1, OTHER, 0, OTHER.length, T0 + 20 + i);
  u = read();
  assertEquals(u.senders.length, SENDER_SLOTS);
  assertEquals(u.replaced, 7);
  assertEquals(u.senders.filter((s) => s.inner?.source.value === BigInt(0x0af40202)).length, half);
});

Deno.test("SenderTable: a steady sender keeps its slot under a flood of spoofed sources", () => {
  const { t, read } = table();
  const flood = 100_000;
  let now = T0;
  for (let i = 0; i < flood; i++) {
    if (i % 1000 === 0) t.record(B, 8285, PKT, 0, PKT.length, now); // the misconfigured node
    // a different random source and port every datagram: random bytes or a packet from no node
    const p = i % 2 ? OTHER : JUNK;
    t.record((Math.random() * 2 ** 32) >>> 0, i & 0xffff, p, 0, p.length, now++);
  }
  const u = read();
  assertEquals(u.senders.length, SENDER_SLOTS / 2 + 1);
  const steady = u.senders.find((s) => s.source.value === BigInt(B));
  assert(steady, lines(u).join("\n"));
  assertEquals(steady.count, flood / 1000);
  assertEquals(u.replaced, flood - SENDER_SLOTS / 2);
});

Deno.test("SenderTable: a flood of node-like packets from random sources stays bounded", () => {
  const { t, read } = table();
  t.record(B + 1, 1, OTHER, 0, OTHER.length, T0);
  for (let i = 0; i < 10_000; i++) {
    t.record((Math.random() * 2 ** 32) >>> 0, i & 0xffff, PKT, 0, PKT.length, T0 + i);
  }
  const u = read();
  assertEquals(u.senders.length, SENDER_SLOTS / 2 + 1);
  assertEquals(u.replaced, 10_000 - SENDER_SLOTS / 2);
  assert(u.senders.some((s) => s.source.value === BigInt(B + 1)), "the other half is untouched");
});

Deno.test("SenderTable: a sender not seen for STALE_MS gives its slot up before busier ones", () => {
  const { t, read } = table();
  for (let n = 0; n < 50; n++) t.record(B, 8285, PKT, 0, PKT.length, T0); // busy, then silent
  const later = T0 + STALE_MS + 1;
  for (let i = 1; i < SENDER_SLOTS / 2; i++) {
    t.record(B + i, 8285, PKT, 0, PKT.length, later);
    t.record(B + i, 8285, PKT, 0, PKT.length, later);
  }
  t.record(B + 100, 8285, PKT, 0, PKT.length, later + 1);
  const u = read();
  assert(!u.senders.some((s) => s.source.value === BigInt(B)), lines(u).join("\n"));
  assertEquals(u.senders[0]!.source.value, BigInt(B + 100));
  assertEquals(u.replaced, 1);
});

Deno.test("readUnknownSenders(): whole entries while another thread writes (seqlock)", async () => {
  const buf = new SharedArrayBuffer(SENDERS_BYTES);
  const stop = new SharedArrayBuffer(4);
  // The writer records senders whose port and inner source are derived from their address.
  const code = `
    import { SenderTable } from ${
    JSON.stringify(new URL("./unknown_senders.ts", import.meta.url).href)
  };
    self.onmessage = ({ data: { buf, stop } }) => {
      const t = new SenderTable(buf, () => false), halt = new Int32Array(stop);
      const p = new Uint8Array(20); p[0] = 0x45; p[3] = 20;
      for (let i = 0; Atomics.load(halt, 0) === 0; i++) {
        const ip = (0x0a000000 + (i % 50)) >>> 0;
        p.set([ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255], 12);
        let sum = 0; p[10] = p[11] = 0;
        for (let k = 0; k < 20; k += 2) sum += (p[k] << 8) | p[k + 1];
        while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
        p[10] = (~sum >> 8) & 255; p[11] = ~sum & 255;
        t.record(ip, ip & 0xffff, p, 0, 20, i);
      }
      self.postMessage("done");
    };`;
  const w = new Worker(URL.createObjectURL(new Blob([code], { type: "text/javascript" })), {
    type: "module",
  });
  const done = new Promise((r) => w.onmessage = r);
  w.postMessage({ buf, stop });
  let seen = 0;
  try {
    for (let k = 0; k < 1000 && !readUnknownSenders(buf).senders.length; k++) {
      await new Promise((r) => setTimeout(r, 10)); // the worker starts
    }
    for (let n = 0; n < 2000; n++) {
      for (const s of readUnknownSenders(buf).senders) {
        seen++;
        assertEquals(s.port, Number(s.source.value & 0xffffn));
        assertEquals(s.inner?.source, s.source);
      }
      if (n % 100 === 0) await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    Atomics.store(new Int32Array(stop), 0, 1);
    await done;
    w.terminate();
  }
  assert(seen > 1000, `${seen} entries read`);
});
