/**
 * A hostile HTTP proxy for datastore tests: it sits on loopback between a store client and a
 * real etcd or kube-apiserver and, on demand, answers garbage, answers nothing, or goes silent on
 * the streams already open (a half-open connection: the server's bytes never arrive, nothing
 * closes), the way a broken load balancer, a crashed host or a partition behaves.
 *
 * ```ts ignore
 * const proxy = startHostileProxy({ upstream: etcd.endpoint });
 * proxy.mode = "garbage";            // every new request: 200 with an HTML body
 * proxy.silence();                   // every open stream stops delivering, forever
 * await proxy.close();
 * ```
 *
 * @module
 */

/** What the proxy does with a new request. */
export type ProxyMode =
  /** Forward it and relay the answer. */
  | "pass"
  /** 200 with an HTML page (a captive portal, a misrouted load balancer). */
  | "garbage"
  /** 200 with JSON cut in the middle. */
  | "truncated"
  /** 200 with a JSON object of the wrong shape. */
  | "wrong-shape"
  /** 503 with a text body. */
  | "unavailable"
  /** Accept it and never answer. */
  | "hang";

/** A running proxy. */
export interface HostileProxy {
  /** "http://127.0.0.1:PORT". */
  url: string;
  /** What new requests get (default "pass"). */
  mode: ProxyMode;
  /** Only requests whose path matches get `mode`; the others pass (default: every request). */
  match?: (path: string) => boolean;
  /** Requests seen, by path without query. */
  seen: string[];
  /** Streams open now stop delivering (their bytes are dropped; nothing closes them). */
  silence(): void;
  /** The next relayed answer whose path matches starts with `text` (then the real body). */
  inject(text: string, match: (path: string) => boolean): void;
  close(): Promise<void>;
}

/** Starts a proxy to `upstream` (http or https; `caCert` for the latter). */
export function startHostileProxy(
  opts: { upstream: string; caCert?: string },
): HostileProxy {
  const closing = Promise.withResolvers<void>();
  const client = opts.caCert ? Deno.createHttpClient({ caCerts: [opts.caCert] }) : undefined;
  let generation = 0;
  let injection: { text: string; match: (path: string) => boolean } | undefined;
  const forever = () => closing.promise;

  const relay = (body: ReadableStream<Uint8Array>, prefix?: string): ReadableStream<Uint8Array> => {
    const born = generation;
    const reader = body.getReader();
    let first = prefix !== undefined;
    return new ReadableStream<Uint8Array>({
      async pull(ctl) {
        if (first) {
          first = false;
          ctl.enqueue(new TextEncoder().encode(prefix));
          return;
        }
        if (generation !== born) {
          await forever(); // silenced: this stream never delivers again
          ctl.close();
          return;
        }
        const { done, value } = await Promise.race([
          reader.read(),
          forever().then(() => ({ done: true, value: undefined })),
        ]);
        if (generation !== born) {
          await forever();
          ctl.close();
        } else if (done) ctl.close();
        else ctl.enqueue(value);
      },
      cancel() {
        reader.cancel().catch(() => {});
      },
    });
  };

  const p: HostileProxy = {
    url: "",
    mode: "pass",
    seen: [],
    silence() {
      generation++;
    },
    inject(text, match) {
      injection = { text, match };
    },
    async close() {
      closing.resolve();
      await server.shutdown();
      client?.close();
    },
  };

  const handler = async (req: Request): Promise<Response> => {
    const u = new URL(req.url);
    p.seen.push(u.pathname);
    const hostile = p.mode !== "pass" && (p.match?.(u.pathname + u.search) ?? true);
    if (hostile) {
      await req.body?.cancel();
      switch (p.mode) {
        case "garbage":
          return new Response("<html><body>502 Bad Gateway</body></html>", {
            status: 200,
            headers: { "content-type": "text/html" },
          });
        case "truncated":
          return new Response('{"kind":"NodeList","metadata":{"resourceVersion":"1"},"items":[{', {
            status: 200,
            headers: { "content-type": "application/json" },
          });
        case "wrong-shape":
          return new Response('{"kvs":"nope","items":{"a":1},"metadata":{}}', {
            status: 200,
            headers: { "content-type": "application/json" },
          });
        case "unavailable":
          return new Response("upstream connect error or disconnect/reset before headers", {
            status: 503,
          });
        default:
          await forever();
          return new Response("closed", { status: 503 });
      }
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    let up: Response;
    try {
      up = await fetch(opts.upstream + u.pathname + u.search, {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
        client,
      });
    } catch (e) {
      return new Response(`proxy: ${(e as Error).message}`, { status: 502 });
    }
    let prefix: string | undefined;
    if (injection && injection.match(u.pathname + u.search)) {
      prefix = injection.text;
      injection = undefined;
    }
    const out = new Headers(up.headers);
    out.delete("content-length");
    out.delete("content-encoding"); // fetch decoded it
    return new Response(up.body ? relay(up.body, prefix) : null, {
      status: up.status,
      headers: out,
    });
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    // An upstream that dies mid-answer (a test kills it) is expected here, not worth a log line.
    onError: () => new Response("proxy: upstream failed", { status: 502 }),
  }, handler);
  p.url = `http://127.0.0.1:${server.addr.port}`;
  return p;
}
