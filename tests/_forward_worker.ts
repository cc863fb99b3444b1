/**
 * Worker side of forwardIntoNetns() (tests/_kubelet.ts): listens on 127.0.0.1:port inside a
 * network namespace and forwards every connection to 127.0.0.1:port of the root namespace. It
 * runs on its own thread so the test's synchronous calls (kubectl, ctr) never stall the bytes a
 * kubelet is waiting for.
 *
 * Messages in: `{ netns, port }` (start), `"close"`. Out: `"ready"`, `{ error }`, `"closed"`.
 *
 * @module
 */
import { withNetns } from "../net/netns.ts";

const open = new Set<Deno.Conn>();
const pending = new Set<Promise<void>>();
let listener: Deno.TcpListener | undefined;

function closeQuietly(c: { close(): void } | undefined): void {
  try {
    c?.close();
  } catch {
    // already closed
  }
}

async function pipe(c: Deno.Conn, port: number): Promise<void> {
  let up: Deno.Conn | undefined;
  try {
    up = await Deno.connect({ hostname: "127.0.0.1", port });
    open.add(up);
    await Promise.allSettled([c.readable.pipeTo(up.writable), up.readable.pipeTo(c.writable)]);
  } catch {
    // the apiserver went away or a side closed: drop the connection
  } finally {
    for (const x of [c, up]) {
      if (!x) continue;
      open.delete(x);
      closeQuietly(x);
    }
  }
}

async function serve(l: Deno.TcpListener, port: number): Promise<void> {
  try {
    for await (const c of l) {
      open.add(c);
      const p = pipe(c, port);
      pending.add(p);
      p.finally(() => pending.delete(p));
    }
  } catch {
    // listener closed
  }
}

let serving: Promise<void> | undefined;
self.onmessage = async (e: MessageEvent) => {
  if (e.data === "close") {
    closeQuietly(listener);
    for (const c of open) closeQuietly(c);
    await serving;
    await Promise.allSettled([...pending]);
    self.postMessage("closed");
    return;
  }
  const { netns, port } = e.data as { netns: string; port: number };
  try {
    // Deno.listen is synchronous: the socket is made (and stays) in the node's namespace.
    listener = withNetns(netns, () => Deno.listen({ hostname: "127.0.0.1", port }));
    serving = serve(listener, port);
    self.postMessage("ready");
  } catch (err) {
    self.postMessage({ error: (err as Error).message });
  }
};
