import { assert, assertEquals } from "../../testing/assert.ts";
import {
  checksumsOk,
  naivePseudo,
  randomBytes,
  rng,
  tcpPacket,
  type TcpSpec,
} from "./_tcp_fixture.ts";
import {
  completeChecksum,
  GSO_TCPV4,
  readVnetHdr,
  segmentedLength,
  segmentTcp4,
  type VnetHdr,
  writeVnetHdr,
} from "./segment.ts";
import { ipv4Problem } from "./packet.ts";

const FIN = 0x01, PSH = 0x08, ACK = 0x10, CWR = 0x80;

/** A super-packet as the TUN device hands it: TCP checksum field = pseudo-header sum (partial). */
function superPacket(spec: TcpSpec): Uint8Array {
  const p = tcpPacket(spec);
  new DataView(p.buffer).setUint16(36, naivePseudo(p, p.length - 20));
  return p;
}

/** What segmentTcp4() must produce, built independently with tcpPacket(). */
function expectedSegments(spec: TcpSpec, gso: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const n = Math.max(1, Math.ceil(spec.payload.length / gso));
  for (let i = 0; i < n; i++) {
    let flags = spec.flags ?? ACK;
    if (i < n - 1) flags &= ~(FIN | PSH);
    if (i > 0) flags &= ~CWR;
    out.push(tcpPacket({
      ...spec,
      seq: (spec.seq + i * gso) >>> 0,
      id: ((spec.id ?? 0x1234) + i) & 0xffff,
      flags,
      payload: spec.payload.subarray(i * gso, (i + 1) * gso),
    }));
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const b = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    b.set(p, o);
    o += p.length;
  }
  return b;
}

Deno.test("virtio_net_hdr: written and read back little-endian", () => {
  const b = new Uint8Array(12).fill(9);
  writeVnetHdr(b, 1, { hdrLen: 52, ipHdrLen: 20, gsoSize: 1420 });
  assertEquals([...b], [9, 1, GSO_TCPV4, 52, 0, 0x8c, 0x05, 20, 0, 16, 0, 9]);
  const h: VnetHdr = { flags: 0, gsoType: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
  readVnetHdr(b, 1, h);
  assertEquals(h, { flags: 1, gsoType: GSO_TCPV4, gsoSize: 1420, csumStart: 20, csumOffset: 16 });
  writeVnetHdr(b, 1, { hdrLen: 0, ipHdrLen: 0, gsoSize: 0 });
  assertEquals([...b.subarray(1, 11)], new Array(10).fill(0));
});

Deno.test("completeChecksum() turns a partial TCP checksum into the full one", () => {
  const p = tcpPacket({ seq: 5, payload: randomBytes(rng(3), 333) });
  const want = [...p];
  const v = new DataView(p.buffer);
  v.setUint16(36, naivePseudo(p, p.length - 20));
  assert(completeChecksum(p, 0, p.length, 20, 16));
  assertEquals([...p], want);
  assert(checksumsOk(p));
  assertEquals(completeChecksum(p, 0, p.length, p.length - 1, 16), false, "offsets past the end");
  assertEquals([...p], want, "a refused completion changes nothing");
});

Deno.test("segmentTcp4() cuts a super-packet into the segments the kernel would send, byte for byte", () => {
  const r = rng(11);
  const cases: [Partial<TcpSpec>, number, number][] = [
    [{ flags: ACK | PSH }, 64000, 1420],
    [{ flags: ACK | PSH | FIN, seq: 0xffffff00 }, 5000, 1448], // seq wraps
    [{ flags: ACK | CWR, id: 0xfffe }, 4000, 1000], // id wraps, CWR first only
    [{ options: [] }, 2896, 1448], // exact multiple
    [{}, 700, 1448], // one segment
  ];
  for (const [extra, payload, gso] of cases) {
    const spec: TcpSpec = { seq: 1000, ...extra, payload: randomBytes(r, payload) };
    const sp = superPacket(spec);
    const want = concat(expectedSegments(spec, gso));
    const buf = new Uint8Array(want.length + 64).fill(0xee);
    buf.set(sp, 16);
    assertEquals(segmentedLength(buf, 16, sp.length, gso), want.length);
    assertEquals(segmentTcp4(buf, 16, sp.length, gso), want.length);
    assertEquals(buf.subarray(16, 16 + want.length), want);
    assert(buf.subarray(0, 16).every((x) => x === 0xee), "nothing written before the packet");
    assert(buf.subarray(16 + want.length).every((x) => x === 0xee), "nor after it");
  }
});

Deno.test("segmentTcp4() refuses what is not a sane TCP/IPv4 super-packet and changes nothing", () => {
  const sp = superPacket({ seq: 1, payload: new Uint8Array(3000) });
  const bad: [string, (p: Uint8Array) => void, number][] = [
    ["UDP", (p) => p[9] = 17, 1400],
    ["IPv6", (p) => p[0] = 0x60, 1400],
    ["fragment", (p) => p[6] = 0x20, 1400],
    ["IPv4 header too short", (p) => p[0] = 0x44, 1400],
    ["TCP header too short", (p) => p[32] = 0x40, 1400],
    ["no gso size", () => {}, 0],
  ];
  for (const [what, mutate, gso] of bad) {
    const p = sp.slice();
    mutate(p);
    const before = p.slice();
    const buf = new Uint8Array(8000);
    buf.set(p);
    assertEquals(segmentTcp4(buf, 0, p.length, gso), -1, what);
    assertEquals(buf.subarray(0, p.length), before, what);
  }
  const small = new Uint8Array(sp.length + 10); // no room for the extra headers
  small.set(sp);
  assertEquals(segmentTcp4(small, 0, sp.length, 1000), -1);
});

Deno.test("fuzz: segmentTcp4() never throws or writes out of bounds; what it makes is valid and complete", () => {
  const r = rng(99);
  for (let k = 0; k < 3000; k++) {
    const payload = randomBytes(r, r() % 9000);
    const spec: TcpSpec = {
      seq: r(),
      id: r() & 0xffff,
      flags: r() & 0xff,
      options: r() % 2 ? TIMESTAMPS_OR_NONE(r) : [],
      payload,
    };
    const sp = superPacket(spec);
    if (r() % 4 === 0) { for (let f = 0; f < 3; f++) sp[r() % 60]! ^= 1 << (r() % 8); }
    const gso = r() % 3 === 0 ? r() % 40 : 500 + r() % 1500;
    const room = r() % 2 ? 40000 : sp.length + r() % 500;
    const buf = new Uint8Array(room + 8).fill(0xab);
    buf.set(sp, 4);
    const before = buf.slice();
    let out = -1;
    try {
      out = segmentTcp4(buf, 4, sp.length, gso);
    } catch (e) {
      throw new Error(`case ${k} threw: ${e}`);
    }
    if (out < 0) {
      assertEquals(buf, before, `case ${k}: refused but changed`);
      continue;
    }
    assert(4 + out <= buf.length, `case ${k}: longer than its buffer`);
    assertEquals(buf.subarray(0, 4), before.subarray(0, 4), `case ${k}: wrote before the packet`);
    assertEquals(buf.subarray(4 + out), before.subarray(4 + out), `case ${k}: wrote after it`);
    const ihl = (sp[0]! & 15) * 4;
    const hdr = ihl + (sp[ihl + 12]! >> 4) * 4;
    const segs: Uint8Array[] = [];
    for (let o = 4; o < 4 + out;) {
      const len = (buf[o + 2]! << 8) | buf[o + 3]!;
      const seg = buf.subarray(o, o + len);
      assertEquals(ipv4Problem(seg, 0, len), undefined, `case ${k}`);
      assert(checksumsOk(seg), `case ${k}: checksum`);
      segs.push(seg.subarray(hdr));
      o += len;
    }
    assertEquals(concat(segs), sp.subarray(hdr), `case ${k}: payload`);
  }
});

function TIMESTAMPS_OR_NONE(r: () => number): number[] {
  return r() % 2 ? [1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8] : [2, 4, 5, 180];
}
