import { assertEquals } from "../testing/assert.ts";
import { statementEffect } from "./nft_statements.ts";

Deno.test("statementEffect(): counting and copying go on, rates hold or not, rewrites of addresses act", () => {
  assertEquals(statementEffect({ counter: null }), "none");
  assertEquals(statementEffect({ counter: "named" }), "none");
  assertEquals(statementEffect({ dup: { addr: "lo" } }), "none");
  assertEquals(statementEffect({ limit: "named" }), "condition");
  assertEquals(statementEffect({ "ct count": { val: 10, inv: true } }), "condition");
  const mangle = (field: string) => ({
    mangle: { key: { payload: { protocol: "ip", field } }, value: 1 },
  });
  assertEquals(statementEffect(mangle("daddr")), "acts");
  assertEquals(statementEffect(mangle("ttl")), "acts");
  assertEquals(statementEffect(mangle("dscp")), "none");
  assertEquals(statementEffect({ mangle: { key: { ct: { key: "mark" } }, value: 1 } }), "none");
  // nft 1.1 writes a meter as a set update with its statements.
  const update = (stmt: unknown) => ({ set: { op: "add", elem: "x", set: "@s", stmt } });
  assertEquals(statementEffect(update([{ limit: { rate: 1, per: "second" } }])), "condition");
  assertEquals(statementEffect(update([{ counter: null }])), "none");
  assertEquals(statementEffect(update(undefined)), "none");
  assertEquals(statementEffect({ synproxy: { mss: 1460 } }), "acts");
  assertEquals(statementEffect({ unheard: {} }), "acts");
});
