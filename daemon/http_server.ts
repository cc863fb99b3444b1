/**
 * A small HTTP/1.1 server with hard bounds, for the daemon's health and metrics endpoint: a
 * request head larger than `maxHeadBytes` gets 431, a client that has not sent its whole head
 * within `headTimeoutMs` (a slowloris client, or an idle connection) is closed, a connection is
 * never held longer than `connectionTimeoutMs` (a client that does not read its answer), and at
 * most `maxConnections` are served at once (more are closed at once). Every answer closes its
 * connection. `Deno.serve` bounds the head size but keeps a trickling or idle client forever.
 * Only GET/HEAD-style requests are expected: a request body is never read.
 *
 * @module
 */

/** The bounds of serveBounded(). */
export interface HttpLimits {
  /** Largest request head (request line and headers), bytes. Default 8 KiB. */
  maxHeadBytes: number;
  /** Time a client has to send its whole request head, ms. Default 5 s. */
  headTimeoutMs: number;
  /** Longest a connection lives, answer included, ms. Default 15 s. */
  connectionTimeoutMs: number;
  /** Connections served at once. Default 64. */
  maxConnections: number;
}

/** The default bounds. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxHeadBytes: 8 * 1024,
  headTimeoutMs: 5_000,
  connectionTimeoutMs: 15_000,
  maxConnections: 64,
};

/** A running server. */
export interface BoundedServer {
  /** The address actually bound. */
  addr: Deno.NetAddr;
  /** Stops accepting, closes open connections. */
  shutdown(): Promise<void>;
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const HEAD_END = new Uint8Array([13, 10, 13, 10]);

function indexOfHeadEnd(buf: Uint8Array, len: number, from: number): number {
  outer: for (let i = Math.max(0, from - 3); i + 4 <= len; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== HEAD_END[j]) continue outer;
    return i;
  }
  return -1;
}

/** Reads the request head; undefined when the client closed first. Throws "431" when too big. */
async function readHead(conn: Deno.Conn, max: number): Promise<string | undefined> {
  const buf = new Uint8Array(max + 4);
  let len = 0;
  while (true) {
    if (len >= buf.length) throw new Error("431");
    const n = await conn.read(buf.subarray(len));
    if (n === null) return undefined;
    const end = indexOfHeadEnd(buf, len + n, len);
    len += n;
    if (end >= 0) {
      if (end > max) throw new Error("431");
      return new TextDecoder().decode(buf.subarray(0, end));
    }
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

async function answer(conn: Deno.Conn, res: Response, head: boolean): Promise<void> {
  const body = head ? new Uint8Array() : new Uint8Array(await res.arrayBuffer());
  let text = `HTTP/1.1 ${res.status} ${REASONS[res.status] ?? res.statusText}\r\n`;
  res.headers.forEach((v, k) => {
    if (k !== "content-length" && k !== "connection") text += `${k}: ${v}\r\n`;
  });
  text += `content-length: ${head ? 0 : body.length}\r\nconnection: close\r\n\r\n`;
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + body.length);
  out.set(bytes);
  out.set(body, bytes.length);
  await writeAll(conn, out);
}

/** The request line's method and target; undefined when it is not `METHOD /path HTTP/1.x`. */
function parseRequestLine(head: string): { method: string; target: string } | undefined {
  const line = head.slice(0, head.indexOf("\r\n") >>> 0);
  const m = /^([A-Z]{1,16}) (\/[!-~]*) HTTP\/1\.[01]$/.exec(line);
  return m ? { method: m[1]!, target: m[2]! } : undefined;
}

async function serveConn(
  conn: Deno.Conn,
  limits: HttpLimits,
  handler: (req: Request) => Response | Promise<Response>,
  host: string,
): Promise<void> {
  let headDone = false;
  const headTimer = setTimeout(() => {
    if (!headDone) conn.close();
  }, limits.headTimeoutMs);
  const lifeTimer = setTimeout(() => conn.close(), limits.connectionTimeoutMs);
  try {
    let head: string | undefined;
    try {
      head = await readHead(conn, limits.maxHeadBytes);
    } catch (e) {
      headDone = true;
      if ((e as Error).message === "431") {
        await answer(conn, new Response("request head too large\n", { status: 431 }), false);
      }
      return;
    }
    headDone = true;
    if (head === undefined) return;
    const rl = parseRequestLine(head);
    if (!rl) {
      await answer(conn, new Response("bad request\n", { status: 400 }), false);
      return;
    }
    let res: Response;
    try {
      res = await handler(new Request(`http://${host}${rl.target}`, { method: rl.method }));
    } catch (e) {
      res = new Response(`internal error: ${(e as Error).message}\n`, { status: 500 });
    }
    await answer(conn, res, rl.method === "HEAD");
  } catch {
    // The client went away or a timer closed the connection.
  } finally {
    clearTimeout(headTimer);
    clearTimeout(lifeTimer);
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Serves `handler` on `hostname:port` within `limits` (see the module doc). The handler gets a
 * `Request` with the method and URL only (no headers, no body).
 */
export function serveBounded(
  opts: { hostname: string; port: number; limits?: Partial<HttpLimits> },
  handler: (req: Request) => Response | Promise<Response>,
): BoundedServer {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...opts.limits };
  const listener = Deno.listen({ hostname: opts.hostname, port: opts.port, transport: "tcp" });
  const addr = listener.addr;
  const host = `${addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname}:${addr.port}`;
  const open = new Set<Deno.Conn>();
  const loop = (async () => {
    try {
      for await (const conn of listener) {
        if (open.size >= limits.maxConnections) {
          conn.close();
          continue;
        }
        open.add(conn);
        serveConn(conn, limits, handler, host).finally(() => open.delete(conn));
      }
    } catch {
      // listener closed by shutdown()
    }
  })();
  return {
    addr,
    async shutdown() {
      try {
        listener.close();
      } catch {
        // already closed
      }
      for (const c of open) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await loop;
    },
  };
}
