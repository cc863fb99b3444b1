import { assert, assertEquals } from "../testing/assert.ts";
import { LargeValueFilter, readFiltered, SKIPPED_VALUE_FIELD } from "./_etcd_values.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** `text` through a filter of `max` bytes, cut into chunks at `cuts`. */
function filtered(text: string, max: number, cuts: number[] = []): string {
  const bytes = enc.encode(text);
  const f = new LargeValueFilter(max);
  let out = "";
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    out += dec.decode(f.push(bytes.subarray(from, at)), { stream: true });
    from = at;
  }
  return out + dec.decode();
}

const b64 = (n: number, fill = "x") => btoa(fill.repeat(n));
/** A range answer as etcd's gateway writes it. */
const answer = (...values: string[]) =>
  JSON.stringify({
    header: { cluster_id: "1", member_id: "2", revision: "9", raft_term: "2" },
    kvs: values.map((value, i) => ({
      key: btoa(`/p/subnets/${i}`),
      create_revision: "3",
      mod_revision: String(4 + i),
      version: "1",
      value,
    })),
    count: String(values.length),
  });

Deno.test("LargeValueFilter: values up to the limit pass unchanged, cut anywhere", () => {
  const text = answer(b64(10), b64(11), b64(12), "");
  assertEquals(filtered(text, 12), text);
  for (let cut = 0; cut <= text.length; cut++) assertEquals(filtered(text, 12, [cut]), text);
});

Deno.test("LargeValueFilter: a longer value is left out and its size in bytes noted, cut anywhere", () => {
  for (const n of [13, 14, 15, 100]) { // base64 padding "=", "==" and none
    const text = answer(b64(5), b64(n), b64(7));
    for (let cut = 0; cut <= text.length; cut += n === 100 ? 7 : 1) {
      const j = JSON.parse(filtered(text, 12, [cut]));
      assertEquals(j.kvs.map((kv: { value: string }) => kv.value), [b64(5), "", b64(7)]);
      assertEquals(j.kvs[1][SKIPPED_VALUE_FIELD], String(n), `n ${n} cut ${cut}`);
      assertEquals(j.kvs[0][SKIPPED_VALUE_FIELD], undefined);
      assertEquals(j.kvs[1].mod_revision, "5");
      assertEquals(j.count, "3");
    }
  }
});

Deno.test("LargeValueFilter: many cuts, escapes inside a value, the pattern as text elsewhere", () => {
  const big = b64(3000);
  const text = answer(big, b64(3), big);
  const cuts = Array.from({ length: 200 }, (_, i) => i * 41).filter((c) => c < text.length);
  const j = JSON.parse(filtered(text, 64, cuts));
  assertEquals(j.kvs.map((kv: { value: string }) => kv.value), ["", b64(3), ""]);
  assertEquals(j.kvs[2][SKIPPED_VALUE_FIELD], "3000");
  // A string with escaped quotes and backslashes (no gateway writes one): ends where JSON says.
  const odd = JSON.stringify({ value: 'a\\"b\\\\', next: { value: "x".repeat(50) } });
  assertEquals(JSON.parse(filtered(odd, 30)), {
    value: 'a\\"b\\\\',
    next: { value: "", [SKIPPED_VALUE_FIELD]: "37" },
  });
  for (let cut = 0; cut <= odd.length; cut++) {
    assertEquals(JSON.parse(filtered(odd, 3, [cut])).value, "", `cut ${cut}`);
  }
  // '"value":"' inside another string is not a value (it cannot be in a base64 text anyway).
  const inText = JSON.stringify({ note: 'say "value":"' });
  assertEquals(filtered(inText, 0), inText);
});

Deno.test("readFiltered(): a body stream through the filter, a byte stream (fetch's) or not", async () => {
  const text = answer(b64(2), b64(2_000_000), "ü" + b64(3));
  const bytes = enc.encode(text);
  for (const type of ["bytes", undefined] as const) {
    const body = new ReadableStream<Uint8Array>({
      type,
      start(c: ReadableStreamDefaultController<Uint8Array>) {
        // Cuts of an odd size, through the multi-byte "ü" too.
        for (let i = 0; i < bytes.length; i += 65_531) c.enqueue(bytes.slice(i, i + 65_531));
        c.close();
      },
    } as UnderlyingDefaultSource<Uint8Array>);
    const out = await readFiltered(body, 1000);
    assert(out.length < 1000, `${type}: ${out.length} characters`);
    const j = JSON.parse(out);
    assertEquals(j.kvs[0].value, b64(2));
    assertEquals(j.kvs[1].value, "");
    assertEquals(j.kvs[1][SKIPPED_VALUE_FIELD], "2000000");
    assertEquals(j.kvs[2].value, "ü" + b64(3));
  }
});
