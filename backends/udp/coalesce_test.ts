import { assert, assertEquals } from "../../testing/assert.ts";
import {
  checksumsOk,
  naivePseudo,
  naiveSum,
  randomBytes,
  rng,
  tcpPacket,
  type TcpSpec,
} from "./_tcp_fixture.ts";
import { Coalescer } from "./coalesce.ts";
import { segmentTcp4 } from "./segment.ts";

const PSH = 0x08, ACK = 0x10, SYN = 0x02;

interface Out {
  bytes: Uint8Array;
  /** Segments merged (1: written as it came). */
  count: number;
  hdrLen?: number;
  gsoSize?: number;
}

/** Runs a Coalescer over `parts` laid back to back; returns what it emitted, in order. */
function coalesce(
  parts: Uint8Array[],
  opts: { seg?: number; accept?: (i: number) => boolean; merge?: boolean } = {},
): Out[] {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(total + 20).fill(0xcc);
  const starts: number[] = [];
  let o = 10;
  for (const p of parts) {
    starts.push(o);
    buf.set(p, o);
    o += p.length;
  }
  const out: Out[] = [];
  const c = new Coalescer(
    (off) => opts.accept?.(starts.indexOf(off)) ?? true,
    {
      plain: (off, len) => out.push({ bytes: buf.slice(off, off + len), count: 1 }),
      merged: (off, len, hdrLen, gsoSize, count) =>
        out.push({ bytes: buf.slice(off, off + len), count, hdrLen, gsoSize }),
    },
  );
  const seg = opts.seg ?? parts[0]!.length;
  c.run(buf, 10, total, seg, opts.merge ?? true);
  assert(buf.subarray(0, 10).every((x) => x === 0xcc) && buf.subarray(o).every((x) => x === 0xcc));
  return out;
}

/** A flow of `n` segments of `mss` payload bytes (the last `last` bytes), consecutive sequence numbers. */
function flow(n: number, mss: number, extra: Partial<TcpSpec> = {}, last = mss): TcpSpec[] {
  const r = rng(n * 31 + mss);
  const specs: TcpSpec[] = [];
  let seq = extra.seq ?? 1_000_000;
  for (let i = 0; i < n; i++) {
    const payload = randomBytes(r, i === n - 1 ? last : mss);
    specs.push({ ...extra, seq, id: 100 + i, payload });
    seq = (seq + payload.length) >>> 0;
  }
  return specs;
}

/** The super-packet a merge of `specs` must give: the first's headers, all payloads, partial TCP checksum. */
function expectedMerge(specs: TcpSpec[], flags = ACK): Uint8Array {
  const payload = new Uint8Array(specs.reduce((n, s) => n + s.payload.length, 0));
  let o = 0;
  for (const s of specs) {
    payload.set(s.payload, o);
    o += s.payload.length;
  }
  const p = tcpPacket({ ...specs[0]!, flags, payload });
  new DataView(p.buffer).setUint16(36, naivePseudo(p, p.length - 20));
  return p;
}

/** Completes the partial TCP checksum of a merged packet, as the kernel will. */
function completed(p: Uint8Array): Uint8Array {
  const q = p.slice();
  const v = new DataView(q.buffer);
  const partial = v.getUint16(36);
  v.setUint16(36, 0);
  v.setUint16(36, ~naiveSum(q.subarray(20), partial) & 0xffff);
  return q;
}

Deno.test("Coalescer merges in-order segments of one flow into one super-packet, byte for byte", () => {
  const specs = flow(40, 1420, {}, 300);
  specs[39]!.flags = ACK | PSH;
  const out = coalesce(specs.map(tcpPacket), { seg: 1472 });
  assertEquals(out.length, 1);
  assertEquals(out[0]!.count, 40);
  assertEquals(out[0]!.hdrLen, 52);
  assertEquals(out[0]!.gsoSize, 1420);
  assertEquals(out[0]!.bytes, expectedMerge(specs, ACK | PSH));
  assert(checksumsOk(completed(out[0]!.bytes)));
});

Deno.test("Coalescer undoes segmentTcp4(): segmenting then merging gives the super-packet back", () => {
  const spec: TcpSpec = { seq: 0xfffff000, payload: randomBytes(rng(5), 60000), flags: ACK | PSH };
  const sp = tcpPacket(spec);
  const buf = new Uint8Array(70000);
  buf.set(sp);
  const n = segmentTcp4(buf, 0, sp.length, 1420);
  const out = coalesce([buf.slice(0, n)], { seg: 1472 });
  assertEquals(out.length, 1);
  assertEquals(completed(out[0]!.bytes), sp);
});

Deno.test("Coalescer writes alone what must not merge, keeping the order", () => {
  const specs = flow(6, 1000);
  const base = specs.map(tcpPacket);
  const cases: [string, (s: TcpSpec[]) => void, number[]][] = [
    ["out of order", (s) => [s[2], s[3]] = [s[3]!, s[2]!], [2, 1, 1, 2]],
    ["another ack", (s) => s[3]!.ack = 1, [3, 1, 2]],
    ["another window", (s) => s[3]!.window = 9, [3, 1, 2]],
    ["another TTL", (s) => s[3]!.ttl = 9, [3, 1, 2]],
    ["other options", (s) => s[3]!.options = [1, 1, 8, 10, 0, 0, 1, 3, 0, 0, 3, 4], [3, 1, 2]],
    ["SYN", (s) => s[3]!.flags = SYN | ACK, [3, 1, 2]],
    ["PSH ends a run", (s) => s[1]!.flags = ACK | PSH, [2, 4]],
    ["bad checksum", (s) => s[3]!.tcpChecksum = 0x1234, [3, 1, 2]],
    ["bad checksum first", (s) => s[0]!.tcpChecksum = 0x1234, [1, 5]],
    ["another flow", (s) => s[3]!.sport = 1, [3, 1, 2]],
  ];
  for (const [what, mutate, counts] of cases) {
    const s = specs.map((x) => ({ ...x }));
    mutate(s);
    const out = coalesce(s.map(tcpPacket), { seg: 1052 });
    assertEquals(out.map((o) => o.count), counts, what);
    const sent = s.flatMap((x) => [...x.payload]);
    const got = out.flatMap((o) => [...o.bytes.subarray(52)]);
    assertEquals(got, sent, `${what}: payload bytes in order`);
    for (const o of out) if (o.count > 1) assert(checksumsOk(completed(o.bytes)), what);
  }
  // A shorter last segment merges; one whose IPv4 length is not its size does not; a UDP
  // packet between segments is written as it came.
  const short = flow(4, 1000, {}, 500).map(tcpPacket);
  assertEquals(coalesce(short, { seg: 1052 }).map((o) => o.count), [4]);
  const lying = base.map((p) => p.slice());
  lying[2]![3]! -= 4;
  assertEquals(coalesce(lying, { seg: 1052 }).map((o) => o.count), [2, 1, 3]);
  const udp = base[2]!.slice();
  udp[9] = 17;
  assertEquals(coalesce([base[0]!, base[1]!, udp, base[3]!], { seg: 1052 }).map((o) => o.count), [
    2,
    1,
    1,
  ]);
  assertEquals(coalesce(base, { seg: 1052, merge: false }).map((o) => o.count), [1, 1, 1, 1, 1, 1]);
});

Deno.test("Coalescer skips what accept() refuses and merges around it", () => {
  const base = flow(6, 1000).map(tcpPacket);
  const out = coalesce(base, { seg: 1052, accept: (i) => i !== 4 });
  assertEquals(out.map((o) => o.count), [4, 1]);
  assertEquals(coalesce(base, { seg: 1052, accept: () => false }), []);
});

Deno.test("fuzz: Coalescer never throws or reads outside its range; every byte it passes on was accepted", () => {
  const r = rng(2024);
  for (let k = 0; k < 1500; k++) {
    const n = 1 + r() % 12, mss = 1 + r() % 1500;
    const parts = flow(n, mss, { flags: r() % 4 ? ACK : r() & 0xff }, 1 + r() % mss).map(tcpPacket);
    for (let f = r() % 6; f > 0; f--) {
      const p = parts[r() % n]!;
      p[r() % p.length]! ^= 1 << (r() % 8);
    }
    if (r() % 5 === 0) parts[r() % n] = randomBytes(r, r() % 100);
    const seg = r() % 3 ? parts[0]!.length : 1 + r() % 3000;
    let out: Out[] = [];
    try {
      out = coalesce(parts, { seg });
    } catch (e) {
      throw new Error(`case ${k} threw: ${e}`);
    }
    for (const o of out) {
      if (o.count === 1) continue;
      const len = (o.bytes[2]! << 8) | o.bytes[3]!;
      assertEquals(len, o.bytes.length, `case ${k}: merged total length`);
      assertEquals(naiveSum(o.bytes.subarray(0, 20)), 0xffff, `case ${k}: IPv4 checksum`);
      assert(checksumsOk(completed(o.bytes)), `case ${k}: TCP checksum once completed`);
      assert(o.gsoSize! > 0 && o.bytes.length - o.hdrLen! > o.gsoSize!, `case ${k}: gso fields`);
    }
  }
});
