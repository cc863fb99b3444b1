import { assert, assertEquals } from "../testing/assert.ts";
import { canonicalJson, chunksUntilAborted, leaseIdentity } from "./_util.ts";

const lease = (mac: string, expiration = "2026-01-01T00:00:00Z") => ({
  subnet: "10.244.1.0/24",
  publicIP: "192.168.1.1",
  node: "n1",
  backendType: "vxlan",
  backendData: { VtepMAC: mac },
  expiration,
});

Deno.test("leaseIdentity(): a renewal is no change, a changed backendData is", () => {
  assertEquals(
    leaseIdentity(lease("0a:00:00:00:00:01")),
    leaseIdentity(lease("0a:00:00:00:00:01", "2027-01-01T00:00:00Z")),
  );
  assert(leaseIdentity(lease("0a:00:00:00:00:01")) !== leaseIdentity(lease("0a:00:00:00:00:02")));
  const { backendData: _b, ...bare } = lease("0a:00:00:00:00:01");
  assert(leaseIdentity(bare) !== leaseIdentity(lease("0a:00:00:00:00:01")));
});

Deno.test("canonicalJson(): key order does not matter at any level; array order does", () => {
  assertEquals(
    canonicalJson({ b: 1, a: { d: [2, 1], c: null } }),
    '{"a":{"c":null,"d":[2,1]},"b":1}',
  );
  assertEquals(canonicalJson({ a: { y: 1, x: 2 } }), canonicalJson({ a: { x: 2, y: 1 } }));
  assert(canonicalJson([1, 2]) !== canonicalJson([2, 1]));
});

/** A body that delivers `chunks`, then stays silent (a quiet watch); records its cancellation. */
function quietBody(chunks: string[]) {
  const seen = { cancelled: false };
  let i = 0;
  const body = new ReadableStream<string>({
    pull(c): Promise<void> | void {
      if (i >= chunks.length) return new Promise<void>(() => {}); // never another chunk
      c.enqueue(chunks[i++]!);
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { body, seen };
}

Deno.test("chunksUntilAborted(): an abort ends a read that is pending on a silent body", async () => {
  const { body, seen } = quietBody(["a", "b"]);
  const ac = new AbortController();
  const got: string[] = [];
  const done = (async () => {
    for await (const c of chunksUntilAborted(body, ac.signal)) got.push(c);
  })();
  while (got.length < 2) await new Promise((r) => setTimeout(r, 1));
  ac.abort();
  await done; // hangs for ever (the test times out) when the pending read is not cancelled
  assertEquals(got, ["a", "b"]);
  assert(seen.cancelled, "the body was cancelled");
});

Deno.test("chunksUntilAborted(): an aborted signal reads nothing; a consumer that stops cancels", async () => {
  const ac = new AbortController();
  ac.abort();
  const first = quietBody(["a"]);
  for await (const _ of chunksUntilAborted(first.body, ac.signal)) throw new Error("read a chunk");
  assert(first.seen.cancelled);
  const second = quietBody(["a", "b"]);
  for await (const c of chunksUntilAborted(second.body, new AbortController().signal)) {
    assertEquals(c, "a");
    break;
  }
  assert(second.seen.cancelled, "break cancelled the body");
});

Deno.test("chunksUntilAborted(): every chunk in order, then the end", async () => {
  const body = ReadableStream.from(["a", "b", "c"]);
  const got: string[] = [];
  for await (const c of chunksUntilAborted(body, new AbortController().signal)) got.push(c);
  assertEquals(got, ["a", "b", "c"]);
});
