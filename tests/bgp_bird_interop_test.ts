/**
 * Integration (root): skein's BGP speaker with BIRD 2 beyond the basics of bgp_speaker_test.ts:
 * BIRD's communities, large communities, MED and LOCAL_PREF (iBGP) reach skein's RIB and are
 * reflected on; BIRD's `hold time 3` is negotiated and the session holds; BIRD withdrawing
 * everything empties skein's RIB without a reset; BIRD killed and started again (graceful restart,
 * RFC 4724): skein keeps its routes, stale, while BIRD is away, and since BIRD comes back without
 * forwarding state (F bit clear) replaces them at once by what it sends; BIRD's own graceful
 * restart (`birdc graceful restart`, `bird -R`: F bit set) keeps them stale until its End-of-RIB.
 * A raw peer that comes back with the F bit set keeps its stale routes until its End-of-RIB
 * sweeps the one it dropped.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { Speaker, type SpeakerOptions } from "../backends/bgp/speaker.ts";
import { type Bird, haveBird, startBird } from "./_bird.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";
import { encodeMessage } from "../backends/bgp/codec.ts";
import { attr, nextHop, ORIGIN_IGP, prefixes, RawPeer, update } from "./_bgp_raw.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);

function link(ns: Record<string, string>): void {
  ip(ns.node!, "link", "set", "lo", "up");
  ip(ns.tor!, "link", "set", "lo", "up");
  ip(ns.node!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.tor!);
  ip(ns.node!, "addr", "add", "192.168.77.1/24", "dev", "eth0");
  ip(ns.tor!, "addr", "add", "192.168.77.254/24", "dev", "eth0");
  ip(ns.node!, "link", "set", "eth0", "up");
  ip(ns.tor!, "link", "set", "eth0", "up");
}

/** BIRD in AS 64512 (iBGP with skein) exporting its static routes with rich attributes. */
function torConfig(routes = ["10.50.0.0/16", "10.51.1.0/24"], extra = ""): string {
  return `router id 192.168.77.254;
protocol device {}
protocol static s1 { ipv4; ${routes.map((r) => `route ${r} blackhole;`).join(" ")} }
protocol bgp node1 {
  local 192.168.77.254 port ${PORT} as 64512;
  neighbor 192.168.77.1 port ${PORT} as 64512;
  hold time 3;
  connect retry time 1;
  error wait time 1, 2;
  graceful restart on;
  ipv4 {
    import all;
    export filter {
      if source != RTS_STATIC then reject;
      bgp_med = 50;
      bgp_local_pref = 300;
      bgp_community.add((65000, 1));
      bgp_large_community.add((65000, 1, 2));
      accept;
    };
  };
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
    gracefulRestart: { restartTime: 60 },
    families: [1],
    connectRetryMs: 1000,
    idleHoldMs: 300,
    ...over,
  };
}

const TOR = {
  address: "192.168.77.254",
  asNumber: 64512,
  policy: { import: true, export: true },
  source: "config" as const,
};

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 20000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test({
  name:
    "BIRD's communities, large communities, MED and LOCAL_PREF reach the RIB; hold time 3 holds; BIRD withdrawing all empties the RIB, no reset",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      link(ns);
      const bird = await startBird({ netns: ns.tor!, config: torConfig() });
      const sp = new Speaker(speakerOpts(ns.node!));
      try {
        sp.setPeers([TOR]);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        const r = await until("BIRD's 10.50.0.0/16", () => sp.rib.best("10.50.0.0/16"));
        assertEquals([r.med, r.localPref, r.ebgp, r.nextHop], [50, 300, false, "192.168.77.254"]);
        const kept = Object.fromEntries(
          r.passThrough.flatMap((a) => a.type === "other" ? [[a.code, hex(a.data)]] : []),
        );
        assertEquals(kept[8], "fde80001", "COMMUNITIES (65000,1) kept for reflection");
        assertEquals(kept[32], "0000fde80000000100000002", "LARGE_COMMUNITY (65000,1,2) kept");
        await bird.waitFor("show protocols all node1", /Hold timer:\s+[\d.]+\/3\b/);
        // Keepalives every second: the session outlives several hold times.
        const end = Date.now() + 7000;
        while (Date.now() < end) {
          assertEquals(sp.status()[0]?.state, "Established", "the hold-3 session dropped");
          await new Promise((res) => setTimeout(res, 100));
        }
        assertEquals(sp.status()[0]?.lastNotification, undefined);
        await bird.birdc("disable", "s1");
        await until("every BIRD route withdrawn", () => sp.routes().length === 0 || undefined);
        assertEquals(sp.status()[0]?.state, "Established");
        await bird.birdc("enable", "s1");
        await until("BIRD's routes back", () => sp.routes().length === 2 || undefined);
        assertEquals(sp.status()[0]?.lastNotification, undefined, "no reset all along");
      } finally {
        sp.close();
        await bird.stop();
      }
    });
  },
});

async function killBird(bird: Bird): Promise<void> {
  const pid = Number((await Deno.readTextFile(`${bird.dir}/bird.pid`)).trim());
  Deno.kill(pid, "SIGKILL");
}

Deno.test({
  name:
    "BIRD killed and started again (graceful restart): its routes stay, stale, while it is away; back without forwarding state (F bit clear) they are replaced by what it sends",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      link(ns);
      let bird = await startBird({ netns: ns.tor!, config: torConfig() });
      const logs: string[] = [];
      const sp = new Speaker(speakerOpts(ns.node!, { log: (l) => logs.push(l) }));
      let missing = 0;
      let watching = false;
      let watch = Promise.resolve();
      try {
        sp.setPeers([TOR]);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        await until("BIRD's two routes", () => sp.routes().length === 2 || undefined);
        await until("converged", () => sp.converged || undefined);
        await killBird(bird);
        await until("the session down", () => sp.status()[0]?.state !== "Established" || undefined);
        watching = true;
        watch = (async () => { // until the session is back: BIRD's routes never go
          while (watching && sp.status()[0]?.state !== "Established") {
            if (sp.routes().length !== 2) missing++;
            await new Promise((res) => setTimeout(res, 10));
          }
        })();
        assertEquals(sp.routes().map((r) => [r.prefix, r.stale]).sort(), [
          ["10.50.0.0/16", true],
          ["10.51.1.0/24", true],
        ]);
        assert(sp.status()[0]?.restarting, "status() says the peer is restarting");
        await bird.stop();
        bird = await startBird({ netns: ns.tor!, config: torConfig(["10.50.0.0/16"]) });
        await until(
          "BIRD's routes of the new session",
          () => sp.routes().length === 1 && !sp.routes()[0]!.stale || undefined,
        );
        await watch;
        assertEquals(missing, 0, "a route went missing while BIRD was away");
        assertEquals(sp.routes()[0]?.prefix, "10.50.0.0/16");
        assertEquals(sp.status()[0]?.restarting, false);
        // BIRD's OPEN after a plain start has the F bit clear (RFC 4724 §4.2).
        assert(logs.some((l) => l.includes("RFC 4724 F bit")), logs.join("\n"));
        // iBGP: BIRD resolves the next hop recursively (no IGP here), so only its presence counts.
        await bird.waitFor("show route 10.244.1.0/24", /10\.244\.1\.0\/24\s.*\[node1 /);
      } finally {
        watching = false;
        await watch;
        sp.close();
        await bird.stop();
      }
    });
  },
});

Deno.test({
  name:
    "BIRD's own graceful restart (birdc graceful restart, bird -R): its routes stay, stale, until its End-of-RIB; none goes missing",
  ignore: !haveBird(),
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      link(ns);
      const extra = "protocol kernel { ipv4 { export all; }; graceful restart on; }";
      let bird = await startBird({ netns: ns.tor!, config: torConfig(undefined, extra) });
      const logs: string[] = [];
      const sp = new Speaker(speakerOpts(ns.node!, { log: (l) => logs.push(l) }));
      let missing = 0;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          if (sp.converged && sp.routes().length !== 2) missing++;
          await new Promise((res) => setTimeout(res, 10));
        }
      })();
      try {
        sp.setPeers([TOR]);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        await until("BIRD's two routes", () => sp.routes().length === 2 || undefined);
        await until("converged", () => sp.converged || undefined);
        await bird.birdc("graceful", "restart"); // BIRD exits, keeping its forwarding state
        await until("the session down", () => sp.status()[0]?.state !== "Established" || undefined);
        await until("stale routes", () => sp.routes().every((r) => r.stale) || undefined);
        await bird.stop();
        bird = await startBird({
          netns: ns.tor!,
          config: torConfig(undefined, extra),
          args: ["-R"],
        });
        await until(
          "BIRD's End-of-RIB: its routes fresh again",
          () => sp.routes().length === 2 && sp.routes().every((r) => !r.stale) || undefined,
        );
        watching = false;
        await watch;
        assertEquals(missing, 0, "a route went missing during BIRD's graceful restart");
        assert(!logs.some((l) => l.includes("RFC 4724 F bit")), logs.join("\n"));
      } finally {
        watching = false;
        await watch;
        sp.close();
        await bird.stop();
      }
    });
  },
});

Deno.test({
  name:
    "a peer back with the F bit set (forwarding kept): its stale routes stay until its End-of-RIB sweeps the one it no longer sends",
  fn: async () => {
    await withNamespaces(["node", "tor"], async (ns) => {
      link(ns);
      const logs: string[] = [];
      const sp = new Speaker(speakerOpts(ns.node!, { log: (l) => logs.push(l) }));
      const open = (restarting: boolean) =>
        encodeMessage({
          type: "open",
          version: 4,
          asNumber: 64512,
          holdTime: 0,
          routerId: "192.168.77.254",
          capabilities: [
            { type: "as4", asNumber: 64512 },
            {
              type: "graceful-restart",
              restarting,
              notification: false,
              restartTime: 120,
              families: [{ afi: 1, safi: 1, forwarding: true }],
            },
          ],
        });
      const session = async (restarting: boolean) => {
        const p = await RawPeer.connect({
          netns: ns.tor!,
          from: "192.168.77.254",
          to: "192.168.77.1",
          port: PORT,
        });
        await p.send(open(restarting));
        assert(await p.nextOf("open"), "the speaker's OPEN");
        await p.send(encodeMessage({ type: "keepalive" }));
        await until("Established", () => sp.status()[0]?.state === "Established" || undefined);
        return p;
      };
      const announce = (nlri: string[]) =>
        update({
          attrs: [...ORIGIN_IGP, ...attr(0x40, 2, []), ...nextHop("192.168.77.254")],
          nlri: prefixes(nlri),
        });
      try {
        sp.setPeers([{ ...TOR, passive: true }]);
        sp.setOwnPrefixes(["10.244.1.0/24"]);
        sp.start();
        let p = await session(false);
        await p.send(announce(["10.50.0.0/16", "10.51.1.0/24"]));
        await until("two routes", () => sp.routes().length === 2 || undefined);
        p.close(); // no NOTIFICATION: a crash
        await until("stale routes", () => sp.routes().every((r) => r.stale) || undefined);
        p = await session(true);
        assertEquals(sp.routes().length, 2, "F bit set: the stale routes stay");
        await p.send(announce(["10.50.0.0/16"]), update({})); // then End-of-RIB
        await until("the End-of-RIB sweep", () => sp.routes().length === 1 || undefined);
        assertEquals(sp.routes().map((r) => [r.prefix, r.stale]), [["10.50.0.0/16", false]]);
        assert(!logs.some((l) => l.includes("RFC 4724 F bit")), logs.join("\n"));
        p.close();
      } finally {
        sp.close();
      }
    });
  },
});
