/**
 * Integration (root): a real `skein daemon` with the bgp backend and a hostile eBGP peer spoken to
 * byte by byte (tests/_bgp_raw.ts) from a second namespace. A good route reaches the kernel (proto
 * bgp); routes with a bad NEXT_HOP (the node's own address, multicast) never do, and one for the
 * node's own uplink subnet (or half of it, or a default route: never imported) leaves the
 * kernel's connected and default routes alone; a
 * treat-as-withdraw takes the good route out; an UPDATE that resets the session gets its
 * NOTIFICATION; through all of it the daemon keeps running, counts the errors in
 * `skein_bgp_update_errors_total` and logs them, and takes the peer's next session.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";
import { DaemonProc, freePort, httpGet, waitFor } from "./_daemon_proc.ts";
import { asPath, attr, nextHop, ORIGIN_IGP, prefixes, RawPeer, update } from "./_bgp_raw.ts";
import { ipJson } from "./backends_helpers.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);
const NODE = "192.168.77.1", PEER = "192.168.77.2", PEER_AS = 65009;

interface RouteJ {
  dst: string;
  gateway?: string;
  protocol?: string | number;
}

const bgpRoutes = (ns: string) =>
  ipJson<RouteJ>(ns, "route", "show", "proto", "bgp").map((r) => `${r.dst} via ${r.gateway}`)
    .sort();

const announce = (route: string, hop: string, attrs: number[] = [...ORIGIN_IGP]) =>
  update({ attrs: [...attrs, ...asPath([PEER_AS]), ...nextHop(hop)], nlri: prefixes([route]) });

Deno.test({
  name:
    "skein daemon (bgp) with a hostile peer: bad next hops never reach the kernel, treat-as-withdraw removes, resets are NOTIFIED, the daemon runs on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withNamespaces(["a", "b"], async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "skein-bgp-hostile-" });
      let d: DaemonProc | undefined;
      try {
        for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "lo", "up");
        ip(ns.a!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.b!);
        ip(ns.a!, "addr", "add", `${NODE}/24`, "dev", "eth0");
        ip(ns.b!, "addr", "add", `${PEER}/24`, "dev", "eth0");
        for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "eth0", "up");
        const listen = `127.0.0.1:${freePort()}`;
        const cfgFile = `${dir}/daemon.yaml`;
        await Deno.writeTextFile(
          cfgFile,
          `name: node-a
network: 10.244.0.0/16
backend:
  type: bgp
  asNumber: 64512
  nodeToNodeMesh: false
  port: ${PORT}
  holdTime: 30
  gracefulRestart: {restartTime: 0}
  peers:
    - {address: ${PEER}, asNumber: ${PEER_AS}, import: all, export: all}
datastore: {type: file, dir: ${dir}/store, ttl: 600}
iface: eth0
netns: ${ns.a}
listen: ${listen}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
reconcileInterval: 5
logLevel: debug
`,
        );
        d = new DaemonProc(cfgFile);
        const log = d.log;
        await waitFor(
          "/readyz 200",
          async () => (await httpGet(listen, "/readyz")).status === 200,
          {
            ms: 60_000,
            log,
          },
        );
        const session = async () => {
          const p = await RawPeer.connect({ netns: ns.b!, from: PEER, to: NODE, port: PORT });
          await p.establish({ asNumber: PEER_AS, routerId: PEER, holdTime: 0 });
          return p;
        };
        let p = await session();
        await p.send(announce("10.90.0.0/24", PEER));
        await waitFor(
          "the good route in the kernel",
          () => bgpRoutes(ns.a!).includes(`10.90.0.0/24 via ${PEER}`),
          { ms: 30_000, log },
        );

        // Bad next hops: the node's own address, a multicast address. Then a good barrier route.
        await p.send(announce("10.90.1.0/24", NODE), announce("10.90.2.0/24", "224.0.0.5"));
        await p.send(announce("10.90.3.0/24", PEER));
        await waitFor(
          "the barrier route",
          () => bgpRoutes(ns.a!).includes(`10.90.3.0/24 via ${PEER}`),
          { ms: 30_000, log },
        );
        assertEquals(bgpRoutes(ns.a!), [`10.90.0.0/24 via ${PEER}`, `10.90.3.0/24 via ${PEER}`]);

        // The node's own uplink subnet, half of it, a default route via the peer: refused
        // (import: all, no acceptDefault); the connected route stays as the kernel made it.
        await p.send(
          announce("192.168.77.0/24", PEER),
          announce("192.168.77.0/25", PEER),
          announce("0.0.0.0/0", PEER),
          announce("10.90.5.0/24", PEER),
        );
        await waitFor(
          "the second barrier route",
          () => bgpRoutes(ns.a!).includes(`10.90.5.0/24 via ${PEER}`),
          { ms: 30_000, log },
        );
        assertEquals(bgpRoutes(ns.a!), [
          `10.90.0.0/24 via ${PEER}`,
          `10.90.3.0/24 via ${PEER}`,
          `10.90.5.0/24 via ${PEER}`,
        ]);
        assert(
          log().includes("route 192.168.77.0/25 refused: inside this node's uplink network") &&
            log().includes("route 0.0.0.0/0 refused: a default route"),
          log(),
        );
        await new Promise((r) => setTimeout(r, 1000)); // a reconcile or two
        assertEquals(
          ipJson<RouteJ>(ns.a!, "route", "show", "192.168.77.0/24").map((
            r,
          ) => [r.protocol, r.gateway]),
          [["kernel", undefined]],
        );
        // Treat-as-withdraw (ORIGIN 5): the route leaves the kernel, the session stays.
        await p.send(announce("10.90.0.0/24", PEER, attr(0x40, 1, [5])));
        await waitFor(
          "10.90.0.0/24 withdrawn",
          () => !bgpRoutes(ns.a!).some((r) => r.startsWith("10.90.0.0/24")),
          { ms: 30_000, log },
        );
        const metrics = (await httpGet(listen, "/metrics")).body;
        const errors = metrics.match(
          new RegExp(`skein_bgp_update_errors_total\\{peer="${PEER}"\\} (\\d+)`),
        );
        assertEquals(
          errors?.[1],
          "3",
          metrics.split("\n").filter((l) => l.includes("bgp")).join("\n"),
        );
        assert(/UPDATE error #3, session kept/.test(log()), log());

        // An UPDATE that cannot be contained (prefix length 33): NOTIFICATION 3/10, routes gone.
        await p.send(
          update({
            attrs: [...ORIGIN_IGP, ...asPath([PEER_AS]), ...nextHop(PEER)],
            nlri: [33, 10, 9, 9, 9, 9],
          }),
        );
        const n = await p.closedWith();
        assertEquals([n?.code, n?.subcode], [3, 10]);
        p.close();
        await waitFor("the reset peer's routes gone", () => bgpRoutes(ns.a!).length === 0, {
          ms: 30_000,
          log,
        });

        // The daemon runs on and takes the peer back.
        assertEquals((await httpGet(listen, "/healthz")).status, 200);
        p = await session();
        await p.send(announce("10.90.4.0/24", PEER));
        await waitFor(
          "a route of the next session",
          () => bgpRoutes(ns.a!).includes(`10.90.4.0/24 via ${PEER}`),
          { ms: 30_000, log },
        );
        p.close();
      } finally {
        const st = await d?.stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        if (st) assertEquals(st.code, 0, "the daemon exits cleanly");
      }
    });
  },
});
