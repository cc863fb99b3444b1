/**
 * The BGP listener when accept() keeps failing (EMFILE: the process is out of file descriptors;
 * the connection stays queued, so the listener stays readable): the speaker pauses between
 * tries and logs rarely, instead of spinning a CPU and flooding the log. Loopback only.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { Speaker } from "../backends/bgp/speaker.ts";
import { TcpSocket } from "../net/tcp.ts";

Deno.test({
  name: "bgp: a failing accept() backs off and is logged once, then accepts again",
  // The loop's pause may still be pending when the speaker closes.
  sanitizeOps: false,
  async fn() {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const logs: string[] = [];
    const sp = new Speaker({
      localAs: 64512,
      routerId: "127.0.0.1",
      listenAddress: "127.0.0.1",
      port,
      holdTime: 9,
      families: [1],
      log: (l) => logs.push(l),
    });
    const accept = TcpSocket.prototype.accept;
    let calls = 0;
    TcpSocket.prototype.accept = function (this: TcpSocket) {
      calls++;
      throw new Error("Cannot accept a TCP connection: Too many open files (EMFILE)");
    };
    let conn: Deno.Conn | undefined;
    try {
      sp.start();
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await new Promise((r) => setTimeout(r, 700));
      const failed = logs.filter((l) => l.includes("accept failed"));
      assert(
        calls >= 2 && calls <= 12,
        `${calls} accept() calls in 700 ms (a spin makes thousands)`,
      );
      assertEquals(failed.length, 1, failed.join("\n"));
      TcpSocket.prototype.accept = accept;
      // The queued connection is taken once accept() works again: not a peer, so it is closed.
      const n = await Promise.race([
        conn.read(new Uint8Array(64)),
        new Promise<string>((r) => setTimeout(() => r("timeout"), 5000)),
      ]);
      assertEquals(n, null, "the speaker closes a connection from a stranger");
    } finally {
      TcpSocket.prototype.accept = accept;
      conn?.close();
      sp.close();
    }
  },
});
