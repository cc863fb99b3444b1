/**
 * Integration (root): a session with hold time 3 survives this process's event loop being busy
 * for longer than the hold time while the peer kept sending KEEPALIVEs (a long reconcile, GC, a
 * loaded 2-core machine): the KEEPALIVEs are in the socket, so the hold timer must not expire
 * before they are read (BIRD, too, looks at its socket before it expires a hold timer). The
 * peer is a separate process (python3) so that it keeps talking while skein is blocked.
 */
import { assertEquals } from "../testing/assert.ts";
import { Speaker } from "../backends/bgp/speaker.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";
import { openBytes } from "./_bgp_raw.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);

/** Connects, sends OPEN, then a KEEPALIVE every 0.3 s (reading whatever comes) for `secs`. */
const PEER = `
import socket, sys, time
open_hex, src, dst, port, secs = sys.argv[1:6]
s = socket.socket()
s.bind((src, 0))
s.connect((dst, int(port)))
s.sendall(bytes.fromhex(open_hex))
ka = b"\\xff" * 16 + b"\\x00\\x13\\x04"
s.settimeout(0.05)
end = time.time() + float(secs)
while time.time() < end:
    try:
        if s.recv(65536) == b"":
            sys.exit("the speaker closed the connection")
    except socket.timeout:
        pass
    s.sendall(ka)
    time.sleep(0.3)
`;

function haveNsenterPython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["-c", "pass"] }).outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "hold time 3: the event loop busy for 4.5 s while the peer's KEEPALIVEs wait in the socket does not expire the hold timer",
  ignore: !haveNsenterPython(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withNamespaces(["node", "peer"], async (ns) => {
      ip(
        ns.node!,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns.peer!,
      );
      ip(ns.node!, "addr", "add", "192.168.77.1/24", "dev", "eth0");
      ip(ns.peer!, "addr", "add", "192.168.77.2/24", "dev", "eth0");
      for (const n of [ns.node!, ns.peer!]) ip(n, "link", "set", "eth0", "up");
      const logs: string[] = [];
      const sp = new Speaker({
        netns: ns.node!,
        localAs: 64512,
        routerId: "192.168.77.1",
        port: PORT,
        holdTime: 3,
        families: [1],
        idleHoldMs: 300,
        log: (l) => logs.push(l),
      });
      sp.setPeers([{
        address: "192.168.77.2",
        asNumber: 65009,
        policy: { import: true, export: true },
        source: "config",
        passive: true,
      }]);
      sp.setOwnPrefixes(["10.244.1.0/24"]);
      sp.start();
      const open = Array.from(
        openBytes({ asNumber: 65009, routerId: "192.168.77.2", holdTime: 3 }),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      const peer = new Deno.Command("nsenter", {
        args: [
          `--net=${ns.peer}`,
          "python3",
          "-c",
          PEER,
          open,
          "192.168.77.2",
          "192.168.77.1",
          String(PORT),
          "14",
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      try {
        const end = Date.now() + 20000;
        while (sp.status()[0]?.state !== "Established") {
          if (Date.now() > end) throw new Error(`no session:\n${logs.join("\n")}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const since = sp.status()[0]!.since;
        await new Promise((r) => setTimeout(r, 1000));
        const busyUntil = Date.now() + 4500; // longer than the hold time, on purpose
        while (Date.now() < busyUntil) { /* a long synchronous job */ }
        await new Promise((r) => setTimeout(r, 2500));
        const st = sp.status()[0]!;
        assertEquals(
          [st.state, st.since, st.lastNotification?.name],
          ["Established", since, undefined],
          logs.join("\n"),
        );
      } finally {
        sp.close();
        try {
          peer.kill("SIGKILL");
        } catch { /* done */ }
        await peer.output();
      }
    });
  },
});
