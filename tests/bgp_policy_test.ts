/**
 * Integration (root): per-peer rules against real BIRD 2 (RFC 8212 and RFC 2918). An eBGP peer
 * configured without import/export rules gets nothing either way; giving it rules changes the
 * session's policy live: skein sends ROUTE-REFRESH and BIRD's routes come again (BIRD sends a
 * route once per session unless asked: only the refresh can bring them back) with no session
 * reset; a ROUTE-REFRESH from BIRD (`birdc reload in`) is answered with skein's Adj-RIB-Out.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { configPeer } from "../backends/bgp/config.ts";
import { Speaker } from "../backends/bgp/speaker.ts";
import { haveBird, startBird } from "./_bird.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 15000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TOR = `router id 192.168.77.254;
protocol device {}
protocol static { ipv4; route 10.50.0.0/16 blackhole; route 10.51.1.0/24 blackhole; }
protocol bgp node1 {
  local 192.168.77.254 port ${PORT} as 65000;
  neighbor 192.168.77.1 port ${PORT} as 64512;
  hold time 9;
  connect retry time 1;
  error wait time 1, 2;
  ipv4 { import all; export where source = RTS_STATIC; };
}
`;

Deno.test({
  name:
    "eBGP rules: none without them (RFC 8212); new rules apply live by ROUTE-REFRESH; BIRD's refresh is answered",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      ip(ns.node!, "link", "set", "lo", "up");
      ip(ns.tor!, "link", "set", "lo", "up");
      ip(ns.node!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.tor!);
      ip(ns.node!, "addr", "add", "192.168.77.1/24", "dev", "eth0");
      ip(ns.tor!, "addr", "add", "192.168.77.254/24", "dev", "eth0");
      ip(ns.node!, "link", "set", "eth0", "up");
      ip(ns.tor!, "link", "set", "eth0", "up");
      const bird = await startBird({ netns: ns.tor!, config: TOR });
      const logs: string[] = [];
      const sp = new Speaker({
        netns: ns.node!,
        localAs: 64512,
        routerId: "192.168.77.1",
        port: PORT,
        holdTime: 9,
        families: [1],
        connectRetryMs: 1000,
        idleHoldMs: 300,
        log: (l) => logs.push(l),
      });
      const tor = { address: "192.168.77.254", asNumber: 65000 };
      try {
        sp.setPeers([configPeer(tor, 0, 64512)]);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        await until("Established", () => sp.status()[0]?.state === "Established" || undefined);
        await bird.waitFor("show protocols all node1", /Routes:\s+0 imported, 2 exported/);
        const st0 = sp.status()[0]!;
        assertEquals([st0.prefixesReceived, st0.prefixesAdvertised, st0.policy], [0, 0, {
          import: "none",
          export: "none",
        }]);
        assertStringIncludes(st0.policyNote!, "backend.peers[0].import / .export");
        assert(logs.some((l) => l.includes("RFC 8212")), logs.join("\n"));
        assertStringIncludes(
          await bird.birdc("show", "route", "10.244.1.0/24"),
          "Network not found",
        );

        const since = st0.since;
        sp.setPeers([configPeer({ ...tor, import: ["10.50.0.0/16"], export: "all" }, 0, 64512)]);
        const routes = await until(
          "BIRD's routes again after ROUTE-REFRESH",
          () => sp.routes().length ? sp.routes() : undefined,
        );
        assertEquals(routes.map((r) => r.prefix), ["10.50.0.0/16"], "10.51.1.0/24 is outside");
        await bird.waitFor("show route 10.244.1.0/24", /via 192\.168\.77\.1/);
        const st1 = sp.status()[0]!;
        assertEquals([st1.state, st1.since, st1.refreshesSent], ["Established", since, 1]);
        assert(logs.some((l) => l.includes("ROUTE-REFRESH sent")), logs.join("\n"));

        const sent = st1.updatesSent;
        await bird.birdc("reload", "in", "node1");
        await until(
          "skein to answer BIRD's ROUTE-REFRESH",
          () => sp.status()[0]!.refreshesReceived === 1 || undefined,
        );
        await until(
          "the Adj-RIB-Out sent again",
          () => sp.status()[0]!.updatesSent > sent || undefined,
        );
        await bird.waitFor("show route 10.244.1.0/24", /via 192\.168\.77\.1/);
        assertEquals(sp.status()[0]!.since, since, "no session reset");
      } finally {
        sp.close();
        await bird.stop();
      }
    });
  },
});
