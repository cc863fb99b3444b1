import { assert, assertEquals } from "../../testing/assert.ts";
import type { BgpMessage, OpenMessage } from "./codec.ts";
import {
  collisionLoser,
  type FsmAction,
  type FsmConfig,
  meshDials,
  OPEN_HOLD_MS,
  SessionFsm,
} from "./fsm.ts";

const CONFIG: FsmConfig = {
  localAs: 64512,
  peerAs: 64512,
  routerId: "10.0.0.1",
  holdTime: 9,
  families: [1, 2],
  gracefulRestart: { restartTime: 120, restarting: false },
  connectRetryMs: 5000,
  idleHoldMs: 1000,
};

function peerOpen(over: Partial<OpenMessage> = {}, as = 64512): OpenMessage {
  return {
    type: "open",
    version: 4,
    asNumber: as > 0xffff ? 23456 : as,
    holdTime: 90,
    routerId: "10.0.0.2",
    capabilities: [
      { type: "multiprotocol", afi: 1, safi: 1 },
      { type: "route-refresh" },
      {
        type: "graceful-restart",
        restarting: false,
        notification: false,
        restartTime: 60,
        families: [{ afi: 1, safi: 1, forwarding: true }],
      },
      { type: "as4", asNumber: as },
    ],
    ...over,
  };
}

function sent(actions: FsmAction[]): BgpMessage[] {
  return actions.flatMap((a) => a.type === "send" ? [a.msg] : []);
}

function kinds(actions: FsmAction[]): string[] {
  return actions.map((a) => a.type === "send" ? `send ${a.msg.type}` : a.type);
}

/** Brings a session to Established at t = 0; returns it. */
function established(config = CONFIG): SessionFsm {
  const f = new SessionFsm(config);
  assertEquals(kinds(f.handle({ type: "start" }, 0)), ["connect"]);
  assertEquals(kinds(f.handle({ type: "tcp-up" }, 0)), ["send open"]);
  assertEquals(kinds(f.handle({ type: "message", msg: peerOpen() }, 0)), ["send keepalive"]);
  assertEquals(f.state, "OpenConfirm");
  assertEquals(kinds(f.handle({ type: "message", msg: { type: "keepalive" } }, 0)), [
    "established",
  ]);
  assertEquals(f.state, "Established");
  return f;
}

Deno.test("a session reaches Established and negotiates hold 9, keepalive 3, IPv4 only, GR", () => {
  const f = established();
  const n = f.negotiated!;
  assertEquals([n.holdTime, n.keepaliveTime, n.families, n.ibgp, n.as4], [9, 3, [1], true, true]);
  assertEquals(n.peerGracefulRestart, { restartTime: 60, restarting: false, forwarding: [1] });
});

Deno.test("our OPEN offers the families, route refresh, GR and a 4-octet AS as AS_TRANS", () => {
  const f = new SessionFsm({ ...CONFIG, localAs: 4200000001, peerAs: 65000 });
  f.handle({ type: "start" }, 0);
  const [open] = sent(f.handle({ type: "tcp-up" }, 0));
  assert(open?.type === "open");
  assertEquals([open.asNumber, open.holdTime, open.routerId], [23456, 9, "10.0.0.1"]);
  assertEquals(open.capabilities.map((c) => c.type), [
    "multiprotocol",
    "multiprotocol",
    "route-refresh",
    "graceful-restart",
    "as4",
  ]);
});

Deno.test("keepalives every holdTime/3; hold timer expiry sends 4/0 and goes Idle", () => {
  const f = established();
  assertEquals(f.nextDeadline(), 3000);
  assertEquals(kinds(f.handle({ type: "tick" }, 3000)), ["send keepalive"]);
  f.handle({ type: "message", msg: { type: "keepalive" } }, 5000); // hold now runs to 14000
  assertEquals(kinds(f.handle({ type: "tick" }, 13_999)).includes("down"), false);
  const out = f.handle({ type: "tick" }, 14_000);
  assertEquals(kinds(out), ["send notification", "close", "down"]);
  assertEquals(sent(out)[0], {
    type: "notification",
    code: 4,
    subcode: 0,
    data: new Uint8Array(0),
  });
  assertEquals([f.state, f.lastNotification?.direction, f.lastNotification?.code], [
    "Idle",
    "sent",
    4,
  ]);
});

Deno.test("after an error the session restarts on its own after the idle hold", () => {
  const f = established();
  f.handle({ type: "tcp-down", reason: "reset" }, 100);
  assertEquals(f.state, "Idle");
  assertEquals(f.nextDeadline(), 1100);
  assertEquals(kinds(f.handle({ type: "tick" }, 1100)), ["connect"]);
  assertEquals(f.state, "Connect");
});

Deno.test("a lost connection is graceful when the peer has GR; a NOTIFICATION is not", () => {
  const f = established();
  const down = f.handle({ type: "tcp-down", reason: "reset" }, 100).find((a) => a.type === "down");
  assertEquals(down?.type === "down" && down.graceful, true);
  const g = established();
  const out = g.handle({
    type: "message",
    msg: { type: "notification", code: 6, subcode: 2, data: new Uint8Array(0) },
  }, 5);
  assertEquals(kinds(out), ["close", "down"]);
  assertEquals(out[1]?.type === "down" && out[1].graceful, false);
  assertEquals(g.lastNotification, { direction: "received", code: 6, subcode: 2, at: 5 });
});

Deno.test("hold time 1 or 2 is refused with 2/6; hold time 0 means no keepalives", () => {
  for (const holdTime of [1, 2]) {
    const f = new SessionFsm(CONFIG);
    f.handle({ type: "start" }, 0);
    f.handle({ type: "tcp-up" }, 0);
    const [n] = sent(f.handle({ type: "message", msg: peerOpen({ holdTime }) }, 0));
    assertEquals(n?.type === "notification" && [n.code, n.subcode], [2, 6]);
    assertEquals(f.state, "Idle");
  }
  const z = new SessionFsm(CONFIG);
  z.handle({ type: "start" }, 0);
  z.handle({ type: "tcp-up" }, 0);
  z.handle({ type: "message", msg: peerOpen({ holdTime: 0 }) }, 0);
  z.handle({ type: "message", msg: { type: "keepalive" } }, 0);
  assertEquals([z.state, z.nextDeadline()], ["Established", undefined]);
});

Deno.test("an unexpected AS is 2/2 with the 2-octet AS as data; our own identifier is 2/3", () => {
  const f = new SessionFsm(CONFIG);
  f.handle({ type: "start" }, 0);
  f.handle({ type: "tcp-up" }, 0);
  const [n] = sent(f.handle({ type: "message", msg: peerOpen({}, 65000) }, 0));
  assert(n?.type === "notification");
  assertEquals([n.code, n.subcode, [...n.data]], [2, 2, [0xfd, 0xe8]]);
  const g = new SessionFsm(CONFIG);
  g.handle({ type: "start" }, 0);
  g.handle({ type: "tcp-up" }, 0);
  const [m] = sent(g.handle({ type: "message", msg: peerOpen({ routerId: "10.0.0.1" }) }, 0));
  assertEquals(m?.type === "notification" && [m.code, m.subcode], [2, 3]);
});

Deno.test("an UPDATE before OPEN is an FSM error 5/1", () => {
  const f = new SessionFsm(CONFIG);
  f.handle({ type: "start" }, 0);
  f.handle({ type: "tcp-up" }, 0);
  const upd: BgpMessage = { type: "update", withdrawn: [], attributes: [], nlri: ["10.0.0.0/24"] };
  const [n] = sent(f.handle({ type: "message", msg: upd }, 0));
  assertEquals(n?.type === "notification" && [n.code, n.subcode], [5, 1]);
});

Deno.test("no OPEN within 4 minutes expires the hold timer", () => {
  const f = new SessionFsm(CONFIG);
  f.handle({ type: "start" }, 0);
  f.handle({ type: "tcp-up" }, 0);
  assertEquals(f.nextDeadline(), OPEN_HOLD_MS);
  const [n] = sent(f.handle({ type: "tick" }, OPEN_HOLD_MS));
  assertEquals(n?.type === "notification" && n.code, 4);
});

Deno.test("a failed connect retries after ConnectRetry; a passive session never connects", () => {
  const f = new SessionFsm(CONFIG);
  f.handle({ type: "start" }, 0);
  f.handle({ type: "tcp-down", reason: "refused" }, 10);
  assertEquals([f.state, f.nextDeadline()], ["Active", 5010]);
  assertEquals(kinds(f.handle({ type: "tick" }, 5010)), ["close", "connect"]);
  const p = new SessionFsm({ ...CONFIG, passive: true });
  assertEquals(p.handle({ type: "start" }, 0), []);
  assertEquals(kinds(p.handle({ type: "tcp-up" }, 1)), ["send open"]);
});

Deno.test("UPDATEs, End-of-RIB and ROUTE-REFRESH are handed up in Established", () => {
  const f = established();
  const upd: BgpMessage = { type: "update", withdrawn: ["10.0.0.0/24"], attributes: [], nlri: [] };
  assertEquals(kinds(f.handle({ type: "message", msg: upd }, 1)), ["update"]);
  const eor: BgpMessage = { type: "update", withdrawn: [], attributes: [], nlri: [] };
  assertEquals(f.handle({ type: "message", msg: eor }, 1), [{ type: "end-of-rib", family: 1 }]);
  const rr: BgpMessage = { type: "route-refresh", afi: 1, subtype: 0, safi: 1 };
  assertEquals(f.handle({ type: "message", msg: rr }, 1), [{ type: "route-refresh", family: 1 }]);
  const borr: BgpMessage = { type: "route-refresh", afi: 1, subtype: 1, safi: 1 };
  assertEquals(f.handle({ type: "message", msg: borr }, 1), [], "RFC 7313 BoRR asks for nothing");
  const [n] = sent(f.handle({ type: "message", msg: peerOpen() }, 1));
  assertEquals(n?.type === "notification" && [n.code, n.subcode], [5, 3]);
});

Deno.test("stop sends Cease 6/2 and stays Idle", () => {
  const f = established();
  const out = f.handle({ type: "stop" }, 1);
  assertEquals(kinds(out), ["send notification", "close", "down"]);
  assertEquals(sent(out)[0]?.type === "notification" && sent(out)[0], {
    type: "notification",
    code: 6,
    subcode: 2,
    data: new Uint8Array(0),
  });
  assertEquals([f.state, f.nextDeadline()], ["Idle", undefined]);
});

Deno.test("mesh: exactly one end of each node pair dials (the higher address), v4 and v6", () => {
  const pairs = [
    ["192.168.77.11", "192.168.77.12"],
    ["192.168.77.13", "192.168.78.12"],
    ["10.0.0.10", "10.0.0.9"], // numeric, not text order
    ["fd00::2", "fd00::10"],
  ];
  for (const [a, b] of pairs) {
    assertEquals(meshDials(a!, b!) !== meshDials(b!, a!), true, `${a} ↔ ${b}`);
  }
  assertEquals(meshDials("10.0.0.10", "10.0.0.9"), true);
  assertEquals(meshDials("192.168.77.11", "192.168.77.12"), false);
});

Deno.test("collision: the lower BGP identifier closes the connection it initiated", () => {
  assertEquals(collisionLoser("10.0.0.1", "10.0.0.2", 65000, 64512), "local");
  assertEquals(collisionLoser("10.0.0.9", "10.0.0.2", 64512, 65000), "remote");
  assertEquals(collisionLoser("192.168.0.1", "10.0.0.2", 64512, 64512), "remote");
});

Deno.test("collision with equal BGP identifiers (eBGP): the larger AS keeps the connection it initiated (RFC 6286 §2.3)", () => {
  assertEquals(collisionLoser("10.0.0.1", "10.0.0.1", 65000, 64512), "remote");
  assertEquals(collisionLoser("10.0.0.1", "10.0.0.1", 64512, 65000), "local");
  // Both ends agree: each closes the connection the other keeps.
  for (const [a, b] of [[65000, 64512], [4200000000, 65001]]) {
    const mine = collisionLoser("10.0.0.1", "10.0.0.1", a!, b!);
    const theirs = collisionLoser("10.0.0.1", "10.0.0.1", b!, a!);
    assertEquals(mine !== theirs, true, `${a} vs ${b}`);
  }
});

Deno.test("autoRestart: false stays Idle after the session ends", () => {
  const f = established({ ...CONFIG, autoRestart: false });
  f.handle({ type: "tcp-down", reason: "reset" }, 100);
  assertEquals([f.state, f.nextDeadline()], ["Idle", undefined]);
});
