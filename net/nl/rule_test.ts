import { assertEquals } from "../../testing/assert.ts";
import * as C from "./consts.ts";
import { decodeMessage, encodeMessage, type NlMessage } from "./message.ts";
import { ruleDumpRequest, ruleFromMessage } from "./rule.ts";
import { Writer } from "./writer.ts";

/** A message as the kernel dumps it, through bytes and back. */
function viaBytes(m: NlMessage): NlMessage {
  const w = new Writer();
  encodeMessage(w, m);
  return decodeMessage(w.view().slice());
}

const hdr = (o: Record<string, number>) => ({
  family: C.AF_INET,
  dstLen: 0,
  srcLen: 0,
  tos: 0,
  table: 0,
  res1: 0,
  res2: 0,
  action: 1,
  flags: 0,
  ...o,
});

Deno.test("ruleFromMessage(): `from 10.244.2.2 prohibit` and `not to 10.0.0.0/8 iif cni0 lookup 100`", () => {
  const prohibit = viaBytes({
    type: C.RTM_NEWRULE,
    flags: C.NLM_F_MULTI,
    seq: 1,
    pid: 0,
    header: hdr({ srcLen: 32, action: 8 }),
    attrs: [{ type: C.FRA_PRIORITY, value: 100 }, { type: C.FRA_SRC, value: "10.244.2.2" }],
  });
  assertEquals(ruleFromMessage(prohibit), {
    family: 4,
    priority: 100,
    action: "prohibit",
    table: 0,
    src: "10.244.2.2/32",
    dst: "0.0.0.0/0",
    invert: false,
  });
  const lookup = viaBytes({
    type: C.RTM_NEWRULE,
    flags: C.NLM_F_MULTI,
    seq: 1,
    pid: 0,
    header: hdr({ dstLen: 8, table: 100, flags: C.FIB_RULE_INVERT }),
    attrs: [
      { type: C.FRA_TABLE, value: 100 },
      { type: C.FRA_PRIORITY, value: 101 },
      { type: C.FRA_DST, value: "10.0.0.0" },
      { type: C.FRA_IIFNAME, value: "cni0" },
    ],
  });
  assertEquals(ruleFromMessage(lookup), {
    family: 4,
    priority: 101,
    action: "lookup",
    table: 100,
    src: "0.0.0.0/0",
    dst: "10.0.0.0/8",
    invert: true,
    iif: "cni0",
  });
});

Deno.test("ruleDumpRequest() asks for one family's rules", () => {
  const m = viaBytes(ruleDumpRequest(C.AF_INET6));
  assertEquals([m.type, m.flags & C.NLM_F_DUMP, m.header["family"]], [
    C.RTM_GETRULE,
    C.NLM_F_DUMP,
    C.AF_INET6,
  ]);
});
