/**
 * Integration (root): route reflection (RFC 4456) between skein's speaker and BIRD 2, on one L2
 * segment of test namespaces: BIRD as the route reflector for two skein nodes with the mesh off,
 * and skein as the route reflector for a BIRD client and another skein node.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { Speaker, type SpeakerOptions } from "../backends/bgp/speaker.ts";
import { haveBird, startBird } from "./_bird.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);
const IBGP = { import: true, export: true };

/** A bridge in `lan`, and eth0 192.168.77.<host> in each of `nodes`. */
function segment(lan: string, nodes: [string, number][]): void {
  ip(lan, "link", "add", "br0", "type", "bridge");
  ip(lan, "link", "set", "br0", "up");
  for (const [ns, host] of nodes) {
    ip(ns, "link", "set", "lo", "up");
    ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", `p${host}`, "netns", lan);
    ip(ns, "addr", "add", `192.168.77.${host}/24`, "dev", "eth0");
    ip(ns, "link", "set", "eth0", "up");
    ip(lan, "link", "set", `p${host}`, "master", "br0", "up");
  }
}

function speaker(
  netns: string,
  host: number,
  own: string,
  over: Partial<SpeakerOptions> = {},
): Speaker {
  const sp = new Speaker({
    netns,
    localAs: 64512,
    routerId: `192.168.77.${host}`,
    port: PORT,
    holdTime: 9,
    gracefulRestart: { restartTime: 30 },
    families: [1],
    connectRetryMs: 1000,
    idleHoldMs: 300,
    ...over,
  });
  sp.setOwnPrefixes([own]);
  return sp;
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 15000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function birdPeer(name: string, host: number, extra: string): string {
  return `protocol bgp ${name} {
  local 192.168.77.254 port ${PORT} as 64512;
  neighbor 192.168.77.${host} port ${PORT} as 64512;
  hold time 9;
  direct;
  connect retry time 1;
  error wait time 1, 2;
  ${extra}
  ipv4 { gateway direct; import all; export all; };
}
`;
}

Deno.test({
  name:
    "BIRD reflects between two skein nodes (mesh off): ORIGINATOR_ID and CLUSTER_LIST, next hop kept",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["lan", "a", "b", "rr"], async (ns) => {
      segment(ns.lan!, [[ns.a!, 11], [ns.b!, 12], [ns.rr!, 254]]);
      const bird = await startBird({
        netns: ns.rr!,
        config: `router id 192.168.77.254;\nprotocol device {}\n` +
          birdPeer("a", 11, "rr client; rr cluster id 1.0.0.254;") +
          birdPeer("b", 12, "rr client; rr cluster id 1.0.0.254;"),
      });
      const a = speaker(ns.a!, 11, "10.244.1.0/24"), b = speaker(ns.b!, 12, "10.244.2.0/24");
      try {
        for (const sp of [a, b]) {
          sp.setPeers([{
            address: "192.168.77.254",
            asNumber: 64512,
            policy: IBGP,
            source: "config",
          }]);
          sp.start();
        }
        const got = await until(
          "a learns b's subnet through BIRD",
          () => a.rib.best("10.244.2.0/24"),
        );
        assertEquals([got.nextHop, got.originatorId, got.clusterList, got.peer], [
          "192.168.77.12",
          "192.168.77.12",
          ["1.0.0.254"],
          "192.168.77.254",
        ]);
        const back = await until("b learns a's subnet", () => b.rib.best("10.244.1.0/24"));
        assertEquals(back.nextHop, "192.168.77.11");
        assertEquals(a.rib.best("10.244.1.0/24"), undefined, "a's own subnet is never imported");
      } finally {
        a.close();
        b.close();
        await bird.stop();
      }
    });
  },
});

Deno.test({
  name: "skein reflects for a BIRD client and another skein node",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["lan", "r", "d", "c"], async (ns) => {
      segment(ns.lan!, [[ns.r!, 11], [ns.d!, 12], [ns.c!, 254]]);
      const bird = await startBird({
        netns: ns.c!,
        config: `router id 192.168.77.254;\nprotocol device {}\n` +
          `protocol static { ipv4; route 10.60.0.0/16 via 192.168.77.254; }\n` +
          birdPeer("r", 11, ""),
      });
      const r = speaker(ns.r!, 11, "10.244.1.0/24", { clusterId: "1.0.0.1" });
      const d = speaker(ns.d!, 12, "10.244.2.0/24");
      try {
        r.setPeers([
          { address: "192.168.77.254", asNumber: 64512, policy: IBGP, source: "config" },
          { address: "192.168.77.12", asNumber: 64512, policy: IBGP, source: "mesh" },
        ]);
        d.setPeers([{ address: "192.168.77.11", asNumber: 64512, policy: IBGP, source: "mesh" }]);
        r.start();
        d.start();
        const fromBird = await until(
          "d learns BIRD's route reflected by r",
          () => d.rib.best("10.60.0.0/16"),
        );
        assertEquals([fromBird.nextHop, fromBird.originatorId, fromBird.clusterList], [
          "192.168.77.254",
          "192.168.77.254",
          ["1.0.0.1"],
        ]);
        const out = await bird.waitFor(
          "show route 10.244.2.0/24 all",
          /BGP.originator_id: 192\.168\.77\.12/,
        );
        assert(/BGP.cluster_list: 1\.0\.0\.1/.test(out), out);
        assert(/via 192\.168\.77\.12/.test(out), out);
        await bird.waitFor("show route 10.244.1.0/24", /via 192\.168\.77\.11/);
      } finally {
        r.close();
        d.close();
        await bird.stop();
      }
    });
  },
});
