/**
 * The socket's protocol logic against a fake kernel (no root, no FFI): sequence matching,
 * multipart dumps, NLM_F_DUMP_INTR retry, extended-ack errors, truncated replies, batches.
 */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { NetlinkError } from "./errors.ts";
import * as C from "./nl/consts.ts";
import { linkDumpRequest, linkFromMessage, linkGetRequest } from "./nl/link.ts";
import { encodeMessage, forEachMessage, type MessageSpan } from "./nl/message.ts";
import { routeRequest } from "./nl/route.ts";
import { Writer } from "./nl/writer.ts";
import { Handle } from "./handle.ts";
import { NetlinkSocket, type NetlinkTransport } from "./socket.ts";

type Handler = (req: MessageSpan, bytes: Uint8Array, k: FakeKernel) => void;

/** A scripted kernel: each request sent is handed to `handler`, which queues datagrams. */
class FakeKernel implements NetlinkTransport {
  queue: Uint8Array[] = [];
  sent: Uint8Array[] = [];
  closed = false;
  constructor(public handler: Handler) {}

  send(bytes: Uint8Array): void {
    const copy = bytes.slice();
    this.sent.push(copy);
    forEachMessage(copy, copy.length, (span) => {
      this.handler(span, copy, this);
    });
  }

  recv(buf: Uint8Array): number {
    const d = this.queue.shift();
    if (!d) throw new Error("fake kernel: recv() with nothing queued would block forever");
    buf.set(d.subarray(0, Math.min(d.length, buf.length)));
    return d.length;
  }

  close(): void {
    this.closed = true;
  }

  /** Queues an NLMSG_ERROR (errno 0 = ACK) for the request with this seq. */
  ack(seq: number, errno = 0, extack?: string): void {
    const w = new Writer();
    const flags = C.NLM_F_CAPPED | (extack ? C.NLM_F_ACK_TLVS : 0);
    const off = w.beginMsg(C.NLMSG_ERROR, flags, seq, 99);
    w.s32(-errno);
    const r = w.beginMsg(C.RTM_NEWROUTE, C.NLM_F_REQUEST, seq, 0);
    w.dv.setUint32(r, 16, true);
    if (extack) {
      const a = w.beginAttr(C.NLMSGERR_ATTR_MSG);
      w.bytes(new TextEncoder().encode(extack));
      w.u8(0);
      w.endAttr(a);
    }
    w.endMsg(off);
    this.queue.push(w.view().slice());
  }

  /** Queues one datagram holding RTM_NEWLINK messages for these links (and DONE if asked). */
  links(seq: number, names: string[], opts: { done?: boolean; intr?: boolean } = {}): void {
    const w = new Writer();
    names.forEach((name, i) => {
      encodeMessage(w, {
        type: C.RTM_NEWLINK,
        flags: C.NLM_F_MULTI | (opts.intr ? C.NLM_F_DUMP_INTR : 0),
        seq,
        pid: 99,
        header: { family: 0, type: 1, index: i + 1, flags: C.IFF_UP, change: 0 },
        attrs: [{ type: C.IFLA_IFNAME, value: name }, { type: C.IFLA_MTU, value: 1500 }],
      });
    });
    if (opts.done) {
      const off = w.beginMsg(
        C.NLMSG_DONE,
        C.NLM_F_MULTI | (opts.intr ? C.NLM_F_DUMP_INTR : 0),
        seq,
        99,
      );
      w.s32(0);
      w.endMsg(off);
    }
    this.queue.push(w.view().slice());
  }
}

function sock(handler: Handler, opts = {}): [NetlinkSocket, FakeKernel] {
  const k = new FakeKernel(handler);
  return [new NetlinkSocket(k, opts), k];
}

Deno.test("request() waits for its own ACK and skips stale replies with other sequence numbers", () => {
  const [s, k] = sock((req, _b, k) => {
    k.ack(req.seq - 1, 17); // a late answer to an earlier request: ignored
    k.ack(req.seq);
  });
  s.request(routeRequest("add", { dst: "10.0.0.0/8", oif: 1 }), "Cannot add route");
  assertEquals(k.queue.length, 0);
  const flags = new DataView(k.sent[0]!.buffer).getUint16(6, true);
  assert(flags & C.NLM_F_ACK, "ACK requested");
});

Deno.test("request() turns an error reply into NetlinkError with the extended-ack text", () => {
  const [s] = sock((req, _b, k) => k.ack(req.seq, 101, "Nexthop has invalid gateway"));
  const e = assertThrows(
    () =>
      s.request(
        routeRequest("add", { dst: "10.244.2.0/24", gateway: "192.168.1.48" }),
        "Cannot add route 10.244.2.0/24 via 192.168.1.48",
      ),
    NetlinkError,
  );
  assertEquals(
    e.message,
    "Cannot add route 10.244.2.0/24 via 192.168.1.48: kernel returned ENETUNREACH (Nexthop has invalid gateway)",
  );
  assertEquals([e.errno, e.code, e.extack], [101, "ENETUNREACH", "Nexthop has invalid gateway"]);
});

Deno.test("dump() collects a multipart answer spread over several datagrams", () => {
  const [s] = sock((req, _b, k) => {
    k.links(req.seq, ["lo", "eth0"]);
    k.links(req.seq + 7, ["stray"], { done: true }); // not ours
    k.links(req.seq, ["eth1"], { done: true });
  });
  assertEquals(s.dump(linkDumpRequest(), "Cannot list links").map((m) => linkFromMessage(m).name), [
    "lo",
    "eth0",
    "eth1",
  ]);
});

Deno.test("dump() repeats a dump the kernel flagged NLM_F_DUMP_INTR", () => {
  let calls = 0;
  const [s] = sock((req, _b, k) => {
    calls++;
    if (calls === 1) k.links(req.seq, ["old"], { done: true, intr: true });
    else k.links(req.seq, ["new1", "new2"], { done: true });
  });
  assertEquals(s.dump(linkDumpRequest(), "Cannot list links").map((m) => linkFromMessage(m).name), [
    "new1",
    "new2",
  ]);
  assertEquals(calls, 2);
});

Deno.test("dump() gives up with a clear error when every attempt is interrupted", () => {
  let calls = 0;
  const [s] = sock((req, _b, k) => {
    calls++;
    k.links(req.seq, ["x"], { done: true, intr: true });
  });
  assertThrows(
    () => s.dump(linkDumpRequest(), "Cannot list links"),
    NetlinkError,
    "kept being interrupted",
  );
  assertEquals(calls, 11);
});

Deno.test("dump() reports an error reply as NetlinkError", () => {
  const [s] = sock((req, _b, k) => k.ack(req.seq, 95, "Dump not supported"));
  assertThrows(
    () => s.dump(linkDumpRequest(), "Cannot list links"),
    NetlinkError,
    "Cannot list links: kernel returned EOPNOTSUPP (Dump not supported)",
  );
});

Deno.test("get() retries with a bigger buffer when the reply was truncated", () => {
  let calls = 0;
  const [s] = sock((req, _b, k) => {
    calls++;
    // A reply bigger than the 256-byte receive buffer.
    const long = "x".repeat(15);
    k.links(req.seq, [long, long, long, long, long, long, long, long, long, long]);
  }, { recvBuf: 256 });
  const m = s.get(linkGetRequest("eth0"), "Cannot find link eth0");
  assertEquals(linkFromMessage(m).name, "x".repeat(15));
  assertEquals(calls, 2);
});

Deno.test("batch() pipelines, asks an ACK only for the last message of a write, and maps errors to ops", () => {
  const [s, k] = sock((req, _b, k) => {
    const ack = (req.flags & C.NLM_F_ACK) !== 0;
    if (failing.has(req.seq)) k.ack(req.seq, 17);
    else if (ack) k.ack(req.seq);
  }, { batchMax: 4 });
  const failing = new Set<number>();
  const msgs = Array.from(
    { length: 10 },
    (_, i) => routeRequest("add", { dst: `10.0.${i}.0/24`, oif: 1 }),
  );
  // Sequence numbers are consecutive from the socket's next one: learn it from a probe.
  s.request(routeRequest("add", { dst: "10.9.9.0/24", oif: 1 }), "probe");
  const probeSeq = new DataView(k.sent[0]!.buffer).getUint32(8, true);
  failing.add(probeSeq + 1 + 2).add(probeSeq + 1 + 7);
  const before = k.sent.length;
  const res = s.batch(msgs, (i) => `Cannot add route 10.0.${i}.0/24`);
  assertEquals(k.sent.length - before, 3, "10 messages in writes of at most 4");
  assertEquals(res.map((e) => e?.code ?? "ok"), [
    "ok",
    "ok",
    "EEXIST",
    "ok",
    "ok",
    "ok",
    "ok",
    "EEXIST",
    "ok",
    "ok",
  ]);
  assertStringIncludes(res[7]!.message, "Cannot add route 10.0.7.0/24: kernel returned EEXIST");
  // In every write only the last message asks for an ACK.
  for (const w of k.sent.slice(before)) {
    const acks: boolean[] = [];
    forEachMessage(w, w.length, (span) => {
      acks.push((span.flags & C.NLM_F_ACK) !== 0);
    });
    assertEquals(acks.slice(0, -1).some(Boolean), false);
    assertEquals(acks.at(-1), true);
  }
});

Deno.test("a closed socket refuses calls and closes its transport once", () => {
  const [s, k] = sock(() => {});
  s.close();
  s.close();
  assert(k.closed);
  assertThrows(() => s.dump(linkDumpRequest(), "Cannot list links"), Error, "closed");
});

Deno.test("dump() drains a dump whose datagram was truncated and runs it again with a bigger buffer", () => {
  let calls = 0;
  const [s, k] = sock((req, _b, k) => {
    calls++;
    k.links(req.seq, Array.from({ length: 12 }, (_, i) => `if${i}`)); // > 256 bytes
    k.links(req.seq, ["last"], { done: true });
  }, { recvBuf: 256 });
  const names = s.dump(linkDumpRequest(), "Cannot list links").map((m) => linkFromMessage(m).name);
  assertEquals(names.length, 13);
  assertEquals(names.at(-1), "last");
  assertEquals(calls, 2);
  assertEquals(k.queue.length, 0, "the first, truncated dump was read to its end");
});

Deno.test("requestAsync() sends off-thread, refuses other calls until settled, closes late", async () => {
  let asyncSends = 0;
  const [s, k] = sock((req, _b, k) => k.ack(req.seq, req.type === C.RTM_DELLINK ? 19 : 0));
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  (k as NetlinkTransport).sendAsync = async (bytes: Uint8Array) => {
    asyncSends++;
    await gate;
    k.send(bytes);
  };
  const p = s.requestAsync(routeRequest("add", { dst: "10.0.0.0/8", oif: 1 }), "Cannot add route");
  const e = assertThrows(() => s.get(linkGetRequest("lo"), "Cannot find link lo"));
  assertStringIncludes(e.message, 'busy with "Cannot add route"');
  s.close(); // deferred: the kernel still has the request
  assertEquals(k.closed, false);
  release();
  await p;
  assertEquals([asyncSends, k.closed, k.queue.length], [1, true, 0]);
  // errors come back as from request(), and a transport without sendAsync works too
  const [s2, k2] = sock((req, _b, k) => k.ack(req.seq, 19));
  const err = await s2.requestAsync(routeRequest("del", { dst: "10.0.0.0/8" }), "Cannot x").then(
    () => undefined,
    (e) => e,
  );
  assert(err instanceof NetlinkError && err.code === "ENODEV", String(err));
  assertEquals(k2.sent.length, 1);
  s2.close();
});

Deno.test("batch() gives every op of a refused write that error and still sends the next write", () => {
  let writes = 0;
  const k = new FakeKernel((req, _b, k) => {
    if (req.flags & C.NLM_F_ACK) k.ack(req.seq);
  });
  const send = k.send.bind(k);
  k.send = (bytes: Uint8Array) => {
    if (writes++ === 1) throw new NetlinkError("sendto", 105); // ENOBUFS on the second write
    send(bytes);
  };
  const s = new NetlinkSocket(k, { batchMax: 4 });
  const msgs = Array.from(
    { length: 10 },
    (_, i) => routeRequest("add", { dst: `10.0.${i}.0/24`, oif: 1 }),
  );
  const res = s.batch(msgs, (i) => `Cannot add route 10.0.${i}.0/24`);
  assertEquals(res.map((e) => e?.code ?? "ok"), [
    "ok",
    "ok",
    "ok",
    "ok",
    "ENOBUFS",
    "ENOBUFS",
    "ENOBUFS",
    "ENOBUFS",
    "ok",
    "ok",
  ]);
  assertStringIncludes(res[5]!.message, "Cannot add route 10.0.5.0/24 (the batch write failed)");
  assertEquals(writes, 3);
});

Deno.test("batch() stops at a failed read: unanswered ops of that write and all later ones get it", () => {
  let writes = 0;
  const [s] = sock((req, _b, k) => {
    // Second write: the op at index 4 fails, then the socket read fails (no ACK queued).
    if (writes === 1 && (req.flags & C.NLM_F_ACK) === 0 && k.queue.length === 0) {
      k.ack(req.seq, 17);
    } else if (writes !== 1 && req.flags & C.NLM_F_ACK) k.ack(req.seq);
    if (req.flags & C.NLM_F_ACK) writes++;
  }, { batchMax: 4 });
  const msgs = Array.from(
    { length: 10 },
    (_, i) => routeRequest("add", { dst: `10.0.${i}.0/24`, oif: 1 }),
  );
  const res = s.batch(msgs, (i) => `Cannot add route 10.0.${i}.0/24`);
  assertEquals(res.map((e) => e?.code ?? "ok"), [
    "ok",
    "ok",
    "ok",
    "ok",
    "EEXIST",
    "EIO",
    "EIO",
    "EIO",
    "EIO",
    "EIO",
  ]);
  assertStringIncludes(res[9]!.message, "(reading the batch's answers failed: fake kernel");
  assertEquals(writes, 2, "nothing is sent after a failed read");
});

Deno.test("Handle.routeBatch() returns one error per op when a write fails, never throws", () => {
  const k = new FakeKernel(() => {});
  k.send = () => {
    throw new NetlinkError("sendto", 90); // EMSGSIZE
  };
  const h = new Handle(new NetlinkSocket(k));
  const res = h.routeBatch([
    { op: "replace", route: { dst: "10.1.0.0/24", dev: 3 } },
    { op: "del", route: { dst: "10.2.0.0/24", dev: 3 } },
  ]);
  assertEquals(res.map((e) => (e as NetlinkError | undefined)?.code), ["EMSGSIZE", "EMSGSIZE"]);
  assertStringIncludes(res[1]!.message, "Cannot delete route 10.2.0.0/24");
});

Deno.test("Handle.routeList() refuses a route message too short for its rtmsg", () => {
  const [s] = sock((req, _b, k) => {
    const w = new Writer();
    const off = w.beginMsg(C.RTM_NEWROUTE, C.NLM_F_MULTI, req.seq, 99);
    w.u8(C.AF_INET); // 1 byte of rtmsg instead of 12
    w.endMsg(off);
    const d = w.beginMsg(C.NLMSG_DONE, C.NLM_F_MULTI, req.seq, 99);
    w.s32(0);
    w.endMsg(d);
    k.queue.push(w.view().slice());
  });
  const h = new Handle(s);
  // Unguarded, the protocol and flags checks read the next message's bytes and drop this one.
  assertThrows(
    () => h.routeList({ family: 4, protocol: 100 }),
    RangeError,
    "Cannot decode rtmsg: 20 bytes is too short",
  );
  assertThrows(() => h.routeList({ family: 4 }), RangeError, "Cannot decode rtmsg: 20 bytes");
});
