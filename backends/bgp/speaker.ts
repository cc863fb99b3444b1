/**
 * The BGP speaker of one node: a listener and one Peer per configured or mesh neighbour, each
 * with its connections (conn.ts), the shared RIB (rib.ts) and a per-peer Adj-RIB-Out
 * (updates.ts). Sockets live in the node's namespace (net/tcp.ts: opened inside setns, waited on
 * by helper-thread polls), so `skein daemon --netns` speaks BGP from the node it manages.
 *
 * - Collisions (RFC 4271 §6.8): when a connection reaches OpenConfirm while another to the same
 *   peer is in OpenConfirm, the one the higher BGP identifier did not initiate is closed with
 *   Cease 6/7; a new connection while one is Established is closed.
 * - Graceful restart (RFC 4724): as receiving speaker, a peer whose session drops (not by
 *   NOTIFICATION) keeps its routes, stale, until its End-of-RIB or its restart time; as
 *   restarting speaker, `converged` stays false (the adapter keeps its kernel routes) until every
 *   peer sent End-of-RIB or our restart time passed, and End-of-RIB is only sent once this
 *   node's own prefixes are known, so peers never see a withdraw-then-announce.
 * - One peer's errors end only that peer's connection (its NOTIFICATION is recorded).
 *
 * @module
 */

import type { TcpEndpoint } from "../../net/tcp.ts";
import { TcpSocket } from "../../net/tcp.ts";
import type { NetnsRef } from "../../net/types.ts";
import { AFI } from "./codec_attrs.ts";
import type { BgpMessage } from "./codec.ts";
import { endOfRib, type UpdateMessage } from "./codec_update.ts";
import { Conn, type ConnListener } from "./conn.ts";
import { CEASE, notificationName } from "./errors.ts";
import {
  collisionLoser,
  type Family,
  type FsmAction,
  type FsmConfig,
  type FsmState,
  type NotificationRecord,
} from "./fsm.ts";
import {
  type PeerPolicy,
  type PrefixRule,
  Rib,
  type RibChange,
  type RibPeer,
  type RibRoute,
} from "./rib.ts";
import { AdjRibOut } from "./updates.ts";

/** One neighbour. */
export interface PeerSpec {
  address: string;
  asNumber: number;
  /** RFC 2385 TCP MD5 key. */
  password?: string;
  /** Overrides the speaker's hold time. */
  holdTime?: number;
  /** Never connect; wait for the peer. */
  passive?: boolean;
  /** The address this side connects from (a mesh peer accepts only its peer's node address). */
  local?: string;
  /** RFC 8212: which routes are taken from / given to this peer (and whether a default). */
  policy: PeerPolicy;
  /** Why the rule is narrower than asked (an eBGP peer without a rule): logged, in status(). */
  policyNote?: string;
  /** Where the peer came from: the datastore's leases (mesh) or the configuration. */
  source: "mesh" | "config";
}

/** What a speaker is built from. */
export interface SpeakerOptions {
  netns?: NetnsRef;
  localAs: number;
  routerId: string;
  /** TCP port to listen on and to connect to (179). */
  port: number;
  /** Address to listen on (default "0.0.0.0"). */
  listenAddress?: string;
  holdTime: number;
  gracefulRestart?: { restartTime: number };
  /** RFC 4456 cluster id: this node reflects for its iBGP peers. */
  clusterId?: string;
  families: Family[];
  /** This node's IPv6 address, the next hop of its IPv6 prefixes. */
  nextHop6?: string;
  connectRetryMs?: number;
  idleHoldMs?: number;
  /** Best paths changed (or `converged` flipped): the daemon should reconcile. */
  onChange?: (reason: string) => void;
  /** A log line; `warn` for what went wrong (a peer's error, a session refused or down). */
  log?: (line: string, level?: "info" | "warn") => void;
}

/** One peer's state for status, metrics and diagnose. */
export interface PeerStatus {
  address: string;
  asNumber: number;
  source: "mesh" | "config";
  /** This side never dials: it waits for the peer to connect (a mesh peer with the higher address). */
  passive: boolean;
  state: FsmState;
  /** ms since the epoch of the last change into or out of Established. */
  since: number;
  lastNotification?: NotificationRecord & { name: string };
  /** Why the last session ended. */
  lastDown?: string;
  prefixesReceived: number;
  prefixesAdvertised: number;
  updatesReceived: number;
  updatesSent: number;
  /**
   * UPDATEs with an error handled without a reset: treat-as-withdraw, attribute discard
   * (RFC 7606), routes ignored for a bad NEXT_HOP (RFC 4271 §6.3). Each is logged (the first
   * ten of a peer, then every thousandth).
   */
  updateErrors: number;
  /**
   * Prefixes the peer announced that were not taken: outside its import rule, inside this
   * node's own subnets or uplink networks, a default route without acceptDefault, a loop.
   */
  prefixesRefused: number;
  /** ROUTE-REFRESH messages (RFC 2918) sent (import rule changes) and received. */
  refreshesSent: number;
  refreshesReceived: number;
  /** Stale routes are kept for a restarting peer. */
  restarting: boolean;
  /** The peer's rules as text: "all", "none" or the CIDRs; acceptDefault when set. */
  policy: { import: string; export: string; acceptDefault?: true };
  /** Why a rule is "none" without being configured so (RFC 8212). */
  policyNote?: string;
}

function ruleText(r: PrefixRule): string {
  return r === true ? "all" : r === false ? "none" : r.join(", ");
}

/** Whether both sides of an Established connection negotiated graceful restart (RFC 4724). */
function restartsGracefully(c: Conn): boolean {
  return c.fsm.negotiated?.peerGracefulRestart !== undefined;
}

/** What a session depends on: a change here restarts it (the rules do not). */
function sessionKey(s: PeerSpec): string {
  const { policy: _p, policyNote: _n, ...rest } = s;
  return JSON.stringify(rest);
}

class Peer {
  spec: PeerSpec;
  conns = new Set<Conn>();
  established?: Conn;
  adjOut = new AdjRibOut();
  eor = new Set<Family>();
  updatesIn = 0;
  updatesOut = 0;
  updateErrors = 0;
  prefixesRefused = 0;
  /** Refusals of a protected prefix (own LAN, default route) logged so far. */
  protectedLogged = 0;
  since = Date.now();
  lastNotification?: NotificationRecord;
  lastDown?: string;
  redial?: ReturnType<typeof setTimeout>;
  grTimer?: ReturnType<typeof setTimeout>;
  stopped = false;
  /** Initial export waits for this node's own prefixes. */
  announced = false;
  /** ROUTE-REFRESH messages sent to / received from the peer. */
  refreshesSent = 0;
  refreshesReceived = 0;

  constructor(spec: PeerSpec) {
    this.spec = spec;
  }
}

/** A node's BGP speaker. */
export class Speaker implements ConnListener {
  readonly rib: Rib;
  readonly opts: SpeakerOptions;
  #peers = new Map<string, Peer>();
  #byConn = new Map<Conn, Peer>();
  /** Connections that reached Established (their end is logged by #down). */
  #wasUp = new WeakSet<Conn>();
  #listener?: TcpSocket;
  #closed = false;
  #ownSet = false;
  #exportPending = false;
  #startedAt = 0;
  #convergeTimer?: ReturnType<typeof setTimeout>;
  #converged = false;

  constructor(opts: SpeakerOptions) {
    this.opts = opts;
    this.rib = new Rib({
      localAs: opts.localAs,
      routerId: opts.routerId,
      clusterId: opts.clusterId,
    });
  }

  /** Opens the listener (throws NetlinkError, e.g. EADDRINUSE) and starts the peers. */
  start(): void {
    this.#startedAt = performance.now();
    this.#listener = TcpSocket.listen({
      netns: this.opts.netns,
      address: this.opts.listenAddress ?? "0.0.0.0",
      port: this.opts.port,
    });
    for (const p of this.#peers.values()) this.#arm(p);
    this.#acceptLoop(this.#listener);
    const gr = this.opts.gracefulRestart?.restartTime ?? 0;
    this.#convergeTimer = setTimeout(
      () => this.#checkConverged("restart time passed", true),
      gr * 1000,
    );
  }

  /**
   * True once the RIB is complete after a (re)start: every peer sent End-of-RIB, or our
   * restart time passed. Until then the adapter keeps the kernel routes a previous run left.
   */
  get converged(): boolean {
    return this.#converged;
  }

  /**
   * Sets the neighbours: new ones start, removed ones get Cease 6/3, changed ones restart; a
   * peer whose only change is its import/export rule keeps its session (see #policyChanged).
   */
  setPeers(specs: PeerSpec[]): void {
    const want = new Map(specs.map((s) => [s.address, s]));
    for (const [addr, p] of this.#peers) {
      const s = want.get(addr);
      if (s && sessionKey(s) === sessionKey(p.spec)) {
        if (JSON.stringify(s) !== JSON.stringify(p.spec)) this.#policyChanged(p, s);
      } else this.#remove(p, CEASE.PEER_DECONFIGURED);
    }
    for (const s of specs) {
      if (this.#peers.has(s.address)) continue;
      const p = new Peer(s);
      this.#peers.set(s.address, p);
      if (s.policyNote) this.#log(`bgp: ${s.address} (AS ${s.asNumber}): ${s.policyNote}`);
      if (s.password) this.#listener?.setMd5(s.address, s.password);
      if (this.#listener) this.#arm(p);
    }
    this.#checkConverged("peers changed", false);
  }

  /** This node's own pod subnets (announced to every peer with an export rule). */
  setOwnPrefixes(prefixes: string[]): void {
    const same = this.#ownSet && JSON.stringify(prefixes) === JSON.stringify(this.rib.ownPrefixes);
    if (same) return;
    const dropped = this.rib.setOwnPrefixes(prefixes);
    this.#ownSet = true;
    if (dropped.length) this.#changed("own prefixes changed");
    this.#scheduleExport();
  }

  /**
   * This node's connected networks (its uplink's prefixes): routes equal to or inside them are
   * never imported (see Rib.setUplinkPrefixes).
   */
  setUplinkPrefixes(prefixes: string[]): void {
    if (JSON.stringify(prefixes) === JSON.stringify(this.rib.uplinkPrefixes)) return;
    const dropped = this.rib.setUplinkPrefixes(prefixes);
    if (dropped.length) this.#changed("uplink prefixes changed");
  }

  /** The Loc-RIB's best routes (what the kernel should have). */
  routes(): RibRoute[] {
    return [...this.rib.bestRoutes()];
  }

  /** Every peer's state. */
  status(): PeerStatus[] {
    return [...this.#peers.values()].map((p) => {
      const conn = p.established ?? [...p.conns].find((c) => !c.ended);
      const n = p.lastNotification;
      return {
        address: p.spec.address,
        asNumber: p.spec.asNumber,
        source: p.spec.source,
        passive: p.spec.passive === true,
        state: conn?.fsm.state ?? (p.stopped ? "Idle" : "Active"),
        since: p.since,
        ...(n
          ? {
            lastNotification: {
              ...n,
              at: Date.now() - (performance.now() - n.at), // the FSM's clock → wall clock (ms)
              name: notificationName(n.code, n.subcode),
            },
          }
          : {}),
        ...(p.lastDown ? { lastDown: p.lastDown } : {}),
        prefixesReceived: this.rib.received(p.spec.address),
        prefixesAdvertised: p.adjOut.size,
        updatesReceived: p.updatesIn,
        updatesSent: p.updatesOut,
        updateErrors: p.updateErrors,
        prefixesRefused: p.prefixesRefused,
        refreshesSent: p.refreshesSent,
        refreshesReceived: p.refreshesReceived,
        restarting: this.rib.hasStale(p.spec.address),
        policy: {
          import: ruleText(p.spec.policy.import),
          export: ruleText(p.spec.policy.export),
          ...(p.spec.policy.acceptDefault ? { acceptDefault: true as const } : {}),
        },
        ...(p.spec.policyNote ? { policyNote: p.spec.policyNote } : {}),
      };
    });
  }

  /**
   * Stops: with graceful restart configured the connections are dropped without NOTIFICATION
   * (peers keep our routes for the restart time: a restart does not flap), else Cease 6/2.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#convergeTimer !== undefined) clearTimeout(this.#convergeTimer);
    this.#listener?.close();
    const silent = this.opts.gracefulRestart !== undefined;
    for (const p of this.#peers.values()) this.#stopPeer(p, CEASE.ADMIN_SHUTDOWN, silent);
  }

  #log(line: string, level: "info" | "warn" = "info"): void {
    this.opts.log?.(line, level);
  }

  #changed(reason: string): void {
    this.opts.onChange?.(reason);
    if (this.opts.clusterId) this.#scheduleExport();
  }

  /**
   * Accepts peers' connections. A failing accept (EMFILE, ENFILE, ENOMEM: the connection stays
   * queued, so the listener stays readable) pauses 50 ms more per failure in a row, up to 1 s,
   * and is logged on the first failure and every 100th, instead of spinning a CPU and the log.
   */
  async #acceptLoop(l: TcpSocket): Promise<void> {
    let failures = 0;
    while (!this.#closed && !l.closed) {
      let s: TcpSocket | undefined;
      try {
        s = l.accept();
        failures = 0;
      } catch (e) {
        if (++failures === 1 || failures % 100 === 0) {
          this.#log(`bgp: accept failed (${failures} in a row): ${(e as Error).message}`, "warn");
        }
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * failures)));
        continue;
      }
      if (!s) {
        if (!(await l.wait("read", 1000)) && l.closed) return;
        continue;
      }
      this.#inbound(s);
    }
  }

  #inbound(s: TcpSocket): void {
    let remote: TcpEndpoint;
    try {
      remote = s.remote();
    } catch {
      s.close();
      return;
    }
    const p = this.#peers.get(remote.address);
    // Not a peer, or a collision with an Established session (RFC 4271 §6.8) of a peer that
    // cannot restart gracefully; a graceful-restart peer's new connection may be its restart.
    if (!p || p.stopped || (p.established && !restartsGracefully(p.established))) {
      s.close();
      return;
    }
    this.#connAdd(p, new Conn({ fsm: this.#fsmConfig(p), inbound: s, remote, listener: this }));
  }

  #fsmConfig(p: Peer): FsmConfig {
    const o = this.opts;
    return {
      localAs: o.localAs,
      peerAs: p.spec.asNumber,
      routerId: o.routerId,
      holdTime: p.spec.holdTime ?? o.holdTime,
      families: o.families,
      ...(o.gracefulRestart
        ? { gracefulRestart: { restartTime: o.gracefulRestart.restartTime, restarting: false } }
        : {}),
      connectRetryMs: o.connectRetryMs,
      idleHoldMs: o.idleHoldMs,
      passive: p.spec.passive,
    };
  }

  #connAdd(p: Peer, c: Conn): void {
    p.conns.add(c);
    this.#byConn.set(c, p);
    c.start();
  }

  /** Starts an outbound connection unless one is already running or the peer is passive. */
  #arm(p: Peer): void {
    if (this.#closed || p.stopped || p.spec.passive || p.established) return;
    if ([...p.conns].some((c) => !c.inbound && !c.ended)) return;
    const c = new Conn({
      fsm: this.#fsmConfig(p),
      remote: { address: p.spec.address, port: this.opts.port },
      ...(p.spec.local ? { local: p.spec.local } : {}),
      netns: this.opts.netns,
      md5Key: p.spec.password,
      listener: this,
    });
    this.#connAdd(p, c);
  }

  /**
   * A peer's rules changed. A wider or different import rule needs the routes the old one
   * refused: RFC 2918 ROUTE-REFRESH per family when the peer advertised the capability, else the
   * session restarts (Cease 6/6); routes the new rule refuses leave the RIB now. A changed export
   * rule is a new Adj-RIB-Out sync (withdrawals and announcements, no reset).
   */
  #policyChanged(p: Peer, s: PeerSpec): void {
    const old = p.spec;
    p.spec = s;
    if (s.policyNote && s.policyNote !== old.policyNote) {
      this.#log(`bgp: ${s.address} (AS ${s.asNumber}): ${s.policyNote}`);
    }
    const conn = p.established, n = conn?.fsm.negotiated;
    const importOf = (x: PeerSpec) => [x.policy.import, x.policy.acceptDefault ?? false];
    if (JSON.stringify(importOf(old)) !== JSON.stringify(importOf(s))) {
      const dropped = conn ? this.rib.reimport(this.#ribPeer(p, conn)) : [];
      if (dropped.length) this.#changed(`import rule of ${s.address} changed`);
      if (s.policy.import === false) {
        // Nothing more to take: no refresh needed.
      } else if (conn && n?.routeRefresh) {
        p.refreshesSent += n.families.length;
        conn.send(n.families.map((afi) => ({ type: "route-refresh", afi, subtype: 0, safi: 1 })));
        this.#log(`bgp: ${s.address}: import rule changed; ROUTE-REFRESH sent`);
      } else if (conn) {
        this.#log(`bgp: ${s.address}: import rule changed and no route refresh: session reset`);
        conn.stop(CEASE.OTHER_CONFIG_CHANGE);
        return;
      }
    }
    if (JSON.stringify(old.policy.export) !== JSON.stringify(s.policy.export)) this.#exportTo(p);
  }

  #remove(p: Peer, subcode: number): void {
    this.#stopPeer(p, subcode, false);
    this.#peers.delete(p.spec.address);
    if (p.spec.password) {
      try {
        this.#listener?.setMd5(p.spec.address, "");
      } catch {
        // The key was never set (the listener came later): nothing to remove.
      }
    }
    const changed = this.rib.peerDown(p.spec.address, false);
    if (changed.length) this.#changed(`peer ${p.spec.address} removed`);
  }

  #stopPeer(p: Peer, subcode: number, silent: boolean): void {
    p.stopped = true;
    if (p.redial !== undefined) clearTimeout(p.redial);
    if (p.grTimer !== undefined) clearTimeout(p.grTimer);
    for (const c of [...p.conns]) c.stop(subcode, silent);
  }

  // ConnListener

  /** @inheritdoc */
  onState(conn: Conn, state: FsmState): void {
    const p = this.#byConn.get(conn);
    if (!p || state !== "OpenConfirm") return;
    const peerId = conn.fsm.negotiated?.peerRouterId;
    for (const other of p.conns) {
      if (other === conn || other.ended) continue;
      const s = other.fsm.state;
      if (s === "Established" && conn.inbound && restartsGracefully(other)) {
        // RFC 4724 §4.2: an OPEN on a new connection from the peer while the session is
        // Established is the peer restarting (a reboot, a partition: no FIN reached us). The old
        // session ends as a lost connection, its routes kept stale, and the new one goes on,
        // instead of refusing it until the hold timer of the dead one runs out. (An outbound
        // connection of ours that was already under way is a plain collision: closed below.)
        this.#log(
          `bgp: ${p.spec.address}: a new session while Established: the peer restarted (RFC 4724); the old one ends, its routes are kept`,
        );
        other.stop(undefined, true);
        continue;
      }
      if (s === "Established") {
        conn.stop(CEASE.COLLISION_RESOLUTION);
        return;
      }
      if (s === "OpenConfirm" && peerId) {
        const closeLocal =
          collisionLoser(this.opts.routerId, peerId, this.opts.localAs, p.spec.asNumber) ===
            "local";
        const loser = (conn.inbound ? !closeLocal : closeLocal) ? conn : other;
        loser.stop(CEASE.COLLISION_RESOLUTION);
        if (loser === conn) return;
      } else if (s === "Connect" || s === "Active") {
        other.stop(undefined, true);
      }
    }
  }

  /** @inheritdoc */
  onSent(conn: Conn, msg: BgpMessage): void {
    const p = this.#byConn.get(conn);
    if (p && msg.type === "update") p.updatesOut++;
  }

  /** @inheritdoc */
  onEnd(conn: Conn): void {
    const p = this.#byConn.get(conn);
    this.#byConn.delete(conn);
    if (!p) return;
    p.conns.delete(conn);
    const n = conn.fsm.lastNotification;
    if (n) p.lastNotification = n;
    if (p.established === conn) this.#down(p, conn, "connection ended", 0);
    else if (n && !this.#wasUp.has(conn) && !this.#closed && !p.stopped) {
      // A session refused before Established (a bad OPEN, a header error, a collision).
      const name = notificationName(n.code, n.subcode);
      const text = n.reason?.startsWith(name) ? n.reason : n.reason ? `${name}: ${n.reason}` : name;
      this.#log(
        `bgp: ${p.spec.address}: connection closed before Established: NOTIFICATION ${n.direction} ${text}`,
        n.code === 6 && n.subcode === CEASE.COLLISION_RESOLUTION ? "info" : "warn",
      );
    }
    if (this.#closed || p.stopped || p.conns.size > 0) return;
    if (p.redial !== undefined) clearTimeout(p.redial);
    p.redial = setTimeout(() => {
      p.redial = undefined;
      this.#arm(p);
    }, this.opts.idleHoldMs ?? 1000);
  }

  /** @inheritdoc */
  onNews(conn: Conn, a: FsmAction): void {
    const p = this.#byConn.get(conn);
    if (!p) return;
    switch (a.type) {
      case "established":
        this.#established(p, conn);
        return;
      case "update": {
        p.updatesIn++;
        const change = this.rib.update(this.#ribPeer(p, conn), a.msg);
        this.#updateErrors(p, a.msg, change);
        this.#refused(p, change);
        if (change.changed.length) this.#changed(`update from ${p.spec.address}`);
        return;
      }
      case "end-of-rib": {
        p.eor.add(a.family);
        const swept = this.rib.sweepStale(p.spec.address, a.family);
        if (!this.rib.hasStale(p.spec.address) && p.grTimer !== undefined) {
          clearTimeout(p.grTimer);
          p.grTimer = undefined;
        }
        if (swept.length) this.#changed(`end-of-rib from ${p.spec.address}`);
        this.#checkConverged(`end-of-rib from ${p.spec.address}`, false);
        return;
      }
      case "route-refresh": // RFC 2918 §4: send the whole Adj-RIB-Out again
        p.refreshesReceived++;
        p.adjOut.clear();
        this.#exportTo(p);
        return;
      case "down":
        this.#down(p, conn, a.reason, a.graceful ? a.restartTime ?? 0 : 0);
    }
  }

  #ribPeer(p: Peer, conn: Conn): RibPeer {
    const own = [conn.localAddress, this.opts.nextHop6, this.opts.routerId];
    return {
      key: p.spec.address,
      ebgp: p.spec.asNumber !== this.opts.localAs,
      asNumber: p.spec.asNumber,
      routerId: conn.fsm.negotiated?.peerRouterId ?? "0.0.0.0",
      as4: conn.fsm.negotiated?.as4 ?? true,
      policy: p.spec.policy,
      ownAddresses: own.filter((a): a is string => a !== undefined),
      ...(conn.fsm.negotiated ? { families: conn.fsm.negotiated.families } : {}),
    };
  }

  /** Counts and logs an UPDATE's errors that did not reset the session (RFC 7606, §6.3). */
  #updateErrors(p: Peer, msg: UpdateMessage, change: RibChange): void {
    const what: string[] = [];
    if (msg.treatAsWithdraw) {
      what.push(`treat-as-withdraw (RFC 7606): ${msg.treatAsWithdraw.message}`);
    }
    if (change.malformed) what.push(`treat-as-withdraw (RFC 7606): ${change.malformed}`);
    if (change.unnegotiated) what.push(`routes ignored (RFC 4760): ${change.unnegotiated}`);
    for (const d of msg.discarded ?? []) {
      what.push(`attribute discarded (RFC 7606): ${d.message}`);
    }
    if (change.invalidNextHop) {
      what.push(`routes ignored (invalid NEXT_HOP, RFC 4271 §6.3): ${change.invalidNextHop}`);
    }
    if (what.length === 0) return;
    const n = ++p.updateErrors;
    if (n > 10 && n % 1000 !== 0) return;
    this.#log(
      `bgp: ${p.spec.address}: UPDATE error #${n}, session kept: ${what.join("; ")}${
        n === 10 ? " (from now on every 1000th is logged; updateErrors counts them all)" : ""
      }`,
      "warn",
    );
  }

  /**
   * Counts the prefixes the import refused; a protected one (this node's LAN, a default route)
   * is logged: a peer trying to take the node's own networks (the first ten, then every 1000th).
   */
  #refused(p: Peer, change: RibChange): void {
    p.prefixesRefused += change.rejected.length;
    for (const r of change.rejected) {
      if (!r.reason.startsWith("inside this node's uplink") && !r.reason.startsWith("a default")) {
        continue;
      }
      const n = ++p.protectedLogged;
      if (n > 10 && n % 1000 !== 0) continue;
      this.#log(`bgp: ${p.spec.address}: route ${r.prefix} refused: ${r.reason}`, "warn");
    }
  }

  #established(p: Peer, conn: Conn): void {
    if (p.established && p.established !== conn) {
      conn.stop(CEASE.COLLISION_RESOLUTION);
      return;
    }
    p.established = conn;
    this.#wasUp.add(conn);
    p.since = Date.now();
    p.eor.clear();
    p.adjOut.clear();
    p.announced = false;
    for (const other of [...p.conns]) {
      if (other !== conn) {
        other.stop(
          CEASE.COLLISION_RESOLUTION,
          other.fsm.state === "Connect" || other.fsm.state === "Active",
        );
      }
    }
    this.#log(`bgp: session with ${p.spec.address} (AS ${p.spec.asNumber}) established`);
    this.#dropUnpreserved(p, conn);
    this.#exportTo(p);
  }

  /**
   * RFC 4724 §4.2: stale routes of a family the restarted peer says it did not keep forwarding
   * for (no graceful-restart capability, the family left out, or its F bit clear: BIRD after a
   * plain start) go now, not at its End-of-RIB: its forwarding may be broken meanwhile.
   */
  #dropUnpreserved(p: Peer, conn: Conn): void {
    if (!this.rib.hasStale(p.spec.address)) return;
    const kept = conn.fsm.negotiated?.peerGracefulRestart?.forwarding ?? [];
    const swept: string[] = [];
    for (const f of [1, 2] as const) {
      if (!kept.includes(f)) swept.push(...this.rib.sweepStale(p.spec.address, f));
    }
    if (!this.rib.hasStale(p.spec.address) && p.grTimer !== undefined) {
      clearTimeout(p.grTimer);
      p.grTimer = undefined;
    }
    if (swept.length) {
      this.#log(
        `bgp: ${p.spec.address}: back without forwarding state for its routes (RFC 4724 F bit): ${swept.length} stale routes removed`,
      );
      this.#changed(`stale routes of ${p.spec.address} removed`);
    }
  }

  /** The session ended; `restartTime` > 0: the peer restarts gracefully, keep its routes. */
  #down(p: Peer, conn: Conn, reason: string, restartTime: number): void {
    if (p.established !== conn) return;
    p.established = undefined;
    p.since = Date.now();
    p.lastDown = reason;
    p.adjOut.clear();
    p.eor.clear();
    const keep = restartTime > 0;
    this.#log(
      `bgp: session with ${p.spec.address} down: ${reason}${
        keep ? ` (keeping its routes for ${restartTime} s)` : ""
      }`,
      this.#closed ? "info" : "warn",
    );
    const changed = this.rib.peerDown(p.spec.address, keep);
    if (keep && !this.#closed) {
      if (p.grTimer !== undefined) clearTimeout(p.grTimer);
      p.grTimer = setTimeout(() => {
        p.grTimer = undefined;
        if (this.rib.sweepStale(p.spec.address).length) {
          this.#changed(`restart time of ${p.spec.address} passed`);
        }
      }, restartTime * 1000);
    }
    if (changed.length) this.#changed(`session with ${p.spec.address} down`);
  }

  #checkConverged(reason: string, timeUp: boolean): void {
    if (this.#converged) return;
    // Not before the first reconcile told us the peers and own prefixes, and not with no peer
    // at all (a restarted node alone waits for the restart time before pruning).
    const all = this.#ownSet && this.#peers.size > 0 &&
      [...this.#peers.values()].every((p) =>
        p.established && p.established.fsm.negotiated?.families.every((f) => p.eor.has(f))
      );
    if (!timeUp && !all) return;
    this.#converged = true;
    if (this.#convergeTimer !== undefined) clearTimeout(this.#convergeTimer);
    this.opts.onChange?.(`bgp converged (${reason})`);
  }

  #scheduleExport(): void {
    if (this.#exportPending || this.#closed) return;
    this.#exportPending = true;
    setTimeout(() => {
      this.#exportPending = false;
      for (const p of this.#peers.values()) this.#exportTo(p);
    }, 0);
  }

  #exportTo(p: Peer): void {
    const conn = p.established;
    const n = conn?.fsm.negotiated;
    if (!conn || !n || !this.#ownSet || this.#closed) return;
    const local = conn.localAddress;
    const nextHops: { 4?: string; 6?: string } = {};
    if (local && !local.includes(":") && n.families.includes(AFI.IPV4)) nextHops[4] = local;
    if (this.opts.nextHop6 && n.families.includes(AFI.IPV6)) nextHops[6] = this.opts.nextHop6;
    const want = this.rib.exportTo(this.#ribPeer(p, conn), nextHops);
    for (const [k, r] of want) if (!n.families.includes(r.family === 4 ? 1 : 2)) want.delete(k);
    conn.send(p.adjOut.sync(want, n.as4));
    for (const prefix of p.adjOut.tooLarge) {
      this.#log(
        `bgp: ${p.spec.address}: ${prefix} not sent: its attributes do not fit in a 4,096-octet UPDATE (RFC 4271 §9.2)`,
        "warn",
      );
    }
    if (!p.announced) {
      p.announced = true;
      conn.send(n.families.map((f) => endOfRib(f)));
    }
  }
}
