/**
 * Integration (root): net/tcp.ts sockets live in the namespace they were opened for, carry
 * bytes both ways, and honour RFC 2385 MD5 keys (a wrong key never connects).
 */
import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { NetlinkError } from "../net/errors.ts";
import { TcpSocket } from "../net/tcp.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);

async function acceptOne(l: TcpSocket): Promise<TcpSocket> {
  for (;;) {
    const c = l.accept();
    if (c) return c;
    assert(await l.wait("read", 5000), "no connection within 5 s");
  }
}

async function readAll(s: TcpSocket, want: number): Promise<Uint8Array> {
  const out: number[] = [];
  const buf = new Uint8Array(4096);
  while (out.length < want) {
    const n = s.recv(buf);
    if (n === 0) break;
    if (n < 0) {
      assert(await s.wait("read", 5000), "nothing to read within 5 s");
      continue;
    }
    out.push(...buf.subarray(0, n));
  }
  return Uint8Array.from(out);
}

Deno.test("TcpSocket: listen and connect inside a namespace, bytes both ways, addresses", async () => {
  await withNamespaces(["a"], async (ns) => {
    ip(ns.a!, "link", "set", "lo", "up");
    const l = TcpSocket.listen({ netns: ns.a, address: "127.0.0.1", port: PORT });
    try {
      const c = await TcpSocket.connect({
        netns: ns.a,
        remote: { address: "127.0.0.1", port: PORT },
      });
      const s = await acceptOne(l);
      assertEquals(s.remote(), c.local());
      assertEquals(c.remote(), { address: "127.0.0.1", port: PORT });
      assertEquals(c.send(Uint8Array.of(1, 2, 3)), 3);
      assertEquals([...await readAll(s, 3)], [1, 2, 3]);
      s.send(Uint8Array.of(9));
      assertEquals([...await readAll(c, 1)], [9]);
      c.close();
      assertEquals(
        s.recv(new Uint8Array(8)) === 0 ||
          (await s.wait("read", 2000) && s.recv(new Uint8Array(8)) === 0),
        true,
      );
      s.close();
    } finally {
      l.close();
    }
  });
});

Deno.test("TcpSocket: nothing listens in the root namespace; connecting there from outside fails", async () => {
  await withNamespaces(["b"], async (ns) => {
    ip(ns.b!, "link", "set", "lo", "up");
    const l = TcpSocket.listen({ netns: ns.b, address: "127.0.0.1", port: PORT + 1 });
    try {
      const e = await assertRejects(
        () => TcpSocket.connect({ remote: { address: "127.0.0.1", port: PORT + 1 } }),
        NetlinkError,
      );
      assertEquals(e.code, "E111");
    } finally {
      l.close();
    }
  });
});

Deno.test("TcpSocket: an MD5 key on both ends connects; a wrong key does not", async () => {
  await withNamespaces(["m"], async (ns) => {
    ip(ns.m!, "link", "set", "lo", "up");
    ip(ns.m!, "addr", "add", "127.0.0.2/8", "dev", "lo");
    const l = TcpSocket.listen({ netns: ns.m, address: "127.0.0.1", port: PORT + 2 });
    try {
      l.setMd5("127.0.0.2", "s3cret");
      const ok = await TcpSocket.connect({
        netns: ns.m,
        local: "127.0.0.2",
        remote: { address: "127.0.0.1", port: PORT + 2 },
        md5Key: "s3cret",
      });
      const s = await acceptOne(l);
      ok.send(Uint8Array.of(7));
      assertEquals([...await readAll(s, 1)], [7]);
      ok.close();
      s.close();
      await assertRejects(
        () =>
          TcpSocket.connect({
            netns: ns.m,
            local: "127.0.0.2",
            remote: { address: "127.0.0.1", port: PORT + 2 },
            md5Key: "wrong",
            timeoutMs: 700,
          }),
        NetlinkError,
      );
    } finally {
      l.close();
    }
  });
});
