/**
 * The loopback forwarder of a `--datastore kubernetes` lab (`skein lab forward`): accepts on
 * 127.0.0.1 in the root namespace, where the lab's daemons run, and connects to the apiserver
 * on the lab's segment from inside the control-plane namespace (a libc socket opened inside
 * setns, net/tcp.ts). The root namespace gets no link, address or route for it.
 *
 * @module
 */
import { TcpSocket } from "../net/tcp.ts";
import type { TcpEndpoint } from "../net/tcp.ts";
import { atomicWriteFile } from "../node/atomic_write.ts";

/** What runForwarder() needs. */
export interface ForwarderOptions {
  /** Where to accept, in this process's namespace ("127.0.0.1", port 0: any free port). */
  listen: { hostname: string; port: number };
  /** The namespace the upstream connections are made from ("/run/netns/LAB-cp"). */
  netns: string;
  /** The upstream address, as seen from `netns`. */
  target: TcpEndpoint;
  /** Written with "HOST:PORT" once it accepts (atomically). */
  addrFile?: string;
  /** Stops accepting and closes every connection. */
  signal?: AbortSignal;
  /** Called with "HOST:PORT" once it accepts (an in-process user's addrFile). */
  onListening?: (addr: string) => void;
}

const BUF = 64 * 1024;

function closeQuietly(c: { close(): void } | undefined): void {
  try {
    c?.close();
  } catch {
    // already closed
  }
}

/** Client → upstream: every byte read is sent, waiting while the send buffer is full. */
async function toUpstream(c: Deno.Conn, up: TcpSocket): Promise<void> {
  const buf = new Uint8Array(BUF);
  for (;;) {
    const n = await c.read(buf);
    if (n === null) return;
    let off = 0;
    while (off < n) {
      off += up.send(buf.subarray(off, n));
      if (off < n && !(await up.wait("write"))) return;
    }
  }
}

/** Upstream → client, until the upstream's end of stream (or its close()). */
async function fromUpstream(up: TcpSocket, c: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(BUF);
  for (;;) {
    const n = up.recv(buf);
    if (n === 0) return;
    if (n < 0) {
      if (!(await up.wait("read"))) return;
      continue;
    }
    let off = 0;
    while (off < n) off += await c.write(buf.subarray(off, n));
  }
}

/** One connection: relayed until either side ends, then both are closed. */
async function relay(c: Deno.Conn, opts: ForwarderOptions): Promise<void> {
  let up: TcpSocket | undefined;
  try {
    up = await TcpSocket.connect({ netns: opts.netns, remote: opts.target, timeoutMs: 5000 });
    const a = toUpstream(c, up), b = fromUpstream(up, c);
    await Promise.race([a, b]);
  } catch {
    // the apiserver is down or a side reset: the client sees its connection closed
  } finally {
    closeQuietly(up);
    closeQuietly(c);
  }
}

/**
 * Accepts on `listen` and relays each connection to `target` from inside `netns` until
 * `signal` aborts. Resolves with the address it listened on once it stops.
 */
export async function runForwarder(opts: ForwarderOptions): Promise<string> {
  const l = Deno.listen({ hostname: opts.listen.hostname, port: opts.listen.port });
  const addr = `${l.addr.hostname}:${l.addr.port}`;
  const open = new Set<Deno.Conn>();
  opts.signal?.addEventListener("abort", () => {
    closeQuietly(l);
    for (const c of open) closeQuietly(c);
  });
  if (opts.addrFile) atomicWriteFile(opts.addrFile, addr + "\n");
  opts.onListening?.(addr);
  try {
    for await (const c of l) {
      open.add(c);
      relay(c, opts).finally(() => open.delete(c));
    }
  } catch {
    // listener closed
  }
  return addr;
}

/** Parses "HOST:PORT" (IPv4) for `skein lab forward`; TypeError when it is not one. */
export function parseHostPort(s: string, what: string): { hostname: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) > 65535) {
    throw new TypeError(`${what} must be IPv4-ADDRESS:PORT, got ${JSON.stringify(s)}`);
  }
  return { hostname: m[1]!, port: Number(m[2]) };
}
