import { assertEquals } from "../testing/assert.ts";
import { connMarks } from "./conn_marks.ts";
import { parseIptablesSave, parseRuleset } from "./nft_eval.ts";

function rs(...items: unknown[]): string {
  return JSON.stringify({ nftables: [{ metainfo: {} }, ...items] });
}
const chain = (name: string, hook: string) => ({
  chain: { family: "inet", table: "t", name, handle: 1, type: "filter", hook, prio: 0 },
});
const rule = (ch: string, handle: number, expr: unknown[]) => ({
  rule: { family: "inet", table: "t", chain: ch, handle, expr },
});
const set = (key: "ct" | "meta", value: unknown) => ({
  mangle: { key: { [key]: { key: "mark" } }, value },
});

Deno.test("connMarks(): a constant written to ct mark, once each, with its rule", () => {
  const marks = connMarks(parseRuleset(rs(
    chain("post", "postrouting"),
    rule("post", 4, [set("ct", 16)]),
    rule("post", 5, [set("ct", 16)]),
    rule("post", 6, [set("ct", 32)]),
  )));
  assertEquals(marks.map((m) => [m.mark, m.by.chain, m.by.handle, m.savedBy]), [
    [16, "post", 4, undefined],
    [32, "post", 6, undefined],
  ]);
  assertEquals(marks[0]!.by.text, "ct mark set 0x10");
});

Deno.test("connMarks(): a packet mark counts only when a rule saves it into conntrack", () => {
  const packetOnly = rs(chain("pre", "prerouting"), rule("pre", 3, [set("meta", 16)]));
  assertEquals(connMarks(parseRuleset(packetOnly)), []);
  const saved = connMarks(parseRuleset(rs(
    chain("pre", "prerouting"),
    rule("pre", 2, [set("meta", { ct: { key: "mark" } })]), // the restore writes no constant
    rule("pre", 3, [set("meta", 16)]),
    rule("pre", 4, [set("ct", { meta: { key: "mark" } })]),
  )));
  assertEquals(saved.map((m) => [m.mark, m.by.handle, m.savedBy?.handle]), [[16, 3, 4]]);
});

Deno.test("connMarks(): iptables' CONNMARK --set-xmark, and MARK saved by CONNMARK --save-mark", () => {
  const save = parseIptablesSave(
    "*mangle\n:PREROUTING ACCEPT [0:0]\n" +
      "-A PREROUTING -d 10.1.0.0/16 -j CONNMARK --set-xmark 0x30/0xffffffff\n" +
      "-A PREROUTING -j MARK --set-xmark 0x40/0xffffffff\n" +
      "-A PREROUTING -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff\nCOMMIT\n",
  );
  const xt = (handle: number, name: string) => ({
    rule: {
      family: "ip",
      table: "mangle",
      chain: "PREROUTING",
      handle,
      expr: [{ counter: {} }, { xt: { type: "target", name } }],
    },
  });
  const marks = connMarks(parseRuleset(
    rs(
      {
        chain: {
          family: "ip",
          table: "mangle",
          name: "PREROUTING",
          handle: 1,
          type: "filter",
          hook: "prerouting",
          prio: -150,
        },
      },
      xt(2, "CONNMARK"),
      xt(3, "MARK"),
      xt(4, "CONNMARK"),
    ),
    save,
  ));
  assertEquals(marks.map((m) => [m.mark, m.by.handle, m.savedBy?.handle]), [
    [0x30, 2, undefined],
    [0x40, 3, 4],
  ]);
});
