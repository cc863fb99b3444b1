/**
 * Integration (root): skein's BGP speaker (backends/bgp/speaker.ts) against real BIRD 2 in test
 * namespaces joined by a veth: eBGP to a ToR (BIRD announces routes, learns the node's pod
 * subnet), and hostile peers that get the RFC's NOTIFICATION while other sessions stay up.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { Speaker, type SpeakerOptions } from "../backends/bgp/speaker.ts";
import { decodeMessage, encodeMessage, frameLength } from "../backends/bgp/codec.ts";
import { TcpSocket } from "../net/tcp.ts";
import { haveBird, startBird } from "./_bird.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);

function link(ns: { node: string; tor: string }): void {
  ip(ns.node, "link", "set", "lo", "up");
  ip(ns.tor, "link", "set", "lo", "up");
  ip(ns.node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.tor);
  ip(ns.node, "addr", "add", "192.168.77.1/24", "dev", "eth0");
  ip(ns.tor, "addr", "add", "192.168.77.254/24", "dev", "eth0");
  ip(ns.node, "link", "set", "eth0", "up");
  ip(ns.tor, "link", "set", "eth0", "up");
}

function torConfig(extra = ""): string {
  return `router id 192.168.77.254;
protocol device {}
protocol static { ipv4; route 10.50.0.0/16 blackhole; route 10.51.1.0/24 blackhole; }
protocol kernel { ipv4 { export filter { if source = RTS_BGP then accept; reject; }; }; }
protocol bgp node1 {
  local 192.168.77.254 port ${PORT} as 65000;
  neighbor 192.168.77.1 port ${PORT} as 64512;
  hold time 9;
  connect retry time 1;
  error wait time 1, 2;
  graceful restart on;
  ipv4 { import all; export where source = RTS_STATIC; };
}
${extra}`;
}

function speakerOpts(netns: string, over: Partial<SpeakerOptions> = {}): SpeakerOptions {
  return {
    netns,
    localAs: 64512,
    routerId: "192.168.77.1",
    port: PORT,
    holdTime: 9,
    gracefulRestart: { restartTime: 30 },
    families: [1],
    connectRetryMs: 1000,
    idleHoldMs: 300,
    ...over,
  };
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

Deno.test({
  name: "skein ↔ BIRD eBGP: skein learns the ToR's routes, BIRD learns the pod subnet",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      link(ns as { node: string; tor: string });
      const bird = await startBird({ netns: ns.tor!, config: torConfig() });
      const sp = new Speaker(speakerOpts(ns.node!));
      try {
        sp.setPeers([{
          address: "192.168.77.254",
          asNumber: 65000,
          policy: { import: true, export: true },
          source: "config",
        }]);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        const routes = await until(
          "two routes from BIRD",
          () => sp.routes().length === 2 ? sp.routes() : undefined,
        );
        assertEquals(routes.map((r) => [r.prefix, r.nextHop, r.ebgp]).sort(), [
          ["10.50.0.0/16", "192.168.77.254", true],
          ["10.51.1.0/24", "192.168.77.254", true],
        ]);
        await bird.waitFor(
          "show route 10.244.1.0/24",
          /10\.244\.1\.0\/24\s+unicast \[node1 .*\n\s+via 192\.168\.77\.1/,
        );
        const st = sp.status()[0]!;
        assertEquals([st.state, st.prefixesReceived, st.prefixesAdvertised], ["Established", 2, 1]);
        assert(st.updatesReceived >= 1 && st.updatesSent >= 1);
        await bird.birdc("disable", "node1");
        await until(
          "the session to go down and the routes to go",
          () => sp.routes().length === 0 || undefined,
        );
        assertEquals(sp.status()[0]?.lastNotification?.code, 6);
      } finally {
        sp.close();
        await bird.stop();
      }
    });
  },
});

Deno.test({
  name:
    "TCP MD5 (RFC 2385): skein and BIRD with the same password establish; a wrong one never does",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      link(ns as { node: string; tor: string });
      const conf = torConfig().replace("hold time 9;", 'hold time 9;\n  password "s3cret-md5";');
      const bird = await startBird({ netns: ns.tor!, config: conf });
      const peer = (password: string) => ({
        address: "192.168.77.254",
        asNumber: 65000,
        password,
        policy: { import: true, export: true },
        source: "config" as const,
      });
      const sp = new Speaker(speakerOpts(ns.node!));
      try {
        sp.setPeers([peer("wrong-key")]);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        await new Promise((r) => setTimeout(r, 1500));
        assertEquals(
          sp.status()[0]?.state !== "Established",
          true,
          "a wrong MD5 key must not connect",
        );
        sp.setPeers([peer("s3cret-md5")]);
        await until("the session with the right key", () => sp.routes().length === 2 || undefined);
        await bird.waitFor("show route 10.244.1.0/24", /via 192\.168\.77\.1/);
      } finally {
        sp.close();
        await bird.stop();
      }
    });
  },
});

Deno.test({
  name:
    "graceful restart with BIRD: BIRD keeps skein's route while skein restarts, and flaps nothing",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      link(ns as { node: string; tor: string });
      const bird = await startBird({ netns: ns.tor!, config: torConfig() });
      const peers = [{
        address: "192.168.77.254",
        asNumber: 65000,
        policy: { import: true, export: true },
        source: "config" as const,
      }];
      let sp = new Speaker(speakerOpts(ns.node!));
      try {
        sp.setPeers(peers);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        await bird.waitFor("show route 10.244.1.0/24", /via 192\.168\.77\.1/);
        sp.close(); // graceful: no NOTIFICATION, like kill -9
        await bird.waitFor("show protocols all node1", /BGP state:\s+(Active|Connect|Idle)/);
        const kept = await bird.birdc("show", "route", "10.244.1.0/24");
        assert(
          /via 192\.168\.77\.1/.test(kept),
          `BIRD dropped the route during the restart:\n${kept}`,
        );
        sp = new Speaker(speakerOpts(ns.node!));
        sp.setPeers(peers);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        await until("BIRD's routes again", () => sp.routes().length === 2 || undefined);
        await bird.waitFor("show protocols node1", /Established/);
        await bird.waitFor("show route 10.244.1.0/24", /via 192\.168\.77\.1/);
        await until(
          "the restarted speaker to converge on BIRD's End-of-RIB",
          () => sp.converged || undefined,
        );
      } finally {
        sp.close();
        await bird.stop();
      }
    });
  },
});

Deno.test({
  name: "dual stack with BIRD: IPv6 unicast over the IPv4 session (MP_REACH_NLRI) both ways",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      link(ns as { node: string; tor: string });
      ip(ns.node!, "addr", "add", "fd00:77::1/64", "dev", "eth0", "nodad");
      ip(ns.tor!, "addr", "add", "fd00:77::254/64", "dev", "eth0", "nodad");
      const conf = torConfig()
        .replace(
          "protocol static {",
          "protocol static { ipv6; route fd00:50::/48 blackhole; }\nprotocol static {",
        )
        .replace(
          "ipv4 { import all; export where source = RTS_STATIC; };",
          "ipv4 { import all; export where source = RTS_STATIC; };\n  ipv6 { next hop address fd00:77::254; import all; export where source = RTS_STATIC; };",
        );
      const bird = await startBird({ netns: ns.tor!, config: conf });
      const sp = new Speaker(speakerOpts(ns.node!, { families: [1, 2], nextHop6: "fd00:77::1" }));
      try {
        sp.setPeers([{
          address: "192.168.77.254",
          asNumber: 65000,
          policy: { import: true, export: true },
          source: "config",
        }]);
        sp.setOwnPrefixes(["10.244.1.0/24", "fd00:244:1::/64"]);
        sp.start();
        const r6 = await until("BIRD's IPv6 route", () => sp.rib.best("fd00:50::/48"));
        assertEquals([r6.family, r6.nextHop], [6, "fd00:77::254"]);
        await bird.waitFor("show route fd00:244:1::/64 all", /BGP.next_hop: fd00:77::1/);
      } finally {
        sp.close();
        await bird.stop();
      }
    });
  },
});

/** Opens a raw TCP connection to the speaker in `netns` and sends `bytes`; returns what comes back. */
async function hostile(
  netns: string,
  from: string,
  bytes: Uint8Array<ArrayBuffer>[],
): Promise<Uint8Array[]> {
  const s = await TcpSocket.connect({
    netns,
    local: from,
    remote: { address: "192.168.77.1", port: PORT },
  });
  const got: Uint8Array[] = [];
  try {
    for (const b of bytes) s.send(b);
    let buf = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      const n = s.recv(chunk);
      if (n === 0) break;
      if (n < 0) {
        await s.wait("read", 200);
        continue;
      }
      buf = Uint8Array.from([...buf, ...chunk.subarray(0, n)]);
      for (;;) {
        const len = frameLength(buf);
        if (!len || buf.length < len) break;
        got.push(buf.slice(0, len));
        buf = buf.slice(len);
      }
    }
  } finally {
    s.close();
  }
  return got;
}

function open(as: number, holdTime = 9, version = 4): Uint8Array<ArrayBuffer> {
  const b = encodeMessage({
    type: "open",
    version: 4,
    asNumber: as,
    holdTime,
    routerId: "192.168.77.9",
    capabilities: [{ type: "as4", asNumber: as }],
  });
  b[19] = version;
  return b;
}

Deno.test({
  name: "hostile peers get the RFC NOTIFICATION; only their session resets, BIRD's stays up",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      link(ns as { node: string; tor: string });
      for (let i = 10; i < 17; i++) ip(ns.tor!, "addr", "add", `192.168.77.${i}/24`, "dev", "eth0");
      const bird = await startBird({ netns: ns.tor!, config: torConfig() });
      const sp = new Speaker(speakerOpts(ns.node!));
      const hostileSpec = (i: number) => ({
        address: `192.168.77.${i}`,
        asNumber: 65009,
        policy: { import: true, export: true },
        source: "config" as const,
        passive: true,
      });
      try {
        sp.setPeers([
          {
            address: "192.168.77.254",
            asNumber: 65000,
            policy: { import: true, export: true },
            source: "config",
          },
          ...[10, 11, 12, 13, 14, 15, 16].map(hostileSpec),
        ]);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        await until("BIRD's routes", () => sp.routes().length === 2 || undefined);
        const notification = (got: Uint8Array[]) => {
          const m = got.map((b) => decodeMessage(b)).find((x) => x.type === "notification");
          return m?.type === "notification" ? [m.code, m.subcode] : undefined;
        };
        const t = ns.tor!;
        const header = (len: number, type: number) =>
          Uint8Array.from([...Array(16).fill(0xff), len >> 8, len & 255, type]);
        assertEquals(
          notification(
            await hostile(t, "192.168.77.10", [crypto.getRandomValues(new Uint8Array(64))]),
          ),
          [1, 1],
        );
        assertEquals(notification(await hostile(t, "192.168.77.11", [open(65009, 9, 3)])), [2, 1]);
        assertEquals(
          notification(
            await hostile(t, "192.168.77.12", [
              encodeMessage({
                type: "update",
                withdrawn: [],
                attributes: [],
                nlri: ["10.9.0.0/24"],
              }),
            ]),
          ),
          [5, 1],
        );
        assertEquals(notification(await hostile(t, "192.168.77.13", [header(5000, 4)])), [1, 2]);
        assertEquals(notification(await hostile(t, "192.168.77.14", [open(65009, 2)])), [2, 6]);
        assertEquals(notification(await hostile(t, "192.168.77.15", [open(65123)])), [2, 2]);
        // ORIGIN 9 on a route: treat-as-withdraw (RFC 7606), the session goes on to the bad header.
        const badAttr = Uint8Array.from([
          ...header(19 + 4 + 4 + 4, 2),
          ...[0, 0, 0, 4, 0x40, 1, 1, 9],
          ...[24, 10, 9, 0],
        ]);
        assertEquals(
          notification(
            await hostile(t, "192.168.77.16", [
              open(65009),
              encodeMessage({ type: "keepalive" }),
              badAttr,
              header(5000, 4),
            ]),
          ),
          [1, 2],
        );
        const tor = sp.status().find((s) => s.address === "192.168.77.254")!;
        assertEquals([tor.state, tor.prefixesReceived], ["Established", 2]);
        await bird.waitFor("show protocols node1", /Established/);
      } finally {
        sp.close();
        await bird.stop();
      }
    });
  },
});
