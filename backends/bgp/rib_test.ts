import { assert, assertEquals } from "../../testing/assert.ts";
import type { PathAttribute } from "./codec_attrs.ts";
import { decodeMessage, encodeMessage, type UpdateMessage } from "./codec.ts";
import { comparePaths, Rib, type RibPeer, type RibRoute } from "./rib.ts";
import { AdjRibOut } from "./updates.ts";

const SELF = { localAs: 64512, routerId: "10.0.0.1" };

function peer(key: string, over: Partial<RibPeer> = {}): RibPeer {
  return { key, ebgp: false, routerId: key, policy: { import: true, export: true }, ...over };
}

function announce(
  nlri: string[],
  nextHop: string,
  extra: PathAttribute[] = [],
  asns: number[] = [],
): UpdateMessage {
  return {
    type: "update",
    withdrawn: [],
    attributes: [
      { type: "origin", value: 0 },
      { type: "as-path", segments: asns.length ? [{ type: 2, asns }] : [] },
      { type: "next-hop", address: nextHop },
      ...extra,
    ],
    nlri,
  };
}

function route(over: Partial<RibRoute>): RibRoute {
  return {
    prefix: "10.9.0.0/24",
    family: 4,
    peer: "10.0.0.2",
    nextHop: "10.0.0.2",
    origin: 0,
    asPath: [],
    med: 0,
    hasMed: false,
    localPref: 100,
    clusterList: [],
    ebgp: false,
    peerRouterId: "10.0.0.2",
    stale: false,
    passThrough: [],
    ...over,
  };
}

Deno.test("best path: local pref, AS path length, origin, MED, eBGP, router id, cluster list, address", () => {
  const better = (a: Partial<RibRoute>, b: Partial<RibRoute>) =>
    assert(comparePaths(route(a), route(b)) < 0, JSON.stringify(a));
  better({ localPref: 200 }, { localPref: 100 });
  better({ asPath: [{ type: 2, asns: [1] }] }, { asPath: [{ type: 2, asns: [1, 2] }] });
  better({ asPath: [{ type: 2, asns: [1, 2] }] }, {
    asPath: [{ type: 2, asns: [1] }, { type: 1, asns: [5, 6] }, { type: 2, asns: [7] }],
  });
  better({ origin: 0 }, { origin: 2 });
  better({ med: 5, asPath: [{ type: 2, asns: [7] }] }, {
    med: 50,
    asPath: [{ type: 2, asns: [7] }],
  });
  better({ ebgp: true }, { ebgp: false });
  better({ peerRouterId: "10.0.0.3" }, { peerRouterId: "10.0.0.20" });
  better({ originatorId: "1.1.1.1", peerRouterId: "9.9.9.9" }, { peerRouterId: "2.2.2.2" });
  better({ clusterList: ["1.0.0.1"] }, { clusterList: ["1.0.0.1", "1.0.0.2"] });
  better({ peer: "10.0.0.3" }, { peer: "10.0.0.30" });
  // MED only between routes from the same neighbour AS
  assert(
    comparePaths(
      route({ med: 50, asPath: [{ type: 2, asns: [7] }] }),
      route({ med: 5, asPath: [{ type: 2, asns: [8] }], peer: "10.0.0.9" }),
    ) < 0,
  );
});

Deno.test("imports prefixes outside own subnets; a covering route is fine; best path across peers", () => {
  const rib = new Rib(SELF);
  rib.setOwnPrefixes(["10.244.1.0/24"]);
  const c = rib.update(
    peer("10.0.0.2"),
    announce(["10.244.2.0/24", "10.244.1.0/24", "10.244.1.128/25", "10.0.0.0/8"], "10.0.0.2"),
  );
  assertEquals(c.rejected.map((r) => r.prefix), ["10.244.1.0/24", "10.244.1.128/25"]);
  assertEquals(rib.best("10.244.2.0/24")?.nextHop, "10.0.0.2");
  assertEquals(rib.best("10.0.0.0/8")?.nextHop, "10.0.0.2");
  rib.update(
    peer("10.0.0.3"),
    announce(["10.244.2.0/24"], "10.0.0.3", [{ type: "local-pref", value: 300 }]),
  );
  assertEquals(rib.best("10.244.2.0/24")?.nextHop, "10.0.0.3");
  rib.update(peer("10.0.0.3"), {
    type: "update",
    withdrawn: ["10.244.2.0/24"],
    attributes: [],
    nlri: [],
  });
  assertEquals(rib.best("10.244.2.0/24")?.nextHop, "10.0.0.2");
  assertEquals([rib.received("10.0.0.2"), rib.received("10.0.0.3")], [2, 0]);
});

Deno.test("never imported whatever the rule: the uplink's networks and what is inside them, a default route unless acceptDefault", () => {
  const rib = new Rib(SELF);
  rib.setOwnPrefixes(["10.244.1.0/24"]);
  rib.setUplinkPrefixes(["192.168.77.0/24", "fd00:77::/64"]);
  const ebgp = peer("192.168.77.254", {
    ebgp: true,
    policy: { import: true, export: true },
  });
  const lan = ["192.168.77.0/25", "192.168.77.0/24", "0.0.0.0/0", "192.168.0.0/16"];
  const c = rib.update(ebgp, announce(lan, "192.168.77.254", [], [65000]));
  assertEquals(c.rejected, [
    { prefix: "192.168.77.0/25", reason: "inside this node's uplink network 192.168.77.0/24" },
    { prefix: "192.168.77.0/24", reason: "inside this node's uplink network 192.168.77.0/24" },
    { prefix: "0.0.0.0/0", reason: "a default route (the peer's acceptDefault is off)" },
  ]);
  // A covering route leaves the connected /24 the longer match: taken.
  assertEquals([...rib.bestRoutes()].map((r) => r.prefix), ["192.168.0.0/16"]);
  const v6: UpdateMessage = {
    type: "update",
    withdrawn: [],
    attributes: [
      { type: "origin", value: 0 },
      { type: "as-path", segments: [{ type: 2, asns: [65000] }] },
      {
        type: "mp-reach",
        afi: 2,
        safi: 1,
        nextHops: ["fd00:77::fe"],
        nlri: ["fd00:77::/65", "::/0"],
      },
    ],
    nlri: [],
  };
  assertEquals(rib.update(ebgp, v6).rejected.map((r) => r.prefix), ["fd00:77::/65", "::/0"]);
  // acceptDefault: the defaults are taken (the LAN still is not).
  const open = { ...ebgp, policy: { import: true, export: true, acceptDefault: true } };
  rib.update(open, announce(lan, "192.168.77.254", [], [65000]));
  rib.update(open, v6);
  assertEquals(rib.best("0.0.0.0/0")?.nextHop, "192.168.77.254");
  assertEquals(rib.best("::/0")?.nextHop, "fd00:77::fe");
  assertEquals(rib.best("192.168.77.0/25"), undefined);
  // Turning it off again (reimport) drops them; a route taken before the LAN was known goes
  // when it is set.
  assertEquals(rib.reimport(ebgp).sort(), ["0.0.0.0/0", "::/0"]);
  assertEquals(rib.best("0.0.0.0/0"), undefined);
  rib.update(ebgp, announce(["10.99.0.0/24"], "192.168.77.254", [], [65000]));
  assertEquals(rib.setUplinkPrefixes(["10.99.0.0/16"]), ["10.99.0.0/24"]);
  assertEquals(rib.best("10.99.0.0/24"), undefined);
});

Deno.test("eBGP: no import rule → nothing taken; AS loop refused; LOCAL_PREF from eBGP ignored", () => {
  const rib = new Rib(SELF);
  const none = peer("192.168.77.254", { ebgp: true, policy: { import: false, export: false } });
  const c = rib.update(none, announce(["10.50.0.0/16"], "192.168.77.254", [], [65000]));
  assertEquals([c.rejected[0]?.reason, rib.best("10.50.0.0/16")], [
    "no import rule for this peer",
    undefined,
  ]);
  const tor = peer("192.168.77.254", { ebgp: true });
  assertEquals(
    rib.update(tor, announce(["10.51.0.0/16"], "192.168.77.254", [], [65000, 64512])).rejected[0]
      ?.reason,
    "AS path loop (contains 64512)",
  );
  rib.update(
    tor,
    announce(["10.52.0.0/16"], "192.168.77.254", [{ type: "local-pref", value: 999 }], [65000]),
  );
  assertEquals(rib.best("10.52.0.0/16")?.localPref, 100);
  assertEquals(rib.exportTo(none, { 4: "192.168.77.1" }).size, 0);
});

Deno.test("treat-as-withdraw removes the prefixes an UPDATE carried", () => {
  const rib = new Rib(SELF);
  rib.update(peer("10.0.0.2"), announce(["10.9.0.0/24"], "10.0.0.2"));
  const bytes = encodeMessage(announce(["10.9.0.0/24"], "10.0.0.2"));
  bytes[19 + 4 + 3] = 9; // ORIGIN 9
  const withdraw = decodeMessage(bytes);
  assert(withdraw.type === "update" && withdraw.treatAsWithdraw);
  rib.update(peer("10.0.0.2"), withdraw);
  assertEquals(rib.best("10.9.0.0/24"), undefined);
});

Deno.test("an invalid next hop (own address, multicast, v6 unspecified) withdraws what the peer gave before; others stay", () => {
  const rib = new Rib(SELF);
  const p = peer("10.0.0.2", { ownAddresses: ["10.0.0.1"] });
  rib.update(peer("10.0.0.3"), announce(["10.9.0.0/24"], "10.0.0.3"));
  rib.update(p, announce(["10.9.0.0/24", "10.9.1.0/24"], "10.0.0.2"));
  const own = rib.update(p, announce(["10.9.0.0/24", "10.9.1.0/24"], "10.0.0.1"));
  assertEquals(own.invalidNextHop, "next hop 10.0.0.1 is this node's own address");
  assertEquals(own.rejected.map((r) => r.prefix), ["10.9.0.0/24", "10.9.1.0/24"]);
  assertEquals(rib.best("10.9.0.0/24")?.peer, "10.0.0.3");
  assertEquals(rib.best("10.9.1.0/24"), undefined);
  assertEquals(
    rib.update(p, announce(["10.9.2.0/24"], "224.0.0.1")).invalidNextHop !== undefined,
    true,
  );
  const v6 = rib.update(p, {
    type: "update",
    withdrawn: [],
    attributes: [
      { type: "origin", value: 0 },
      { type: "as-path", segments: [] },
      { type: "mp-reach", afi: 2, safi: 1, nextHops: ["::"], nlri: ["fd00:9::/64"] },
    ],
    nlri: [],
  });
  assertEquals([v6.invalidNextHop, rib.best("fd00:9::/64")], [
    "next hop :: is the unspecified address",
    undefined,
  ]);
  assertEquals(rib.received("10.0.0.2"), 0);
});

Deno.test("AS_CONFED segments from an eBGP peer are treat-as-withdraw (RFC 5065); from iBGP they are kept", () => {
  const rib = new Rib(SELF);
  const e = peer("10.0.0.2", { ebgp: true });
  const msg = (n: string[]): UpdateMessage => ({
    type: "update",
    withdrawn: [],
    attributes: [
      { type: "origin", value: 0 },
      { type: "as-path", segments: [{ type: 3, asns: [65100] }, { type: 2, asns: [65002] }] },
      { type: "next-hop", address: "10.0.0.2" },
    ],
    nlri: n,
  });
  rib.update(e, announce(["10.9.0.0/24"], "10.0.0.2", [], [65002]));
  const c = rib.update(e, msg(["10.9.0.0/24"]));
  assertEquals(c.malformed, "AS_PATH has AS_CONFED segments from an eBGP peer (RFC 5065)");
  assertEquals(rib.best("10.9.0.0/24"), undefined);
  const i = rib.update(peer("10.0.0.3"), msg(["10.9.1.0/24"]));
  assertEquals([i.malformed, rib.best("10.9.1.0/24")?.peer], [undefined, "10.0.0.3"]);
});

Deno.test("RFC 4271 §6.3 enforce-first-as: an eBGP route whose AS_PATH is empty or does not start with the peer's AS is treat-as-withdraw", () => {
  const rib = new Rib(SELF);
  const tor = peer("192.168.77.254", {
    ebgp: true,
    asNumber: 65000,
    policy: { import: true, export: true },
  });
  // Another node's pod subnet over the iBGP mesh.
  rib.update(peer("10.0.0.2"), announce(["10.244.2.0/24"], "10.0.0.2"));
  rib.update(tor, announce(["10.244.2.0/24"], "192.168.77.254", [], [65000]));
  assertEquals(rib.best("10.244.2.0/24")?.peer, "10.0.0.2", "the shorter (empty) iBGP path wins");
  // An empty path from eBGP would win (as short, eBGP over iBGP): refused, as are the others.
  for (const asns of [[], [65001, 65000], [64999]]) {
    const c = rib.update(tor, announce(["10.244.2.0/24"], "192.168.77.254", [], asns));
    assert(c.malformed?.includes("RFC 4271 §6.3"), c.malformed);
    assertEquals(rib.best("10.244.2.0/24")?.peer, "10.0.0.2", JSON.stringify(asns));
  }
  const set = rib.update(tor, {
    ...announce(["10.9.0.0/24"], "192.168.77.254"),
    attributes: [
      { type: "origin", value: 0 },
      { type: "as-path", segments: [{ type: 1, asns: [65000] }] },
      { type: "next-hop", address: "192.168.77.254" },
    ],
  });
  assertEquals(
    set.malformed,
    "AS_PATH starts with an AS_SET, not the peer's AS 65000 (RFC 4271 §6.3)",
  );
  // A withdrawal has no AS_PATH: no error. iBGP paths may be empty.
  const w = rib.update(tor, {
    type: "update",
    withdrawn: ["10.9.0.0/24"],
    attributes: [],
    nlri: [],
  });
  assertEquals(w.malformed, undefined);
  const ibgp = rib.update(
    peer("10.0.0.3", { asNumber: 64512 }),
    announce(["10.9.3.0/24"], "10.0.0.3"),
  );
  assertEquals([ibgp.malformed, rib.best("10.9.3.0/24")?.peer], [undefined, "10.0.0.3"]);
  // A 4-octet AS behind a 2-octet session leads with AS_TRANS (its AS4_PATH does not hold it).
  const old = peer("192.168.77.253", {
    ebgp: true,
    asNumber: 4200000001,
    as4: false,
    policy: { import: true, export: true },
  });
  const c = rib.update(old, announce(["10.9.4.0/24"], "192.168.77.253", [], [23456]));
  assertEquals([c.malformed, rib.best("10.9.4.0/24")?.peer], [undefined, "192.168.77.253"]);
});

Deno.test("RFC 4760 §6: plain IPv4 NLRI on a session that negotiated only IPv6 are ignored, reported", () => {
  const rib = new Rib(SELF);
  const v6only = peer("10.0.0.2", { families: [2] });
  const c = rib.update(v6only, {
    type: "update",
    withdrawn: [],
    attributes: [
      { type: "origin", value: 0 },
      { type: "as-path", segments: [] },
      { type: "next-hop", address: "10.0.0.2" },
      { type: "mp-reach", afi: 2, safi: 1, nextHops: ["fd00::2"], nlri: ["fd00:9::/64"] },
    ],
    nlri: ["10.9.0.0/24"],
  });
  assertEquals(c.unnegotiated, "IPv4 unicast NLRI on a session that did not negotiate it");
  assertEquals(rib.best("10.9.0.0/24"), undefined);
  assertEquals(rib.best("fd00:9::/64")?.nextHop, "fd00::2");
  const both = rib.update(
    peer("10.0.0.3", { families: [1, 2] }),
    announce(["10.9.0.0/24"], "10.0.0.3"),
  );
  assertEquals([both.unnegotiated, rib.best("10.9.0.0/24")?.peer], [undefined, "10.0.0.3"]);
});

Deno.test("graceful restart keeps stale routes until End-of-RIB sweeps those not re-announced", () => {
  const rib = new Rib(SELF);
  rib.update(peer("10.0.0.2"), announce(["10.9.0.0/24", "10.9.1.0/24"], "10.0.0.2"));
  rib.peerDown("10.0.0.2", true);
  assertEquals([rib.best("10.9.0.0/24")?.stale, rib.hasStale("10.0.0.2")], [true, true]);
  rib.update(peer("10.0.0.2"), announce(["10.9.0.0/24"], "10.0.0.2"));
  assertEquals(rib.best("10.9.0.0/24")?.stale, false);
  assertEquals(rib.sweepStale("10.0.0.2", 1), ["10.9.1.0/24"]);
  assertEquals([rib.best("10.9.1.0/24"), rib.hasStale("10.0.0.2")], [undefined, false]);
  rib.peerDown("10.0.0.2", false);
  assertEquals(rib.best("10.9.0.0/24"), undefined);
});

Deno.test("export: own subnets to every peer (AS path per eBGP/iBGP), IPv6 via MP_REACH", () => {
  const rib = new Rib(SELF);
  rib.setOwnPrefixes(["10.244.1.0/24", "fd00:1::/64"]);
  const ibgp = rib.exportTo(peer("10.0.0.2"), { 4: "10.0.0.1", 6: "fd::1" });
  assertEquals([...ibgp.keys()], ["10.244.1.0/24", "fd00:1::/64"]);
  assertEquals(ibgp.get("10.244.1.0/24")?.attributes, [
    { type: "origin", value: 0 },
    { type: "as-path", segments: [] },
    { type: "next-hop", address: "10.0.0.1" },
    { type: "local-pref", value: 100 },
  ]);
  const ebgp = rib.exportTo(peer("192.168.77.254", { ebgp: true }), { 4: "192.168.77.1" });
  assertEquals([...ebgp.keys()], ["10.244.1.0/24"]);
  assertEquals(ebgp.get("10.244.1.0/24")?.attributes[1], {
    type: "as-path",
    segments: [{ type: 2, asns: [64512] }],
  });
});

Deno.test("a route reflector passes iBGP routes on with ORIGINATOR_ID and CLUSTER_LIST, never back", () => {
  const rib = new Rib({ ...SELF, clusterId: "1.0.0.1" });
  const a = peer("10.0.0.2"), b = peer("10.0.0.3");
  rib.update(
    a,
    announce(["10.244.2.0/24"], "10.0.0.2", [{
      type: "other",
      code: 8,
      flags: 0xc0,
      data: Uint8Array.of(0, 1, 0, 2),
    }]),
  );
  const toB = rib.exportTo(b, { 4: "10.0.0.1" }).get("10.244.2.0/24");
  assertEquals(toB?.nextHop, "10.0.0.2");
  assertEquals(
    toB?.attributes.filter((x) =>
      x.type === "originator-id" || x.type === "cluster-list" || x.type === "other"
    ),
    [
      { type: "originator-id", id: "10.0.0.2" },
      { type: "cluster-list", ids: ["1.0.0.1"] },
      // Communities, not interpreted here: passed on with the Partial bit (RFC 4271 §5).
      { type: "other", code: 8, flags: 0xe0, data: Uint8Array.of(0, 1, 0, 2) },
    ],
  );
  assertEquals(rib.exportTo(a, { 4: "10.0.0.1" }).has("10.244.2.0/24"), false);
  // RFC 4456 §8: MED is not modified: none added when the route had none, kept when it had one.
  assertEquals(toB?.attributes.some((x) => x.type === "med"), false);
  rib.update(b, announce(["10.244.4.0/24"], "10.0.0.3", [{ type: "med", value: 0 }]));
  rib.update(b, announce(["10.244.5.0/24"], "10.0.0.3", [{ type: "med", value: 7 }]));
  const toA = rib.exportTo(a, { 4: "10.0.0.1" });
  for (const [p, med] of [["10.244.4.0/24", 0], ["10.244.5.0/24", 7]] as const) {
    assertEquals(toA.get(p)?.attributes.filter((x) => x.type === "med"), [{
      type: "med",
      value: med,
    }]);
  }
  const loop = rib.update(
    b,
    announce(["10.244.3.0/24"], "10.0.0.3", [{ type: "cluster-list", ids: ["1.0.0.1"] }]),
  );
  assertEquals(loop.rejected[0]?.reason, "CLUSTER_LIST contains our cluster id");
  const noRR = new Rib(SELF);
  noRR.update(a, announce(["10.244.2.0/24"], "10.0.0.2"));
  assertEquals(noRR.exportTo(b, { 4: "10.0.0.1" }).has("10.244.2.0/24"), false);
});

Deno.test("AdjRibOut sends only changes, groups by attributes, packs under 4,096 octets", () => {
  const rib = new Rib(SELF);
  const own = Array.from({ length: 2000 }, (_, i) => `10.${100 + (i >> 8)}.${i & 255}.0/24`);
  rib.setOwnPrefixes([...own, "fd00:1::/64"]);
  const out = new AdjRibOut();
  const to = peer("10.0.0.2");
  const first = out.sync(rib.exportTo(to, { 4: "10.0.0.1", 6: "fd::1" }), true);
  assert(first.length >= 3, `${first.length} UPDATEs`);
  let nlri = 0;
  for (const u of first) {
    const bytes = encodeMessage(u);
    assert(bytes.length <= 4096);
    const back = decodeMessage(bytes);
    assert(back.type === "update");
    nlri += back.nlri.length +
      back.attributes.reduce((n, a) => n + (a.type === "mp-reach" ? a.nlri.length : 0), 0);
  }
  assertEquals(nlri, 2001);
  assertEquals(out.sync(rib.exportTo(to, { 4: "10.0.0.1", 6: "fd::1" }), true), []);
  rib.setOwnPrefixes(own.slice(1));
  const second = out.sync(rib.exportTo(to, { 4: "10.0.0.1", 6: "fd::1" }), true);
  assertEquals(second.map((u) => [u.withdrawn, u.attributes.map((a) => a.type)]), [
    [["10.100.0.0/24"], []],
    [[], ["mp-unreach"]],
  ]);
});

Deno.test("identical path attributes are stored once across UPDATEs and freed with the last prefix", () => {
  const rib = new Rib(SELF);
  rib.setOwnPrefixes(["10.244.1.0/24"]);
  const tor = peer("10.0.0.9", { ebgp: true });
  const prefixes = Array.from({ length: 300 }, (_, i) => `10.${60 + (i >> 8)}.${i & 255}.0/24`);
  for (let i = 0; i < prefixes.length; i += 100) {
    rib.update(tor, announce(prefixes.slice(i, i + 100), "10.0.0.9", [], [65000]));
  }
  rib.update(peer("10.0.0.2"), announce(prefixes.slice(0, 10), "10.0.0.2", [], [65000, 65001]));
  assertEquals(rib.attributeSets, 2, "one set per peer and attributes, not per UPDATE");
  assertEquals(rib.best(prefixes[5]!)?.asPath, [{ type: 2, asns: [65000] }]);
  assertEquals(rib.best(prefixes[5]!)?.peer, "10.0.0.9", "the shorter AS path");
  rib.update(tor, announce(prefixes.slice(0, 1), "10.0.0.9", [{ type: "med", value: 7 }], [65000]));
  assertEquals([rib.attributeSets, rib.best(prefixes[0]!)?.med], [3, 7]);
  rib.update(tor, { type: "update", withdrawn: prefixes, attributes: [], nlri: [] });
  assertEquals(rib.attributeSets, 1, "the ToR's sets are gone with its last prefix");
  assertEquals([rib.received("10.0.0.9"), rib.best(prefixes[5]!)?.peer], [0, "10.0.0.2"]);
  rib.peerDown("10.0.0.2", false);
  assertEquals(rib.attributeSets, 0);
});

Deno.test("import/export rules as CIDR lists: only prefixes inside them pass", () => {
  const rib = new Rib(SELF);
  rib.setOwnPrefixes(["10.244.1.0/24", "10.245.1.0/24"]);
  const tor = peer("192.168.77.254", {
    ebgp: true,
    policy: { import: ["10.50.0.0/16", "10.70.0.0/16"], export: ["10.244.0.0/16"] },
  });
  const c = rib.update(
    tor,
    announce(["10.50.1.0/24", "10.0.0.0/8", "10.60.0.0/16", "10.70.0.0/16"], "192.168.77.254", [], [
      65000,
    ]),
  );
  assertEquals(c.rejected.map((r) => [r.prefix, r.reason]), [
    ["10.0.0.0/8", "outside this peer's import rule"],
    ["10.60.0.0/16", "outside this peer's import rule"],
  ]);
  assertEquals([...rib.bestRoutes()].map((r) => r.prefix).sort(), ["10.50.1.0/24", "10.70.0.0/16"]);
  assertEquals([...rib.exportTo(tor, { 4: "192.168.77.1" }).keys()], ["10.244.1.0/24"]);
});

Deno.test("AdjRibOut: a route too large for one UPDATE is not sent (reported once), an earlier version is withdrawn", () => {
  const out = new AdjRibOut();
  const route = (data: number) => ({
    prefix: "10.9.0.0/24",
    family: 4 as const,
    nextHop: "10.0.0.2",
    attributes: [
      { type: "origin" as const, value: 0 as const },
      { type: "as-path" as const, segments: [] },
      { type: "next-hop" as const, address: "10.0.0.2" },
      { type: "other" as const, code: 8, flags: 0xd0, data: new Uint8Array(data) },
    ],
  });
  const ok = { ...route(8), prefix: "10.9.1.0/24" };
  assertEquals(out.sync(new Map([["10.9.0.0/24", route(8)]]), true).length, 1);
  const big = new Map([["10.9.0.0/24", route(4080)], ["10.9.1.0/24", ok]]);
  const msgs = out.sync(big, true);
  assertEquals(out.tooLarge, ["10.9.0.0/24"]);
  assertEquals(msgs.map((m) => [m.withdrawn, m.nlri]), [[["10.9.0.0/24"], []], [[], [
    "10.9.1.0/24",
  ]]]);
  assertEquals([out.sync(big, true), out.tooLarge], [[], []]);
  assertEquals(out.size, 1);
});
