import { assertEquals } from "../../testing/assert.ts";
import * as C from "./consts.ts";
import { decodeMessage, encodeMessage, type NlMessage } from "./message.ts";
import { tcQdiscInfoFromMessage } from "./tc.ts";
import { Writer } from "./writer.ts";

function viaBytes(m: NlMessage): NlMessage {
  const w = new Writer();
  encodeMessage(w, m);
  return decodeMessage(w.view().slice());
}

function u32s(...v: number[]): Uint8Array {
  const b = new Uint8Array(v.length * 4);
  const dv = new DataView(b.buffer);
  v.forEach((x, i) => dv.setUint32(i * 4, x >>> 0, true));
  return b;
}

/** struct tc_stats: bytes (u64), packets, drops, overlimits, bps, pps, qlen, backlog. */
const stats = (drops: number) => u32s(0, 0, 7, drops, 0, 0, 0, 0, 0);

const qdisc = (kind: string, options: Uint8Array, parent = C.TC_H_ROOT): NlMessage =>
  viaBytes({
    type: C.RTM_NEWQDISC,
    flags: C.NLM_F_MULTI,
    seq: 1,
    pid: 0,
    header: { family: 0, ifindex: 3, handle: 0x80010000, parent, info: 1 },
    attrs: [
      { type: C.TCA_KIND, value: kind },
      { type: C.TCA_OPTIONS, value: options },
      { type: C.TCA_STATS, value: stats(25) },
    ],
  });

Deno.test("tcQdiscInfoFromMessage(): pfifo's limit, netem's loss, tbf's rate and limit, the drop counter", () => {
  assertEquals(tcQdiscInfoFromMessage(qdisc("pfifo", u32s(0))), {
    ifindex: 3,
    kind: "pfifo",
    root: true,
    parent: "root",
    drops: 25,
    limit: 0,
  });
  // struct tc_netem_qopt: latency, limit, loss, gap, duplicate, jitter.
  const netem = tcQdiscInfoFromMessage(qdisc("netem", u32s(0, 1000, 0xffffffff, 0, 0, 0), 0x10001));
  assertEquals([netem.limit, netem.lossPct, netem.root, netem.parent], [1000, 100, false, "1:1"]);
  // TCA_TBF_PARMS: struct tc_tbf_qopt (rate ratespec: rate at 8; peakrate; limit at 24, ...).
  const parms = u32s(0, 0, 1, 0, 0, 0, 1, 1600, 0);
  const nla = new Uint8Array(4 + parms.length);
  new DataView(nla.buffer).setUint16(0, nla.length, true);
  new DataView(nla.buffer).setUint16(2, C.TCA_TBF_PARMS, true);
  nla.set(parms, 4);
  const tbf = tcQdiscInfoFromMessage(qdisc("tbf", nla));
  assertEquals([tbf.rateBytes, tbf.limit], [1, 1]);
});

Deno.test("tcQdiscInfoFromMessage(): netem's corruption, rate and 64-bit latency attributes after its struct", () => {
  const nla = (type: number, payload: Uint8Array) => {
    const b = new Uint8Array(4 + payload.length);
    new DataView(b.buffer).setUint16(0, b.length, true);
    new DataView(b.buffer).setUint16(2, type, true);
    b.set(payload, 4);
    return b;
  };
  const lat = new Uint8Array(8);
  new DataView(lat.buffer).setBigInt64(0, 2_000_000_000n, true); // 2 s in ns
  const opts = new Uint8Array([
    ...u32s(0, 1000, 0, 0, 0, 0),
    ...nla(C.TCA_NETEM_CORRUPT, u32s(0xffffffff, 0)),
    ...nla(C.TCA_NETEM_RATE, u32s(100, 0, 0, 0)),
    ...nla(C.TCA_NETEM_LATENCY64, lat),
  ]);
  const q = tcQdiscInfoFromMessage(qdisc("netem", opts));
  assertEquals([q.limit, q.lossPct, q.corruptPct, q.rateBytes, q.delayMs], [
    1000,
    0,
    100,
    100,
    2000,
  ]);
});
