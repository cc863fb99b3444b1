import { assert, assertEquals } from "../testing/assert.ts";
import { serveBounded } from "./http_server.ts";

const LIMITS = { headTimeoutMs: 300, connectionTimeoutMs: 1_000, maxHeadBytes: 1024 };

function start(limits: Record<string, number> = LIMITS) {
  return serveBounded({ hostname: "127.0.0.1", port: 0, limits }, (req) => {
    const u = new URL(req.url);
    if (u.pathname === "/boom") throw new Error("boom");
    return new Response(`${req.method} ${u.pathname}\n`, { headers: { "x-a": "b" } });
  });
}

/** Sends `text`, returns everything the server answers until it closes. */
async function exchange(port: number, text: string): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await c.write(new TextEncoder().encode(text));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    while (true) {
      // A server that closes without reading what was sent resets the connection: same end.
      const n = await c.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(new Uint8Array(chunks.flatMap((x) => [...x])));
  } finally {
    c.close();
  }
}

Deno.test("serveBounded() answers GET and HEAD and closes; fetch() works against it", async () => {
  const s = start();
  try {
    const get = await exchange(s.addr.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert(get.startsWith("HTTP/1.1 200 OK\r\n"), get);
    assert(get.includes("x-a: b\r\n") && get.includes("connection: close\r\n"), get);
    assert(get.endsWith("\r\n\r\nGET /metrics\n"), get);
    const head = await exchange(s.addr.port, "HEAD /x HTTP/1.0\r\n\r\n");
    assert(
      head.startsWith("HTTP/1.1 200 OK") &&
        head.endsWith("content-length: 0\r\nconnection: close\r\n\r\n"),
      head,
    );
    const r = await fetch(`http://127.0.0.1:${s.addr.port}/readyz`);
    assertEquals(await r.text(), "GET /readyz\n");
  } finally {
    await s.shutdown();
  }
});

Deno.test("serveBounded() refuses a huge head (431), garbage (400), a throwing handler (500)", async () => {
  const s = start();
  try {
    const big = await exchange(s.addr.port, `GET / HTTP/1.1\r\nX: ${"a".repeat(4096)}\r\n\r\n`);
    assert(big.startsWith("HTTP/1.1 431 "), big);
    assert((await exchange(s.addr.port, "hello\r\n\r\n")).startsWith("HTTP/1.1 400 "));
    assert((await exchange(s.addr.port, "GET /boom HTTP/1.1\r\n\r\n")).startsWith("HTTP/1.1 500 "));
  } finally {
    await s.shutdown();
  }
});

Deno.test("serveBounded() closes slowloris and idle clients; others are served meanwhile", async () => {
  const s = start();
  try {
    const slow = await Deno.connect({ hostname: "127.0.0.1", port: s.addr.port });
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: s.addr.port });
    const t0 = performance.now();
    await slow.write(new TextEncoder().encode("GET / HTTP/1.1\r\n"));
    let closed = false;
    const reader = slow.read(new Uint8Array(16)).catch(() => null).then((n) => {
      closed = true;
      return n;
    });
    // Trickle a header line every 100 ms: the head deadline still closes it.
    for (let i = 0; i < 40 && !closed; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        await slow.write(new TextEncoder().encode(`X-${i}: y\r\n`));
      } catch {
        break;
      }
      if (i === 1) {
        const ok = await exchange(s.addr.port, "GET /during HTTP/1.1\r\n\r\n");
        assert(ok.endsWith("GET /during\n"), "served while a slowloris client is connected");
      }
    }
    assertEquals(await reader, null, "slowloris connection closed without an answer");
    assert(performance.now() - t0 < 3_000, "closed by the head deadline, not by the test");
    assertEquals(await idle.read(new Uint8Array(16)).catch(() => null), null);
    slow.close();
    idle.close();
  } finally {
    await s.shutdown();
  }
});

Deno.test("serveBounded() serves at most maxConnections at once, then recovers", async () => {
  const s = start({
    ...LIMITS,
    headTimeoutMs: 1_000,
    connectionTimeoutMs: 2_000,
    maxConnections: 3,
  });
  try {
    const hogs = await Promise.all(
      [0, 1, 2].map(() => Deno.connect({ hostname: "127.0.0.1", port: s.addr.port })),
    );
    await new Promise((r) => setTimeout(r, 250)); // accepted
    // The fourth connection is closed at once (no answer), not queued behind the hogs.
    assertEquals(await exchange(s.addr.port, "GET / HTTP/1.1\r\n\r\n"), "");
    // Once the head deadline closed the hogs, the server answers again.
    await new Promise((r) => setTimeout(r, 1_200));
    assert((await exchange(s.addr.port, "GET /again HTTP/1.1\r\n\r\n")).endsWith("GET /again\n"));
    for (const h of hogs) h.close();
  } finally {
    await s.shutdown();
  }
});
