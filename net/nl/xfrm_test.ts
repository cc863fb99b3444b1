import { assertEquals } from "../../testing/assert.ts";
import * as C from "./consts.ts";
import { xfrmDumpRequest, xfrmPolicyFromPayload } from "./xfrm.ts";

/** struct xfrm_userpolicy_info (168 bytes) for an IPv4 selector, then `extra` attributes. */
function policy(
  o: { src: number[]; dst: number[]; lenS: number; lenD: number; proto?: number; dport?: number },
  dir: number,
  action: number,
  extra = new Uint8Array(0),
): Uint8Array {
  const b = new Uint8Array(168 + extra.length);
  const dv = new DataView(b.buffer);
  b.set(o.dst, 0);
  b.set(o.src, 16);
  if (o.dport) dv.setUint16(32, o.dport, false);
  dv.setUint16(40, C.AF_INET, true);
  b[42] = o.lenD;
  b[43] = o.lenS;
  b[44] = o.proto ?? 0;
  dv.setUint32(152, 7, true); // priority
  b[160] = dir;
  b[161] = action;
  b.set(extra, 168);
  return b;
}

Deno.test("xfrmPolicyFromPayload(): a fwd block policy and an out policy with one ESP template", () => {
  assertEquals(
    xfrmPolicyFromPayload(
      policy({ src: [10, 244, 2, 0], dst: [10, 244, 1, 0], lenS: 24, lenD: 24 }, 2, 1),
    ),
    {
      dir: "fwd",
      action: "block",
      priority: 7,
      src: "10.244.2.0/24",
      dst: "10.244.1.0/24",
      proto: 0,
      templates: 0,
    },
  );
  const tmpl = new Uint8Array(4 + 64);
  new DataView(tmpl.buffer).setUint16(0, tmpl.length, true);
  new DataView(tmpl.buffer).setUint16(2, 5, true); // XFRMA_TMPL
  const out = xfrmPolicyFromPayload(
    policy(
      {
        src: [192, 168, 77, 11],
        dst: [192, 168, 77, 12],
        lenS: 32,
        lenD: 32,
        proto: 17,
        dport: 8472,
      },
      1,
      0,
      tmpl,
    ),
  );
  assertEquals([out?.dir, out?.action, out?.proto, out?.dport, out?.templates], [
    "out",
    "allow",
    17,
    8472,
    1,
  ]);
  // Too short, or IPv6: not read.
  assertEquals(xfrmPolicyFromPayload(new Uint8Array(100)), undefined);
});

Deno.test("xfrmDumpRequest(): a dump of the type asked", () => {
  const b = xfrmDumpRequest(21, 5);
  const dv = new DataView(b.buffer);
  assertEquals(
    [dv.getUint32(0, true), dv.getUint16(4, true), dv.getUint16(6, true) & C.NLM_F_DUMP],
    [
      b.length,
      21,
      C.NLM_F_DUMP,
    ],
  );
});
