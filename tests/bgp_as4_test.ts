/**
 * Integration (root): RFC 6793 against real BIRD 2 configured without the 4-octet AS capability
 * (`enable as4 off`, an OLD speaker), with skein as route reflector (AS 64512) for two iBGP
 * clients: BIRD "old" (as4 off) and BIRD "new" (4-octet). Each announces a route whose path
 * holds a 4-octet AS. From old it arrives as AS_TRANS in AS_PATH plus AS4_PATH, and skein
 * rebuilds the path (and reflects the real one to new); to old skein sends AS_TRANS plus
 * AS4_PATH, from which BIRD rebuilds the 4-octet path (without AS4_PATH it would show 23456).
 */
import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
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

function client(o: { me: string; prefix: string; as: number; extra: string }): string {
  return `router id ${o.me};
protocol device {}
protocol direct { ipv4; }
protocol static { ipv4; route ${o.prefix} blackhole; }
protocol bgp skein {
  local ${o.me} port ${PORT} as 64512;
  neighbor ${o.me.replace(/\.254$/, ".1")} port ${PORT} as 64512;
  ${o.extra}
  hold time 9;
  connect retry time 1;
  error wait time 1, 2;
  ipv4 { import all; export filter { if source != RTS_STATIC then reject; bgp_path.prepend(${o.as}); accept; }; };
}
`;
}

Deno.test({
  name: "RFC 6793 with BIRD as4 off: AS4_PATH rebuilt by skein from it, and sent by skein to it",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "old", "new"], async (ns) => {
      for (const n of [ns.node!, ns.old!, ns.new!]) ip(n, "link", "set", "lo", "up");
      const wire = (peer: string, dev: string, net: string) => {
        ip(ns.node!, "link", "add", dev, "type", "veth", "peer", "name", "eth0", "netns", peer);
        ip(ns.node!, "addr", "add", `${net}.1/24`, "dev", dev);
        ip(peer, "addr", "add", `${net}.254/24`, "dev", "eth0");
        ip(ns.node!, "link", "set", dev, "up");
        ip(peer, "link", "set", "eth0", "up");
      };
      wire(ns.old!, "eth0", "192.168.77");
      wire(ns.new!, "eth1", "192.168.78");
      const old = await startBird({
        netns: ns.old!,
        config: client({
          me: "192.168.77.254",
          prefix: "10.50.0.0/16",
          as: 4200000002,
          extra: "enable as4 off;",
        }),
      });
      const neu = await startBird({
        netns: ns.new!,
        config: client({ me: "192.168.78.254", prefix: "10.60.0.0/16", as: 4200000003, extra: "" }),
      });
      const sp = new Speaker({
        netns: ns.node!,
        localAs: 64512,
        routerId: "192.168.77.1",
        port: PORT,
        holdTime: 9,
        clusterId: "1.0.0.1",
        families: [1],
        connectRetryMs: 1000,
        idleHoldMs: 300,
      });
      try {
        sp.setPeers([
          configPeer({ address: "192.168.77.254", asNumber: 64512 }, 0, 64512),
          configPeer({ address: "192.168.78.254", asNumber: 64512 }, 1, 64512),
        ]);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        const fromOld = await until("old's route", () => sp.rib.best("10.50.0.0/16"));
        assertEquals(fromOld.asPath, [{ type: 2, asns: [4200000002] }], "rebuilt from AS4_PATH");
        const fromNew = await until("new's route", () => sp.rib.best("10.60.0.0/16"));
        assertEquals(fromNew.asPath, [{ type: 2, asns: [4200000003] }]);
        assertStringIncludes(
          await old.waitFor("show route 10.60.0.0/16 all", /BGP\.as_path:/),
          "BGP.as_path: 4200000003",
        );
        assertStringIncludes(
          await neu.waitFor("show route 10.50.0.0/16 all", /BGP\.as_path:/),
          "BGP.as_path: 4200000002",
        );
        const st = sp.status().find((p) => p.address === "192.168.77.254")!;
        assertEquals(st.state, "Established");
      } finally {
        sp.close();
        await old.stop();
        await neu.stop();
      }
    });
  },
});
