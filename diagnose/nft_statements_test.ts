import { assertEquals } from "../testing/assert.ts";
import { statementEffect, xtTargetEffect } from "./nft_statements.ts";

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
  const ether = (field: string) => ({
    mangle: { key: { payload: { protocol: "ether", field } }, value: "02:00:00:00:00:01" },
  });
  assertEquals([statementEffect(ether("daddr")), statementEffect(ether("saddr"))], [
    "acts",
    "none",
  ]);
  assertEquals(statementEffect({ mangle: { key: { ct: { key: "mark" } }, value: 1 } }), "none");
  // nft 1.1 writes a meter as a set update with its statements.
  const update = (stmt: unknown) => ({ set: { op: "add", elem: "x", set: "@s", stmt } });
  assertEquals(statementEffect(update([{ limit: { rate: 1, per: "second" } }])), "condition");
  assertEquals(statementEffect(update([{ counter: null }])), "none");
  assertEquals(statementEffect(update(undefined)), "none");
  assertEquals(statementEffect({ synproxy: { mss: 1460 } }), "acts");
  assertEquals(statementEffect({ unheard: {} }), "acts");
});

Deno.test("xtTargetEffect(): logging, marking and copying targets change nothing, the others may", () => {
  assertEquals(["LOG", "TEE", "MARK", "CT", "TCPMSS"].map(xtTargetEffect), Array(5).fill("none"));
  assertEquals(
    ["TPROXY", "SYNPROXY", "TTL", "NETMAP", "TARPIT"].map(xtTargetEffect),
    Array(5).fill("acts"),
  );
});
