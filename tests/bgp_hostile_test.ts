/**
 * Integration (root): skein's BGP speaker against hostile and unusual peers, spoken to byte by
 * byte from a second namespace (tests/_bgp_raw.ts). Every case gets the reaction RFC 4271 /
 * RFC 7606 / RFC 6608 prescribe (the NOTIFICATION with the right code and subcode, a
 * treat-as-withdraw, an attribute discard, or a route ignored), is counted and logged, installs no
 * bad route, and leaves every other session (a well-behaved raw peer) up with its route.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { Speaker } from "../backends/bgp/speaker.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";
import {
  asPath,
  attr,
  KEEPALIVE,
  message,
  nextHop,
  openBytes,
  ORIGIN_IGP,
  prefixes,
  RawPeer,
  update,
} from "./_bgp_raw.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);
const NODE = "192.168.77.1";
const PEER_AS = 65009;
/** Peer addresses used: .9 the well-behaved peer, .10-.79 one per case. */
const FIRST = 9, LAST = 79;
const addr = (i: number) => `192.168.77.${i}`;

function link(ns: Record<string, string>): void {
  ip(ns.node!, "link", "set", "lo", "up");
  ip(ns.peer!, "link", "set", "lo", "up");
  ip(ns.node!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.peer!);
  ip(ns.node!, "addr", "add", `${NODE}/24`, "dev", "eth0");
  for (let i = FIRST; i <= LAST; i++) ip(ns.peer!, "addr", "add", `${addr(i)}/24`, "dev", "eth0");
  ip(ns.node!, "link", "set", "eth0", "up");
  ip(ns.peer!, "link", "set", "eth0", "up");
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 20000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A well-formed UPDATE announcing `nlri` from the peer at `from`. */
function good(nlri: string[], from: string, extra: number[] = []): Uint8Array<ArrayBuffer> {
  return update({
    attrs: [...ORIGIN_IGP, ...asPath([PEER_AS]), ...nextHop(from), ...extra],
    nlri: prefixes(nlri),
  });
}

interface Lab {
  ns: Record<string, string>;
  sp: Speaker;
  logs: string[];
}

function startSpeaker(ns: Record<string, string>): Lab {
  const logs: string[] = [];
  const sp = new Speaker({
    netns: ns.node!,
    localAs: 64512,
    routerId: NODE,
    port: PORT,
    holdTime: 9,
    families: [1],
    connectRetryMs: 1000,
    idleHoldMs: 300,
    log: (l) => logs.push(l),
  });
  const peers = [];
  for (let i = FIRST; i <= LAST; i++) {
    peers.push({
      address: addr(i),
      asNumber: PEER_AS,
      policy: { import: true, export: true },
      source: "config" as const,
      passive: true,
    });
  }
  sp.setPeers(peers);
  sp.setOwnPrefixes(["10.244.1.0/24"]);
  sp.start();
  return { ns, sp, logs };
}

function status(lab: Lab, i: number) {
  const st = lab.sp.status().find((s) => s.address === addr(i));
  if (!st) throw new Error(`no peer ${addr(i)}`);
  return st;
}

async function connect(lab: Pick<Lab, "ns">, i: number): Promise<RawPeer> {
  return await RawPeer.connect({ netns: lab.ns.peer!, from: addr(i), to: NODE, port: PORT });
}

/** An established raw session from peer `i` with its route 10.60.i.0/24 in the RIB. */
async function session(lab: Lab, i: number): Promise<{ p: RawPeer; route: string }> {
  const p = await connect(lab, i);
  await p.establish({ asNumber: PEER_AS, routerId: addr(i) });
  const route = `10.60.${i}.0/24`;
  await p.send(good([route], addr(i)));
  await until(`${route} from ${addr(i)}`, () => lab.sp.rib.best(route));
  return { p, route };
}

/**
 * The hostile UPDATE `bytes` (built for `route`) must not reset the session: afterwards `route`
 * is in the RIB (`kept`) or gone (treat-as-withdraw, a route ignored), the session is still
 * Established, a later UPDATE still works, and the error was counted and logged.
 */
async function contained(
  lab: Lab,
  i: number,
  bytes: (route: string, from: string) => Uint8Array<ArrayBuffer>,
  want: { kept: boolean; counted: boolean },
): Promise<void> {
  const { p, route } = await session(lab, i);
  try {
    const errorsBefore = status(lab, i).updateErrors;
    await p.send(bytes(route, addr(i)));
    const barrier = `10.61.${i}.0/24`;
    await p.send(good([barrier], addr(i)));
    await until(`barrier ${barrier}`, () => lab.sp.rib.best(barrier));
    const st = status(lab, i);
    assertEquals(st.state, "Established", `peer ${i}: the session must stay up`);
    assertEquals(lab.sp.rib.best(route) !== undefined, want.kept, `peer ${i}: ${route} kept?`);
    if (want.counted) {
      assertEquals(st.updateErrors, errorsBefore + 1, `peer ${i}: the error is counted`);
      assert(
        lab.logs.some((l) => l.includes(addr(i)) && /RFC (7606|4760)|NEXT_HOP/.test(l)),
        `peer ${i}: the error is logged:\n${lab.logs.join("\n")}`,
      );
    } else assertEquals(st.updateErrors, errorsBefore, `peer ${i}: nothing to count`);
  } finally {
    p.close();
  }
}

/**
 * `bytes` must end the session with NOTIFICATION `code`/`subcode` (after Established when
 * `established`, else right after connecting); the peer's routes leave the RIB.
 */
async function reset(
  lab: Lab,
  i: number,
  bytes: Uint8Array<ArrayBuffer>[],
  want: [number, number],
  established = true,
): Promise<void> {
  let route: string | undefined;
  let p: RawPeer;
  if (established) ({ p, route } = await session(lab, i));
  else p = await connect(lab, i);
  try {
    await p.send(...bytes);
    const n = await p.closedWith();
    assertEquals(n ? [n.code, n.subcode] : undefined, want, `peer ${i}`);
    if (route) await until(`${route} withdrawn`, () => !lab.sp.rib.best(route) || undefined);
    await until(
      `peer ${i}'s NOTIFICATION in status()`,
      () => status(lab, i).lastNotification?.direction === "sent" || undefined,
    );
    const ln = status(lab, i).lastNotification!;
    assertEquals([ln.code, ln.subcode], want);
    const said = `(${want[0]}/${want[1]})`;
    assert(
      lab.logs.some((l) => l.includes(`${addr(i)}`) && l.includes(said)),
      `peer ${i}: the NOTIFICATION ${said} is logged:\n${lab.logs.join("\n")}`,
    );
  } finally {
    p.close();
  }
}

Deno.test({
  name:
    "hostile BGP peers: RFC 4271/7606/6608 reactions, counted and logged, other sessions stay up",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withNamespaces(["node", "peer"], async (ns) => {
      link(ns);
      const lab = startSpeaker(ns);
      try {
        // The well-behaved peer: hold time 0 (no keepalives needed), one route.
        const okPeer = await connect(lab, FIRST);
        await okPeer.establish({ asNumber: PEER_AS, routerId: addr(FIRST) });
        await okPeer.send(good(["10.59.0.0/24"], addr(FIRST)));
        await until("the good peer's route", () => lab.sp.rib.best("10.59.0.0/24"));
        let i = 10;

        await t.step("header errors (RFC 4271 §6.1): 1/1, 1/2, 1/3", async () => {
          const bad = message(4, []);
          bad[5] = 0;
          await reset(lab, i++, [bad], [1, 1], false);
          await reset(lab, i++, [message(4, [], 18)], [1, 2], false);
          await reset(lab, i++, [message(2, new Uint8Array(4078), 4097)], [1, 2]);
          await reset(lab, i++, [message(9, [])], [1, 3], false);
          await reset(lab, i++, [message(4, [0])], [1, 2]); // KEEPALIVE of 20 octets
          await reset(lab, i++, [message(1, Array(9).fill(0))], [1, 2], false); // OPEN of 28
          await reset(lab, i++, [message(2, [0, 0, 0])], [1, 2]); // UPDATE of 22
        });

        await t.step(
          "OPEN errors (RFC 4271 §6.2, RFC 7607): 2/1, 2/2, 2/3, 2/6, 2/0, 2/4",
          async () => {
            const o = (over: Partial<Parameters<typeof openBytes>[0]>) =>
              openBytes({ asNumber: PEER_AS, routerId: addr(i), holdTime: 9, ...over });
            await reset(lab, i++, [o({ version: 3 })], [2, 1], false);
            await reset(lab, i++, [o({ asNumber: 0 })], [2, 2], false); // AS 0 (RFC 7607)
            await reset(lab, i++, [o({ routerId: "0.0.0.0" })], [2, 3], false);
            await reset(lab, i++, [o({ holdTime: 1 })], [2, 6], false);
            await reset(lab, i++, [o({ holdTime: 2 })], [2, 6], false);
            const truncated = o({});
            truncated[32] = 200; // the first capability's length overruns its parameter
            await reset(lab, i++, [truncated], [2, 0], false);
            const auth = message(1, [4, 0xfd, 0xf1, 0, 9, 192, 168, 77, i, 3, 1, 1, 0]); // param type 1
            await reset(lab, i++, [auth], [2, 4], false);
          },
        );

        await t.step(
          "FSM errors (RFC 6608): KEEPALIVE before OPEN 5/1, OPEN in Established 5/3",
          async () => {
            await reset(lab, i++, [KEEPALIVE], [5, 1], false);
            await reset(lab, i++, [good(["10.9.0.0/24"], addr(i))], [5, 1], false);
            await reset(lab, i++, [openBytes({ asNumber: PEER_AS, routerId: addr(i) })], [5, 3]);
          },
        );

        await t.step("UPDATE errors that reset (RFC 7606 §3, §5.3, §7.11)", async () => {
          const base = [...ORIGIN_IGP, ...asPath([PEER_AS]), ...nextHop(addr(i))];
          await reset(lab, i++, [update({ attrs: base, nlri: [33, 10, 9, 0, 0, 0] })], [3, 10]);
          await reset(lab, i++, [update({ attrs: base, nlri: [24, 10, 9] })], [3, 10]);
          await reset(lab, i++, [update({ withdrawn: [24, 10, 9, 0], withdrawnLen: 200 })], [3, 1]);
          await reset(lab, i++, [update({ attrs: base, attrLen: 300 })], [3, 1]);
          await reset(lab, i++, [update({ withdrawn: [40, 10, 9, 0, 0, 0, 0] })], [3, 10]);
          const unknownWellKnown = [...base, ...attr(0x40, 99, [1])];
          await reset(lab, i++, [
            update({ attrs: unknownWellKnown, nlri: prefixes(["10.9.0.0/24"]) }),
          ], [
            3,
            2,
          ]);
          const mpUnreach = attr(0x80, 15, [0, 2, 1]);
          await reset(lab, i++, [update({ attrs: [...mpUnreach, ...mpUnreach] })], [3, 1]);
          const mpBad = attr(0x90, 14, [0, 2, 1, 7, ...Array(7).fill(0), 0]);
          await reset(lab, i++, [update({ attrs: [...base, ...mpBad] })], [3, 9]);
          // IPv4 unicast with a 16-octet next hop (RFC 8950 not negotiated): 3/9 (RFC 7606 §7.11).
          const v4ViaV6 = attr(0x90, 14, [
            ...[0, 1, 1, 16, 0xfd, 0, 0, 0x77, ...Array(11).fill(0), 2],
            ...[0, 24, 10, 62, 0],
          ]);
          await reset(lab, i++, [
            update({ attrs: [...ORIGIN_IGP, ...asPath([PEER_AS]), ...v4ViaV6] }),
          ], [3, 9]);
          assertEquals(lab.sp.rib.best("10.62.0.0/24"), undefined);
          // NOTIFICATION data is the offending attribute: 4,030 octets of it must still fit.
          const mpHuge = attr(0x90, 14, [0, 2, 1, 7, ...Array(4026).fill(0)]);
          await reset(lab, i++, [update({ attrs: [...base, ...mpHuge] })], [3, 9]);
          const wellKnownHuge = attr(0x50, 99, Array(4030).fill(0));
          await reset(lab, i++, [
            update({ attrs: [...base, ...wellKnownHuge], nlri: [24, 10, 9, 0] }),
          ], [
            3,
            2,
          ]);
          // A framing error with no NLRI at all: nothing to withdraw (RFC 7606 §5.2).
          await reset(lab, i++, [update({ attrs: [...base, 0x40, 1, 9, 0] })], [3, 1]);
        });

        await t.step(
          "treat-as-withdraw (RFC 7606 §7): the route goes, the session stays",
          async () => {
            const withdraw = { kept: false, counted: true };
            const send = (attrs: (from: string) => number[]) => (route: string, from: string) =>
              update({ attrs: attrs(from), nlri: prefixes([route]) });
            const path = asPath([PEER_AS]);
            await contained(
              lab,
              i++,
              send((f) => [...attr(0x40, 1, [3]), ...path, ...nextHop(f)]),
              withdraw,
            );
            await contained(
              lab,
              i++,
              send((f) => [...attr(0x40, 1, [0, 0]), ...path, ...nextHop(f)]),
              withdraw,
            );
            await contained(
              lab,
              i++,
              send((f) => [...attr(0xc0, 1, [0]), ...path, ...nextHop(f)]),
              withdraw,
            );
            const badSeg = attr(0x40, 2, [5, 1, 0, 0, 0xfd, 0xf1]);
            await contained(
              lab,
              i++,
              send((f) => [...ORIGIN_IGP, ...badSeg, ...nextHop(f)]),
              withdraw,
            );
            const overrun = attr(0x40, 2, [2, 3, 0, 0, 0xfd, 0xf1]);
            await contained(
              lab,
              i++,
              send((f) => [...ORIGIN_IGP, ...overrun, ...nextHop(f)]),
              withdraw,
            );
            await contained(lab, i++, send((f) => [...path, ...nextHop(f)]), withdraw); // no ORIGIN
            await contained(lab, i++, send(() => [...ORIGIN_IGP, ...path]), withdraw); // no NEXT_HOP
            const nh5 = attr(0x40, 3, [192, 168, 77, 9, 9]);
            await contained(lab, i++, send(() => [...ORIGIN_IGP, ...path, ...nh5]), withdraw);
            const med3 = attr(0x80, 4, [0, 0, 1]);
            await contained(
              lab,
              i++,
              send((f) => [...ORIGIN_IGP, ...path, ...nextHop(f), ...med3]),
              withdraw,
            );
            // RFC 7607: AS 0 in AS_PATH; RFC 5065: AS_CONFED segments from an eBGP peer.
            const as0 = attr(0x40, 2, [2, 2, 0, 0, 0xfd, 0xf1, 0, 0, 0, 0]);
            await contained(
              lab,
              i++,
              send((f) => [...ORIGIN_IGP, ...as0, ...nextHop(f)]),
              withdraw,
            );
            const confed = attr(0x40, 2, [3, 1, 0, 0, 0xfd, 0xf2, 2, 1, 0, 0, 0xfd, 0xf1]);
            await contained(
              lab,
              i++,
              send((f) => [...ORIGIN_IGP, ...confed, ...nextHop(f)]),
              withdraw,
            );
            // RFC 4271 §6.3 enforce-first-as: an empty AS_PATH, or one led by another AS.
            for (const lead of [attr(0x40, 2, []), asPath([PEER_AS + 1, PEER_AS])]) {
              await contained(
                lab,
                i++,
                send((f) => [...ORIGIN_IGP, ...lead, ...nextHop(f)]),
                withdraw,
              );
            }
            // RFC 7606 §4: an attribute overrunning the Total Path Attribute Length, and fewer than
            // 3 octets left for an attribute header, are treat-as-withdraw (the NLRI is still found).
            await contained(
              lab,
              i++,
              send((f) => [...ORIGIN_IGP, ...path, ...nextHop(f), 0x80, 4, 9, 0]),
              withdraw,
            );
            await contained(
              lab,
              i++,
              send((f) => [...ORIGIN_IGP, ...path, ...nextHop(f), 0x80, 4]),
              withdraw,
            );
          },
        );

        await t.step(
          "semantically bad NEXT_HOP (RFC 4271 §6.3, RFC 7606 §7.3): route ignored",
          async () => {
            const ignored = { kept: false, counted: true };
            for (const nh of ["0.0.0.0", "224.0.0.5", "255.255.255.255", "127.0.0.1", NODE]) {
              await contained(
                lab,
                i++,
                (route) =>
                  update({
                    attrs: [...ORIGIN_IGP, ...asPath([PEER_AS]), ...nextHop(nh)],
                    nlri: prefixes([route]),
                  }),
                ignored,
              );
              const routes = lab.sp.routes().filter((r) => r.nextHop === nh);
              assertEquals(routes, [], `no route via ${nh}`);
            }
          },
        );

        await t.step("attribute discard and unknown attributes: the route is taken", async () => {
          const announce = (extra: number[]) => (route: string, from: string) =>
            good([route], from, extra);
          // AGGREGATOR of the wrong length: discarded (RFC 7606 §7.7), counted.
          await contained(lab, i++, announce(attr(0xc0, 7, [1, 2, 3])), {
            kept: true,
            counted: true,
          });
          // AGGREGATOR naming AS 0: discarded (RFC 7607), counted.
          await contained(lab, i++, announce(attr(0xc0, 7, [0, 0, 0, 0, 10, 0, 0, 1])), {
            kept: true,
            counted: true,
          });
          // A duplicate ORIGIN: the first is kept (RFC 7606 §3(g)).
          await contained(lab, i++, announce(attr(0x40, 1, [7])), { kept: true, counted: false });
          const fine = { kept: true, counted: false };
          await contained(lab, i++, announce(attr(0xc0, 200, [1, 2, 3])), fine); // optional transitive
          await contained(lab, i++, announce(attr(0xe0, 201, [1, 2, 3])), fine); // ... partial
          await contained(lab, i++, announce(attr(0x80, 202, [1, 2, 3])), fine); // optional non-transitive
          // Extended length on a short attribute is legal (RFC 4271 §4.3).
          const extOrigin = (route: string, from: string) =>
            update({
              attrs: [...attr(0x50, 1, [0]), ...asPath([PEER_AS]), ...nextHop(from)],
              nlri: prefixes([route]),
            });
          await contained(lab, i++, extOrigin, fine);
          // Communities, large communities, MED, LOCAL_PREF from eBGP (ignored, RFC 4271 §5.1.5).
          const rich = [
            ...attr(0xc0, 8, [0xfd, 0xe8, 0, 1]),
            ...attr(0xc0, 32, [0, 0, 0xfd, 0xe8, 0, 0, 0, 1, 0, 0, 0, 2]),
            ...attr(0x80, 4, [0, 0, 0, 50]),
            ...attr(0x40, 5, [0, 0, 1, 0]),
          ];
          await contained(lab, i++, announce(rich), fine);
          // ... even of a bad length, with ORIGINATOR_ID and CLUSTER_LIST (RFC 7606 §7.5, §7.9,
          // §7.10): dropped unread, the route kept, no error.
          const ibgpOnly = [
            ...attr(0x40, 5, [0, 1]),
            ...attr(0x80, 9, [10, 0, 0]),
            ...attr(0x80, 10, [1, 0, 0, 1, 9]),
          ];
          await contained(lab, i++, announce(ibgpOnly), fine);
        });

        await t.step(
          "IPv6 NLRI on an IPv4-only session (RFC 4760 §6): ignored, counted",
          async () => {
            const mp = attr(0x90, 14, [
              ...[0, 2, 1, 16], // AFI 2, SAFI 1, next hop length 16
              ...[0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a],
              ...[0, 64, 0xfd, 0, 0, 9, 0, 0, 0, 0],
            ]);
            await contained(
              lab,
              i++,
              (route, from) => good([route], from, mp),
              { kept: true, counted: true },
            );
            assertEquals(lab.sp.rib.best("fd00:0:9::/64"), undefined);
            assertEquals(lab.sp.routes().filter((r) => r.family === 6), []);
          },
        );

        await t.step("a NOTIFICATION mid-session: routes withdrawn, none sent back", async () => {
          const n = i++;
          const { p, route } = await session(lab, n);
          try {
            await p.send(message(3, [6, 2]));
            assertEquals(await p.closedWith(), undefined);
            await until(`${route} withdrawn`, () => !lab.sp.rib.best(route) || undefined);
            await until(
              "the received NOTIFICATION in status()",
              () => status(lab, n).lastNotification?.direction === "received" || undefined,
            );
            assertEquals(status(lab, n).lastNotification?.code, 6);
          } finally {
            p.close();
          }
        });

        await t.step(
          "a KEEPALIVE flood, a ROUTE-REFRESH, 20,000 prefixes and withdrawing them all",
          async () => {
            const n = i++;
            const { p, route } = await session(lab, n);
            try {
              const flood = new Uint8Array(KEEPALIVE.length * 20000);
              for (let k = 0; k < 20000; k++) flood.set(KEEPALIVE, k * KEEPALIVE.length);
              await p.send(flood);
              for (;;) { // the initial UPDATE and End-of-RIB
                const u = await p.nextOf("update");
                if (!u || (u.nlri.length === 0 && u.attributes.length === 0)) break;
              }
              await p.send(message(5, [0, 1, 0, 1])); // ROUTE-REFRESH IPv4 unicast
              const again = await p.nextOf("update");
              assertEquals(again?.nlri, ["10.244.1.0/24"]);
              const all: string[] = [];
              for (let a = 0; a < 80; a++) {
                for (let b = 0; b < 250; b++) all.push(`10.${100 + a}.${b}.0/24`);
              }
              const attrs = [...ORIGIN_IGP, ...asPath([PEER_AS]), ...nextHop(addr(n))];
              for (let k = 0; k < all.length; k += 900) {
                await p.send(update({ attrs, nlri: prefixes(all.slice(k, k + 900)) }));
              }
              await until(
                "20,000 prefixes",
                () => status(lab, n).prefixesReceived === 20001 || undefined,
                60000,
              );
              assertEquals(status(lab, n).state, "Established");
              for (let k = 0; k < all.length; k += 900) {
                await p.send(update({ withdrawn: prefixes(all.slice(k, k + 900)) }));
              }
              await p.send(update({ withdrawn: prefixes([route]) }));
              await until(
                "every prefix withdrawn",
                () => status(lab, n).prefixesReceived === 0 || undefined,
                60000,
              );
              assertEquals(status(lab, n).state, "Established");
            } finally {
              p.close();
            }
          },
        );

        await t.step("the well-behaved peer saw none of it", async () => {
          assert(i <= LAST + 1, `used ${i - 10} case addresses, have ${LAST - 9}`);
          assertEquals(status(lab, FIRST).state, "Established");
          assert(lab.sp.rib.best("10.59.0.0/24"));
          await okPeer.send(KEEPALIVE);
          assertEquals(status(lab, FIRST).updateErrors, 0);
          okPeer.close();
        });
      } finally {
        lab.sp.close();
      }
    });
  },
});

Deno.test({
  name:
    "route reflector: a route whose attributes no longer fit in 4,096 octets once reflected is not sent on (logged); the others are, nothing throws",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withNamespaces(["node", "peer"], async (ns) => {
      link(ns);
      const logs: string[] = [];
      const sp = new Speaker({
        netns: ns.node!,
        localAs: 64512,
        routerId: NODE,
        port: PORT,
        holdTime: 9,
        families: [1],
        clusterId: "1.0.0.1",
        idleHoldMs: 300,
        log: (l) => logs.push(l),
      });
      const client = (i: number) => ({
        address: addr(i),
        asNumber: 64512,
        policy: { import: true, export: true },
        source: "config" as const,
        passive: true,
      });
      sp.setPeers([client(10), client(11)]);
      sp.setOwnPrefixes(["10.244.1.0/24"]);
      sp.start();
      const a = await connect({ ns }, 10);
      const b = await connect({ ns }, 11);
      try {
        await a.establish({ asNumber: 64512, routerId: addr(10) });
        await b.establish({ asNumber: 64512, routerId: addr(11) });
        const ibgp = (extra: number[]) => [
          ...ORIGIN_IGP,
          ...attr(0x40, 2, []),
          ...nextHop(addr(10)),
          ...extra,
        ];
        // COMMUNITIES of 4,040 octets: the UPDATE fits, the reflected one (ORIGINATOR_ID,
        // CLUSTER_LIST, MED and LOCAL_PREF added) does not.
        const huge = attr(0xd0, 8, Array(4040).fill(1));
        await a.send(update({ attrs: ibgp(huge), nlri: prefixes(["10.70.0.0/24"]) }));
        await a.send(update({ attrs: ibgp([]), nlri: prefixes(["10.71.0.0/24"]) }));
        await until("both routes from a", () => sp.rib.best("10.71.0.0/24"));
        assert(sp.rib.best("10.70.0.0/24"), "the big route is taken");
        const got: string[] = [];
        const end = Date.now() + 20000;
        while (!got.includes("10.71.0.0/24") && Date.now() < end) {
          const u = await b.nextOf("update", 2000);
          if (u) got.push(...u.nlri);
        }
        assert(got.includes("10.71.0.0/24"), `b got ${got}`);
        assert(!got.includes("10.70.0.0/24"), "the route too large to reflect is not sent");
        await until(
          "the log line",
          () => logs.some((l) => l.includes("10.70.0.0/24") && l.includes("4,096")) || undefined,
        );
        assertEquals(
          sp.status().map((s) => s.state),
          ["Established", "Established"],
        );
      } finally {
        a.close();
        b.close();
        sp.close();
      }
    });
  },
});
