/**
 * The BGP finite state machine of one connection (RFC 4271 §8), pure: it owns no socket and no
 * timer. The speaker feeds it events with the current time (`handle(event, now)`), runs the
 * actions it returns (connect, send, close, and the session news: established, update, down),
 * and calls `handle({ type: "tick" }, now)` at `nextDeadline()`. Time is injected, so every
 * timer (ConnectRetry, Hold, Keepalive, the idle hold before an automatic restart) is tested
 * without waiting.
 *
 * OPEN checks: hold time 1 or 2 → 2/6, a peer AS other than configured → 2/2, a BGP identifier
 * of 0 or our own → 2/3. A message the state does not allow (an UPDATE before OPEN) → 5 with
 * RFC 6608's subcode. Collision detection between two connections to one peer is
 * `collisionLoser()`, which the speaker applies (it holds both connections).
 *
 * @module
 */

import { compareIp, parseIp } from "../../net/cidr.ts";
import { idValue } from "./_bytes.ts";
import { AFI, SAFI_UNICAST } from "./codec_attrs.ts";
import type { BgpMessage, NotificationMessage, OpenMessage, UpdateMessage } from "./codec.ts";
import { AS_TRANS, type Capability, openAsNumber } from "./codec_open.ts";
import { endOfRibFamily } from "./codec_update.ts";
import { BgpError, CEASE, NOTIFY, OPEN_ERR } from "./errors.ts";

/** RFC 4271 §8.2.2 states. */
export type FsmState = "Idle" | "Connect" | "Active" | "OpenSent" | "OpenConfirm" | "Established";

/** An address family (AFI, SAFI unicast). */
export type Family = 1 | 2;

/** What one session is configured with. */
export interface FsmConfig {
  localAs: number;
  /** The AS the peer must announce (2/2 otherwise). */
  peerAs: number;
  routerId: string;
  /** Proposed hold time in seconds: 0 or 3-65535. */
  holdTime: number;
  /** Families to offer (IPv4 always; IPv6 for dual-stack). */
  families: Family[];
  /** RFC 4724: our restart time; `restarting` sets the R bit after our own restart. */
  gracefulRestart?: { restartTime: number; restarting: boolean };
  /** Wait for the peer to connect; never connect out. */
  passive?: boolean;
  /** ConnectRetry timer (ms; RFC 4271 suggests 120 s; default 5 s). */
  connectRetryMs?: number;
  /** Idle hold before an automatic restart after an error (ms; default 1 s). */
  idleHoldMs?: number;
  /**
   * Restart on its own after going Idle (default true). The speaker turns it off: it runs one
   * FSM per connection and starts the next connection itself.
   */
  autoRestart?: boolean;
}

/** What both OPENs agreed on. */
export interface Negotiated {
  peerAs: number;
  peerRouterId: string;
  /** Seconds; 0 = no hold timer and no keepalives. */
  holdTime: number;
  keepaliveTime: number;
  /** Both sides sent the 4-octet AS capability (RFC 6793). */
  as4: boolean;
  /** Families both sides offered. */
  families: Family[];
  routeRefresh: boolean;
  /** The peer's graceful-restart capability, if both sides sent one. */
  peerGracefulRestart?: { restartTime: number; restarting: boolean; forwarding: Family[] };
  ibgp: boolean;
}

/** Events the speaker feeds in. */
export type FsmEvent =
  | { type: "start" }
  | { type: "stop"; subcode?: number }
  | { type: "tcp-up" }
  | { type: "tcp-down"; reason: string }
  | { type: "message"; msg: BgpMessage }
  | { type: "error"; error: BgpError }
  | { type: "tick" };

/** A NOTIFICATION as the session log keeps it. */
export interface NotificationRecord {
  direction: "sent" | "received";
  code: number;
  subcode: number;
  at: number;
  /** What was wrong, in words (a NOTIFICATION this side sent). */
  reason?: string;
}

/** Actions the speaker runs, in order. */
export type FsmAction =
  | { type: "connect" }
  | { type: "send"; msg: BgpMessage }
  | { type: "close" }
  | { type: "established"; negotiated: Negotiated }
  | { type: "update"; msg: UpdateMessage }
  | { type: "end-of-rib"; family: Family }
  | { type: "route-refresh"; family: Family }
  | {
    type: "down";
    reason: string;
    /** The peer restarts gracefully: keep its routes for `restartTime` seconds (RFC 4724). */
    graceful: boolean;
    restartTime?: number;
  };

/** The hold time while waiting for the peer's OPEN (RFC 4271 §8: "a large value", 4 minutes). */
export const OPEN_HOLD_MS = 240_000;

/**
 * The connection RFC 4271 §6.8 closes when two connections to one peer collide: the one this
 * side initiated when our BGP identifier is the lower, else the one the peer initiated. With
 * equal identifiers (allowed between ASes, RFC 6286 §2.2) the connection initiated by the side
 * with the larger AS is kept (RFC 6286 §2.3).
 */
export function collisionLoser(
  localId: string,
  remoteId: string,
  localAs: number,
  remoteAs: number,
): "local" | "remote" {
  const l = idValue(localId), r = idValue(remoteId);
  if (l === r) return localAs > remoteAs ? "remote" : "local";
  return l < r ? "local" : "remote";
}

/**
 * Whether this node dials a node-to-node mesh peer: only the node with the higher address does,
 * the other waits for it (Calico's mesh does the same). Both ends compute the same answer, so a
 * mesh session has one TCP connection and no collision to resolve: with both ends dialing, one
 * end can take a connection to Established while the other resolves the collision by closing
 * that connection, and each then closes the one the other kept (a second of lost routes).
 */
export function meshDials(local: string, peer: string): boolean {
  return compareIp(parseIp(local), parseIp(peer)) > 0;
}

/** Checks a hold time from configuration or an OPEN: 0 or 3-65535. */
export function validHoldTime(s: number): boolean {
  return Number.isInteger(s) && (s === 0 || (s >= 3 && s <= 65535));
}

/** One connection's state machine. */
export class SessionFsm {
  readonly config: FsmConfig;
  #state: FsmState = "Idle";
  #running = false;
  #deadlines: { connectRetry?: number; hold?: number; keepalive?: number; idle?: number } = {};
  #negotiated?: Negotiated;
  #lastNotification?: NotificationRecord;
  #out: FsmAction[] = [];

  constructor(config: FsmConfig) {
    this.config = config;
  }

  /** The current state. */
  get state(): FsmState {
    return this.#state;
  }

  /** What was negotiated (Established and OpenConfirm only). */
  get negotiated(): Negotiated | undefined {
    return this.#negotiated;
  }

  /** The last NOTIFICATION sent or received on this session. */
  get lastNotification(): NotificationRecord | undefined {
    return this.#lastNotification;
  }

  /** The earliest timer deadline (ms), or undefined when no timer runs. */
  nextDeadline(): number | undefined {
    const ds = Object.values(this.#deadlines).filter((d): d is number => d !== undefined);
    return ds.length ? Math.min(...ds) : undefined;
  }

  /** Feeds one event; returns the actions to run, in order. */
  handle(ev: FsmEvent, now: number): FsmAction[] {
    this.#out = [];
    switch (ev.type) {
      case "start":
        this.#running = true;
        if (this.#state === "Idle") this.#begin(now);
        break;
      case "stop":
        this.#running = false;
        this.#fail(
          now,
          "stopped",
          new BgpError(NOTIFY.CEASE, ev.subcode ?? CEASE.ADMIN_SHUTDOWN, "stopped"),
        );
        this.#deadlines = {};
        break;
      case "tcp-up":
        this.#tcpUp(now);
        break;
      case "tcp-down":
        this.#tcpDown(now, ev.reason);
        break;
      case "message":
        this.#message(ev.msg, now);
        break;
      case "error":
        this.#fail(now, ev.error.message, ev.error);
        break;
      case "tick":
        this.#tick(now);
    }
    return this.#out;
  }

  #begin(now: number): void {
    this.#deadlines = { connectRetry: now + (this.config.connectRetryMs ?? 5000) };
    if (this.config.passive) {
      this.#state = "Active";
    } else {
      this.#state = "Connect";
      this.#out.push({ type: "connect" });
    }
  }

  #tcpUp(now: number): void {
    if (this.#state !== "Connect" && this.#state !== "Active") {
      this.#out.push({ type: "close" }); // a second connection is the speaker's collision case
      return;
    }
    this.#deadlines = { hold: now + OPEN_HOLD_MS };
    this.#state = "OpenSent";
    this.#out.push({ type: "send", msg: this.openMessage() });
  }

  #tcpDown(now: number, reason: string): void {
    if (this.#state === "Connect" || this.#state === "Active") {
      this.#state = "Active";
      this.#deadlines = { connectRetry: now + (this.config.connectRetryMs ?? 5000) };
      return;
    }
    if (this.#state === "Idle") return;
    this.#toIdle(now, `connection lost: ${reason}`, true);
  }

  #tick(now: number): void {
    const d = this.#deadlines;
    if (d.idle !== undefined && now >= d.idle) {
      delete d.idle;
      if (this.#running && this.#state === "Idle") this.#begin(now);
      return;
    }
    if (d.hold !== undefined && now >= d.hold) {
      const err = new BgpError(NOTIFY.HOLD_TIMER_EXPIRED, 0, "no message within the hold time");
      this.#fail(now, err.message, err);
      return;
    }
    if (d.keepalive !== undefined && now >= d.keepalive && this.#negotiated) {
      this.#out.push({ type: "send", msg: { type: "keepalive" } });
      d.keepalive = now + this.#negotiated.keepaliveTime * 1000;
    }
    if (d.connectRetry !== undefined && now >= d.connectRetry) {
      if (this.#state === "Connect" || this.#state === "Active") {
        this.#out.push({ type: "close" });
        this.#begin(now);
      } else delete d.connectRetry;
    }
  }

  #message(msg: BgpMessage, now: number): void {
    if (msg.type === "notification") {
      this.#notified(msg, now);
      return;
    }
    const s = this.#state;
    if (s === "OpenSent" && msg.type === "open") {
      this.#open(msg, now);
      return;
    }
    if (s === "OpenConfirm" && msg.type === "keepalive") {
      this.#state = "Established";
      this.#resetHold(now);
      this.#out.push({ type: "established", negotiated: this.#negotiated! });
      return;
    }
    if (s === "Established" && msg.type !== "open") {
      this.#resetHold(now);
      this.#established(msg);
      return;
    }
    const sub = s === "OpenSent" ? 1 : s === "OpenConfirm" ? 2 : s === "Established" ? 3 : 0;
    const err = new BgpError(NOTIFY.FSM, sub, `unexpected ${msg.type} in ${s}`);
    this.#fail(now, err.message, err);
  }

  #established(msg: BgpMessage): void {
    if (msg.type === "update") {
      const eor = endOfRibFamily(msg);
      if (eor && eor.safi === SAFI_UNICAST && (eor.afi === AFI.IPV4 || eor.afi === AFI.IPV6)) {
        this.#out.push({ type: "end-of-rib", family: eor.afi as Family });
      } else this.#out.push({ type: "update", msg });
    } else if (
      // Subtype 0 asks for our routes again; BoRR/EoRR (1, 2: RFC 7313, never negotiated here)
      // only mark a peer's own re-advertisement.
      msg.type === "route-refresh" && msg.subtype === 0 && (msg.afi === 1 || msg.afi === 2) &&
      msg.safi === SAFI_UNICAST
    ) {
      this.#out.push({ type: "route-refresh", family: msg.afi });
    }
  }

  #notified(msg: NotificationMessage, now: number): void {
    this.#lastNotification = {
      direction: "received",
      code: msg.code,
      subcode: msg.subcode,
      at: now,
    };
    this.#out.push({ type: "close" });
    this.#toIdle(
      now,
      `NOTIFICATION received: ${new BgpError(msg.code, msg.subcode, "from the peer").message}`,
      false,
    );
  }

  #resetHold(now: number): void {
    const n = this.#negotiated;
    if (n && n.holdTime > 0) this.#deadlines.hold = now + n.holdTime * 1000;
    else delete this.#deadlines.hold;
  }

  /** Validates the peer's OPEN (RFC 4271 §6.2) and moves to OpenConfirm. */
  #open(open: OpenMessage, now: number): void {
    let negotiated: Negotiated;
    try {
      negotiated = negotiate(this.config, open);
    } catch (e) {
      if (!(e instanceof BgpError)) throw e;
      this.#fail(now, e.message, e);
      return;
    }
    this.#negotiated = negotiated;
    this.#state = "OpenConfirm";
    this.#out.push({ type: "send", msg: { type: "keepalive" } });
    this.#deadlines = {};
    this.#resetHold(now);
    if (negotiated.keepaliveTime > 0) {
      this.#deadlines.keepalive = now + negotiated.keepaliveTime * 1000;
    }
  }

  /** Sends the NOTIFICATION for `err` (when a connection is up), closes, goes Idle. */
  #fail(now: number, reason: string, err: BgpError): void {
    if (this.#state === "Idle") return;
    if (this.#state !== "Connect" && this.#state !== "Active") {
      this.#out.push({
        type: "send",
        msg: { type: "notification", code: err.code, subcode: err.subcode, data: err.data },
      });
      this.#lastNotification = {
        direction: "sent",
        code: err.code,
        subcode: err.subcode,
        at: now,
        reason,
      };
    }
    this.#out.push({ type: "close" });
    this.#toIdle(now, reason, false);
  }

  #toIdle(now: number, reason: string, graceful: boolean): void {
    const wasUp = this.#state === "Established";
    const restartTime = this.#negotiated?.peerGracefulRestart?.restartTime;
    const gr = graceful && restartTime !== undefined && restartTime > 0;
    this.#state = "Idle";
    const restart = this.#running && this.config.autoRestart !== false;
    this.#deadlines = restart ? { idle: now + (this.config.idleHoldMs ?? 1000) } : {};
    if (wasUp) {
      this.#out.push({ type: "down", reason, graceful: gr, ...(gr ? { restartTime } : {}) });
    }
    this.#negotiated = undefined;
  }

  /** The OPEN this side sends. */
  openMessage(): OpenMessage {
    const c = this.config;
    const caps: Capability[] = c.families.map((afi) => ({
      type: "multiprotocol",
      afi,
      safi: SAFI_UNICAST,
    }));
    caps.push({ type: "route-refresh" });
    if (c.gracefulRestart) {
      caps.push({
        type: "graceful-restart",
        restarting: c.gracefulRestart.restarting,
        notification: false,
        restartTime: c.gracefulRestart.restartTime,
        families: c.families.map((afi) => ({ afi, safi: SAFI_UNICAST, forwarding: true })),
      });
    }
    caps.push({ type: "as4", asNumber: c.localAs });
    return {
      type: "open",
      version: 4,
      asNumber: c.localAs > 0xffff ? AS_TRANS : c.localAs,
      holdTime: c.holdTime,
      routerId: c.routerId,
      capabilities: caps,
    };
  }
}

/** What both OPENs agree on, or the BgpError (2/2, 2/3, 2/6) that refuses the peer's. */
export function negotiate(config: FsmConfig, open: OpenMessage): Negotiated {
  if (open.holdTime === 1 || open.holdTime === 2) {
    throw new BgpError(NOTIFY.OPEN, OPEN_ERR.UNACCEPTABLE_HOLD_TIME, `hold time ${open.holdTime}`);
  }
  const peerAs = openAsNumber(open);
  if (peerAs !== config.peerAs) {
    const wire = Uint8Array.of(open.asNumber >> 8, open.asNumber & 0xff);
    throw new BgpError(
      NOTIFY.OPEN,
      OPEN_ERR.BAD_PEER_AS,
      `peer AS ${peerAs}, expected ${config.peerAs}`,
      wire,
    );
  }
  const id = idValue(open.routerId);
  if (id === 0 || (id === idValue(config.routerId) && peerAs === config.localAs)) {
    throw new BgpError(NOTIFY.OPEN, OPEN_ERR.BAD_BGP_ID, `BGP identifier ${open.routerId}`);
  }
  const mp = open.capabilities.filter((c) => c.type === "multiprotocol");
  const offered = mp.length === 0
    ? [1]
    : mp.filter((c) => c.safi === SAFI_UNICAST).map((c) => c.afi);
  const holdTime = Math.min(config.holdTime, open.holdTime);
  const grCap = open.capabilities.find((c) => c.type === "graceful-restart");
  const n: Negotiated = {
    peerAs,
    peerRouterId: open.routerId,
    holdTime,
    keepaliveTime: Math.floor(holdTime / 3),
    as4: open.capabilities.some((c) => c.type === "as4"),
    families: config.families.filter((f) => offered.includes(f)),
    routeRefresh: open.capabilities.some((c) => c.type === "route-refresh"),
    ibgp: peerAs === config.localAs,
  };
  if (grCap && config.gracefulRestart) {
    n.peerGracefulRestart = {
      restartTime: grCap.restartTime,
      restarting: grCap.restarting,
      forwarding: grCap.families.filter((f) =>
        f.forwarding && f.safi === SAFI_UNICAST && (f.afi === 1 || f.afi === 2)
      )
        .map((f) => f.afi as Family),
    };
  }
  return n;
}
