/**
 * The BGP routing tables, pure: Adj-RIB-In per peer, the Loc-RIB's best path per prefix, and
 * what each peer is sent (RFC 4271 §9). skein's policy is built in, explicit per peer:
 *
 * - import: what the peer's rule allows (`true`: every prefix, `false`: none, a list of CIDRs:
 *   prefixes inside one of them; RFC 8212: an eBGP peer gets nothing and is taken nothing from
 *   unless the adapter gives it a rule); only prefixes outside this node's own subnets (a
 *   covering route is fine) and outside its uplink's networks (its connected LAN: a peer must
 *   not take half of it away); no default route unless the peer's `acceptDefault` says so (it
 *   would replace the node's own default); no AS path loop (eBGP), no route carrying our
 *   ORIGINATOR_ID or CLUSTER_ID back (RFC 4456 §8).
 * - best path: highest LOCAL_PREF, shortest AS_PATH, lowest ORIGIN, lowest MED (same
 *   neighbour AS), eBGP over iBGP, lowest router id (ORIGINATOR_ID when reflected), shortest
 *   CLUSTER_LIST, lowest peer address.
 * - export: this node's own subnets to every peer whose rule allows them; as a route
 *   reflector (RFC 4456, every iBGP peer a client) the best iBGP-learned routes to the other
 *   iBGP peers, with ORIGINATOR_ID and our cluster id prepended to CLUSTER_LIST.
 * - graceful restart (RFC 4724): a peer that went down gracefully keeps its routes as stale
 *   until its End-of-RIB (or the restart timer) sweeps those it did not announce again.
 *
 * @module
 */

import { type Cidr, overlaps, parseCidr } from "../../net/cidr.ts";
import {
  AFI,
  AS_TRANS,
  type AsPathSegment,
  type Origin,
  type PathAttribute,
} from "./codec_attrs.ts";
import type { UpdateMessage } from "./codec_update.ts";
import { mergeAs4, pathLength } from "./as4.ts";
import type { Family } from "./fsm.ts";
import { invalidNextHop } from "./nexthop.ts";

/** A peer as the RIB sees it (from the configuration and the negotiated session). */
export interface RibPeer {
  /** The peer's address: the key of its Adj-RIB-In. */
  key: string;
  ebgp: boolean;
  /**
   * The peer's AS (the speaker always gives it): an eBGP route's AS_PATH must start with it
   * (RFC 4271 §6.3, FRR's enforce-first-as). Unset: not checked.
   */
  asNumber?: number;
  /** The peer's BGP identifier (from its OPEN). */
  routerId: string;
  /**
   * False when the session is 2-octet (the peer did not advertise RFC 6793's capability): its
   * AS_PATH and AGGREGATOR are rebuilt from AS4_PATH / AS4_AGGREGATOR. Default true.
   */
  as4?: boolean;
  /** Explicit per-peer rule (RFC 8212 spirit): take routes from it / send ours to it. */
  policy: PeerPolicy;
  /** This speaker's own addresses on the session: never a valid next hop (RFC 4271 §6.3). */
  ownAddresses?: readonly string[];
  /**
   * The families the session negotiated (AFI 1, 2); routes of another (MP_REACH, or the plain
   * NLRI field when IPv4 was not negotiated) are ignored. Default: all.
   */
  families?: readonly Family[];
}

/** A per-peer prefix rule: every prefix (`true`), none (`false`), or those inside one of the CIDRs. */
export type PrefixRule = boolean | readonly string[];

/** A peer's rules: what is taken from it, what it is sent, and whether a default route may come. */
export interface PeerPolicy {
  import: PrefixRule;
  export: PrefixRule;
  /** Take 0.0.0.0/0 and ::/0 from the peer (when its import rule allows them). Default false. */
  acceptDefault?: boolean;
}

/** Whether `rule` lets `prefix` through (a list: `prefix` is inside one of its CIDRs). */
export function ruleAllows(rule: PrefixRule, prefix: string): boolean {
  if (typeof rule === "boolean") return rule;
  const c = parseCidr(prefix);
  return rule.some((r) => {
    const rc = parseCidr(r);
    return rc.prefix <= c.prefix && overlaps(rc, c);
  });
}

/** One path to a prefix, as learned from one peer. */
export interface RibRoute {
  readonly prefix: string;
  readonly family: 4 | 6;
  readonly peer: string;
  readonly nextHop: string;
  readonly origin: Origin;
  readonly asPath: AsPathSegment[];
  /** MULTI_EXIT_DISC; 0 when the UPDATE had none (see hasMed). */
  readonly med: number;
  /** The UPDATE carried MED: a reflector passes it on only then (RFC 4456 §8). */
  readonly hasMed: boolean;
  readonly localPref: number;
  readonly originatorId?: string;
  readonly clusterList: string[];
  readonly ebgp: boolean;
  readonly peerRouterId: string;
  /** Kept from a gracefully restarting peer until its End-of-RIB. */
  stale: boolean;
  /** Attributes passed on unchanged when the route is reflected (communities, ...). */
  readonly passThrough: PathAttribute[];
}

/**
 * What every prefix announced by one peer with the same attributes shares (interned: BIRD and
 * GoBGP do the same), so a stored path is only its prefix, this and a stale bit.
 */
type SharedAttrs = Omit<RibRoute, "prefix" | "stale"> & { refs: number; key: string };

/** A stored path: 3 fields; everything else is read from the shared attributes. */
class Path implements RibRoute {
  readonly prefix: string;
  readonly attrs: SharedAttrs;
  stale = false;
  constructor(prefix: string, attrs: SharedAttrs) {
    this.prefix = prefix;
    this.attrs = attrs;
  }
  get family(): 4 | 6 {
    return this.attrs.family;
  }
  get peer(): string {
    return this.attrs.peer;
  }
  get nextHop(): string {
    return this.attrs.nextHop;
  }
  get origin(): Origin {
    return this.attrs.origin;
  }
  get asPath(): AsPathSegment[] {
    return this.attrs.asPath;
  }
  get med(): number {
    return this.attrs.med;
  }
  get hasMed(): boolean {
    return this.attrs.hasMed;
  }
  get localPref(): number {
    return this.attrs.localPref;
  }
  get originatorId(): string | undefined {
    return this.attrs.originatorId;
  }
  get clusterList(): string[] {
    return this.attrs.clusterList;
  }
  get ebgp(): boolean {
    return this.attrs.ebgp;
  }
  get peerRouterId(): string {
    return this.attrs.peerRouterId;
  }
  get passThrough(): PathAttribute[] {
    return this.attrs.passThrough;
  }
  /** A plain copy (for JSON and tests). */
  toJSON(): RibRoute {
    const { refs: _r, key: _k, ...a } = this.attrs;
    return { prefix: this.prefix, ...a, stale: this.stale };
  }
}

/** The attributes of one UPDATE, before interning. */
type BaseAttrs = { -readonly [K in keyof RibRoute]: RibRoute[K] } extends infer R
  ? Omit<R, "prefix" | "family" | "nextHop" | "stale">
  : never;

/** A route as one peer is sent it. */
export interface ExportRoute {
  prefix: string;
  family: 4 | 6;
  /** Attributes for an IPv4 UPDATE (NEXT_HOP included) or, for IPv6, all but MP_REACH. */
  attributes: PathAttribute[];
  /** The next hop (NEXT_HOP for IPv4, MP_REACH's for IPv6). */
  nextHop: string;
}

/** What this node announces about itself. */
export interface RibSelf {
  localAs: number;
  routerId: string;
  /** RFC 4456 cluster id when this node is a route reflector. */
  clusterId?: string;
}

/** A prefix the import rule refused, with the reason (for diagnose). */
export interface Rejected {
  prefix: string;
  reason: string;
}

/** What one UPDATE did. */
export interface RibChange {
  /** Prefixes whose best path may have changed. */
  changed: string[];
  rejected: Rejected[];
  /**
   * Why a next hop of the UPDATE was refused (RFC 4271 §6.3, RFC 7606 §7.3: the routes are
   * ignored, withdrawn if the peer had given them before; the session stays).
   */
  invalidNextHop?: string;
  /** Why the UPDATE was treat-as-withdraw although it decoded (AS_CONFED segments from eBGP). */
  malformed?: string;
  /** NLRI (plain or MP_REACH) of a family the session did not negotiate: ignored (RFC 4760 §6). */
  unnegotiated?: string;
}

export { pathLength } from "./as4.ts";

function neighborAs(r: RibRoute): number | undefined {
  const first = r.asPath.find((s) => s.type === 1 || s.type === 2);
  return first?.type === 2 ? first.asns[0] : undefined;
}

function ipKey(text: string): string {
  return text.includes(":") ? text : text.split(".").map((x) => x.padStart(3, "0")).join(".");
}

/** < 0 when `a` is the better path (RFC 4271 §9.1.2.2 order, RFC 4456 §9 tie-breaks). */
export function comparePaths(a: RibRoute, b: RibRoute): number {
  if (a.localPref !== b.localPref) return b.localPref - a.localPref;
  const la = pathLength(a.asPath), lb = pathLength(b.asPath);
  if (la !== lb) return la - lb;
  if (a.origin !== b.origin) return a.origin - b.origin;
  if (neighborAs(a) === neighborAs(b) && a.med !== b.med) return a.med - b.med;
  if (a.ebgp !== b.ebgp) return a.ebgp ? -1 : 1;
  const ia = ipKey(a.originatorId ?? a.peerRouterId), ib = ipKey(b.originatorId ?? b.peerRouterId);
  if (ia !== ib) return ia < ib ? -1 : 1;
  if (a.clusterList.length !== b.clusterList.length) {
    return a.clusterList.length - b.clusterList.length;
  }
  const pa = ipKey(a.peer), pb = ipKey(b.peer);
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/** Adj-RIB-In per peer and the Loc-RIB. */
export class Rib {
  readonly self: RibSelf;
  #own: { text: string; cidr: Cidr }[] = [];
  /** The node's connected networks (its uplink's prefixes): never imported, nor inside them. */
  #uplink: { text: string; cidr: Cidr }[] = [];
  /** prefix → its paths (one Path, or an array when several peers give it: the rare case) */
  #paths = new Map<string, Path | Path[]>();
  #best = new Map<string, Path>();
  /** peer → its prefixes */
  #byPeer = new Map<string, Set<string>>();
  /** Interned attribute sets by key (see SharedAttrs). */
  #attrs = new Map<string, SharedAttrs>();

  constructor(self: RibSelf) {
    this.self = self;
  }

  /** This node's pod subnets: exported to peers, never imported. Returns prefixes to re-check. */
  setOwnPrefixes(prefixes: string[]): string[] {
    this.#own = prefixes.map((text) => ({ text, cidr: parseCidr(text) }));
    return this.#drop((p) => this.#isOwn(p));
  }

  /**
   * The node's connected networks (its uplink's prefixes, e.g. 192.168.77.0/24): a route equal
   * to or inside one is never imported (it would take part of the node's own LAN away). A
   * covering route is fine (the connected route is longer). Returns prefixes to re-check.
   */
  setUplinkPrefixes(prefixes: string[]): string[] {
    this.#uplink = prefixes.map((text) => ({ text, cidr: parseCidr(text) }));
    return this.#drop((p) => this.#inUplink(p) !== undefined);
  }

  /** The node's uplink prefixes, as given. */
  get uplinkPrefixes(): string[] {
    return this.#uplink.map((o) => o.text);
  }

  /** Removes every path to a prefix `gone` says; returns those prefixes. */
  #drop(gone: (prefix: string) => boolean): string[] {
    const changed: string[] = [];
    for (const p of this.#paths.keys()) if (gone(p)) changed.push(p);
    for (const p of changed) {
      for (const path of pathsOf(this.#paths.get(p))) {
        this.#byPeer.get(path.peer)?.delete(p);
        this.#release(path.attrs);
      }
      this.#paths.delete(p);
      this.#best.delete(p);
    }
    return changed;
  }

  /** The node's own prefixes, as given. */
  get ownPrefixes(): string[] {
    return this.#own.map((o) => o.text);
  }

  /** How many distinct attribute sets the RIB holds (interning at work). */
  get attributeSets(): number {
    return this.#attrs.size;
  }

  #isOwn(prefix: string): boolean {
    const c = parseCidr(prefix);
    return this.#own.some((o) => o.cidr.prefix <= c.prefix && overlaps(o.cidr, c));
  }

  /** The uplink prefix `prefix` is equal to or inside, if any. */
  #inUplink(prefix: string): string | undefined {
    const c = parseCidr(prefix);
    return this.#uplink.find((o) => o.cidr.prefix <= c.prefix && overlaps(o.cidr, c))?.text;
  }

  /** Why `prefix` is never taken from `peer` whatever its import rule (own LAN, a default). */
  #protected(peer: RibPeer, prefix: string): string | undefined {
    if (this.#isOwn(prefix)) return "inside this node's own subnet";
    const lan = this.#inUplink(prefix);
    if (lan) return `inside this node's uplink network ${lan}`;
    if (prefix.endsWith("/0") && !peer.policy.acceptDefault) {
      return "a default route (the peer's acceptDefault is off)";
    }
    return undefined;
  }

  /** Applies one UPDATE from `peer` to its Adj-RIB-In and the Loc-RIB. */
  update(peer: RibPeer, msg: UpdateMessage): RibChange {
    const change: RibChange = { changed: [], rejected: [] };
    for (const p of msg.withdrawn) this.#withdraw(peer.key, p, change);
    for (const a of msg.attributes) {
      if (a.type === "mp-unreach") {
        for (const p of a.withdrawn) this.#withdraw(peer.key, p, change);
      }
    }
    const groups: { family: 4 | 6; nextHop?: string; prefixes: string[] }[] = [];
    const add = (family: 4 | 6, nextHop: string | undefined, prefixes: string[]) => {
      if (prefixes.length === 0) return;
      if (peer.families && !peer.families.includes(family === 6 ? 2 : 1)) {
        // RFC 4760 §6: a family the session did not negotiate is not taken (the plain NLRI
        // field included: it is IPv4 unicast).
        change.unnegotiated = `IPv${family} unicast NLRI on a session that did not negotiate it`;
      } else groups.push({ family, nextHop, prefixes });
    };
    if (msg.nlri.length > 0) add(4, nextHopOf(msg), msg.nlri);
    for (const r of msg.attributes) {
      if (r.type === "mp-reach") add(r.afi === AFI.IPV6 ? 6 : 4, r.nextHops[0], r.nlri);
    }
    if (msg.treatAsWithdraw || peer.policy.import === false) {
      for (const g of groups) {
        for (const prefix of g.prefixes) {
          this.#withdraw(peer.key, prefix, change);
          if (peer.policy.import === false) {
            change.rejected.push({ prefix, reason: "no import rule for this peer" });
          }
        }
      }
      return change;
    }
    const base = this.#baseRoute(peer, msg);
    // RFC 5065 §5.3 + RFC 7606 §7.2: AS_CONFED segments from a peer outside our (non-existent)
    // confederation make AS_PATH malformed: treat-as-withdraw.
    if (peer.ebgp && base.asPath.some((seg) => seg.type === 3 || seg.type === 4)) {
      change.malformed = "AS_PATH has AS_CONFED segments from an eBGP peer (RFC 5065)";
    }
    if (groups.some((g) => g.prefixes.length > 0)) {
      change.malformed ??= firstAsError(peer, base.asPath);
    }
    const refused = change.malformed ?? this.#refuse(peer, base);
    for (const g of groups) {
      if (g.prefixes.length === 0) continue;
      const badHop = g.nextHop ? invalidNextHop(g.nextHop, peer.ownAddresses ?? []) : undefined;
      if (badHop) change.invalidNextHop ??= badHop;
      const attrs = g.nextHop && !refused && !badHop
        ? this.#intern({ ...base, family: g.family, nextHop: g.nextHop })
        : undefined;
      for (const prefix of g.prefixes) {
        const reason = refused ?? badHop ??
          (!attrs ? "no next hop" : this.#protected(peer, prefix) ??
            (ruleAllows(peer.policy.import, prefix)
              ? undefined
              : "outside this peer's import rule"));
        if (reason || !attrs) {
          change.rejected.push({ prefix, reason: reason ?? "no next hop" });
          this.#withdraw(peer.key, prefix, change);
          continue;
        }
        this.#insert(new Path(prefix, attrs), change);
      }
      if (attrs && attrs.refs === 0) this.#attrs.delete(attrs.key);
    }
    return change;
  }

  /** The interned copy of `a` (refs counted by #insert/#release). */
  #intern(a: Omit<SharedAttrs, "refs" | "key">): SharedAttrs {
    const key = JSON.stringify(a, (_k, v) => v instanceof Uint8Array ? Array.from(v) : v);
    let s = this.#attrs.get(key);
    if (!s) this.#attrs.set(key, s = { ...a, refs: 0, key });
    return s;
  }

  #release(a: SharedAttrs): void {
    if (--a.refs <= 0) this.#attrs.delete(a.key);
  }

  #baseRoute(peer: RibPeer, msg: UpdateMessage): BaseAttrs {
    const r: BaseAttrs = {
      peer: peer.key,
      origin: 2,
      asPath: [],
      med: 0,
      hasMed: false,
      localPref: 100,
      clusterList: [],
      ebgp: peer.ebgp,
      peerRouterId: peer.routerId,
      passThrough: [],
    };
    const old = peer.as4 === false ? mergeAs4(msg.attributes) : undefined;
    for (const a of msg.attributes) {
      if (a.type === "origin") r.origin = a.value;
      else if (a.type === "as-path") r.asPath = old?.asPath ?? a.segments;
      else if (a.type === "aggregator") {
        r.passThrough.push(old?.aggregator ? { type: "aggregator", ...old.aggregator } : a);
      } else if (a.type === "med") {
        r.med = a.value;
        r.hasMed = true;
      } else if (a.type === "local-pref" && !peer.ebgp) r.localPref = a.value; // RFC 4271 §5.1.5
      else if (a.type === "originator-id" && !peer.ebgp) r.originatorId = a.id;
      else if (a.type === "cluster-list" && !peer.ebgp) r.clusterList = a.ids;
      else if (a.type === "other" && (a.flags & 0x40)) r.passThrough.push(a);
    }
    return r;
  }

  #refuse(peer: RibPeer, r: BaseAttrs): string | undefined {
    const s = this.self;
    if (peer.ebgp && r.asPath.some((seg) => seg.asns.includes(s.localAs))) {
      return `AS path loop (contains ${s.localAs})`;
    }
    if (r.originatorId === s.routerId) return "ORIGINATOR_ID is this node";
    if (s.clusterId && r.clusterList.includes(s.clusterId)) {
      return "CLUSTER_LIST contains our cluster id";
    }
    return undefined;
  }

  #insert(route: Path, change: RibChange): void {
    const prefix = route.prefix, peer = route.peer;
    const cur = this.#paths.get(prefix);
    route.attrs.refs++;
    if (cur === undefined) this.#paths.set(prefix, route);
    else if (!Array.isArray(cur)) {
      if (cur.peer === peer) {
        this.#release(cur.attrs);
        this.#paths.set(prefix, route);
      } else this.#paths.set(prefix, [cur, route]);
    } else {
      const i = cur.findIndex((x) => x.peer === peer);
      if (i >= 0) {
        this.#release(cur[i]!.attrs);
        cur[i] = route;
      } else cur.push(route);
    }
    let mine = this.#byPeer.get(peer);
    if (!mine) this.#byPeer.set(peer, mine = new Set());
    mine.add(prefix);
    this.#select(prefix, change);
  }

  #get(prefix: string, peer: string): Path | undefined {
    const cur = this.#paths.get(prefix);
    if (cur === undefined) return undefined;
    if (!Array.isArray(cur)) return cur.peer === peer ? cur : undefined;
    return cur.find((x) => x.peer === peer);
  }

  #withdraw(peer: string, prefix: string, change: RibChange): void {
    const cur = this.#paths.get(prefix);
    if (cur === undefined) return;
    let gone: Path | undefined;
    if (!Array.isArray(cur)) {
      if (cur.peer !== peer) return;
      gone = cur;
      this.#paths.delete(prefix);
    } else {
      const i = cur.findIndex((x) => x.peer === peer);
      if (i < 0) return;
      gone = cur[i]!;
      cur.splice(i, 1);
      if (cur.length === 1) this.#paths.set(prefix, cur[0]!);
    }
    this.#release(gone.attrs);
    this.#byPeer.get(peer)?.delete(prefix);
    this.#select(prefix, change);
  }

  #select(prefix: string, change: RibChange): void {
    let best: Path | undefined;
    for (const r of pathsOf(this.#paths.get(prefix))) {
      if (!best || comparePaths(r, best) < 0) best = r;
    }
    if (best) this.#best.set(prefix, best);
    else this.#best.delete(prefix);
    change.changed.push(prefix);
  }

  /**
   * Applies `peer`'s (changed) import rule to what it gave us: routes the rule now refuses are
   * withdrawn. Returns the prefixes whose best path may change.
   */
  reimport(peer: RibPeer): string[] {
    const change: RibChange = { changed: [], rejected: [] };
    for (const p of [...(this.#byPeer.get(peer.key) ?? [])]) {
      if (!ruleAllows(peer.policy.import, p) || this.#protected(peer, p)) {
        this.#withdraw(peer.key, p, change);
      }
    }
    return change.changed;
  }

  /**
   * The session with `peer` ended. Graceful (RFC 4724 receiving speaker): its routes stay,
   * marked stale; otherwise they are withdrawn. Returns the prefixes whose best path may change.
   */
  peerDown(peer: string, graceful: boolean): string[] {
    const change: RibChange = { changed: [], rejected: [] };
    for (const p of [...(this.#byPeer.get(peer) ?? [])]) {
      if (graceful) {
        const r = this.#get(p, peer);
        if (r) r.stale = true;
      } else this.#withdraw(peer, p, change);
    }
    return change.changed;
  }

  /** Withdraws `peer`'s routes still stale (End-of-RIB, or the restart timer ran out). */
  sweepStale(peer: string, family?: Family): string[] {
    const change: RibChange = { changed: [], rejected: [] };
    for (const p of [...(this.#byPeer.get(peer) ?? [])]) {
      const r = this.#get(p, peer);
      if (r?.stale && (family === undefined || r.family === (family === 1 ? 4 : 6))) {
        this.#withdraw(peer, p, change);
      }
    }
    return change.changed;
  }

  /** How many prefixes `peer` currently gives us (stale included). */
  received(peer: string): number {
    return this.#byPeer.get(peer)?.size ?? 0;
  }

  /** Whether `peer` has stale routes left. */
  hasStale(peer: string): boolean {
    for (const p of this.#byPeer.get(peer) ?? []) {
      if (this.#get(p, peer)?.stale) return true;
    }
    return false;
  }

  /** The best path to `prefix`. */
  best(prefix: string): RibRoute | undefined {
    return this.#best.get(prefix);
  }

  /** Every best path (the Loc-RIB). */
  bestRoutes(): IterableIterator<RibRoute> {
    return this.#best.values();
  }

  /**
   * What `to` is sent: this node's own prefixes (next hop: `nextHops[family]`, this node's
   * address on the session) and, as a route reflector, the best iBGP-learned routes of others.
   */
  exportTo(to: RibPeer, nextHops: { 4?: string; 6?: string }): Map<string, ExportRoute> {
    const out = new Map<string, ExportRoute>();
    if (to.policy.export === false) return out;
    const s = this.self;
    for (const { text, cidr } of this.#own) {
      const nh = nextHops[cidr.family];
      if (!nh || !ruleAllows(to.policy.export, text)) continue;
      const attributes: PathAttribute[] = [
        { type: "origin", value: 0 },
        { type: "as-path", segments: to.ebgp ? [{ type: 2, asns: [s.localAs] }] : [] },
      ];
      if (cidr.family === 4) attributes.push({ type: "next-hop", address: nh });
      if (!to.ebgp) attributes.push({ type: "local-pref", value: 100 });
      out.set(text, { prefix: text, family: cidr.family, attributes, nextHop: nh });
    }
    if (!s.clusterId || to.ebgp) return out;
    for (const r of this.#best.values()) {
      if (r.ebgp || r.peer === to.key || out.has(r.prefix)) continue;
      if ((r.originatorId ?? r.peerRouterId) === to.routerId) continue;
      if (!ruleAllows(to.policy.export, r.prefix)) continue;
      out.set(r.prefix, {
        prefix: r.prefix,
        family: r.family,
        attributes: reflected(r, s.clusterId),
        nextHop: r.nextHop,
      });
    }
    return out;
  }
}

/**
 * RFC 4271 §6.3 (FRR's enforce-first-as, on by default): an eBGP route's AS_PATH starts with an
 * AS_SEQUENCE whose first AS is the peer's (AS_TRANS from a 2-octet session with a 4-octet AS).
 * skein has no route-server peers (RFC 7947), so there is no exception.
 */
function firstAsError(peer: RibPeer, path: readonly AsPathSegment[]): string | undefined {
  if (!peer.ebgp || peer.asNumber === undefined) return undefined;
  const [seg] = path;
  if (!seg) return "empty AS_PATH from an eBGP peer (RFC 4271 §6.3)";
  const first = seg.type === 2 ? seg.asns[0] : undefined;
  const want = peer.asNumber;
  if (first === want || (first === AS_TRANS && peer.as4 === false && want > 0xffff)) {
    return undefined;
  }
  return `AS_PATH starts with ${
    first === undefined ? "an AS_SET" : `AS ${first}`
  }, not the peer's AS ${want} (RFC 4271 §6.3)`;
}

function pathsOf(cur: Path | Path[] | undefined): readonly Path[] {
  return cur === undefined ? [] : Array.isArray(cur) ? cur : [cur];
}

function nextHopOf(msg: UpdateMessage): string | undefined {
  for (const a of msg.attributes) if (a.type === "next-hop") return a.address;
  return undefined;
}

/** A route's attributes as a reflector passes them on (RFC 4456 §8, RFC 4271 §5's Partial bit). */
function reflected(r: RibRoute, clusterId: string): PathAttribute[] {
  const attributes: PathAttribute[] = [
    { type: "origin", value: r.origin },
    { type: "as-path", segments: r.asPath },
  ];
  if (r.family === 4) attributes.push({ type: "next-hop", address: r.nextHop });
  // RFC 4456 §8: a reflector does not modify MED: passed on when present, never added.
  if (r.hasMed) attributes.push({ type: "med", value: r.med });
  attributes.push({ type: "local-pref", value: r.localPref });
  attributes.push({ type: "originator-id", id: r.originatorId ?? r.peerRouterId });
  attributes.push({ type: "cluster-list", ids: [clusterId, ...r.clusterList] });
  // RFC 4271 §5: an optional transitive attribute this speaker does not interpret (communities,
  // ...) is passed on with the Partial bit set.
  for (const a of r.passThrough) {
    attributes.push(
      a.type === "other" && (a.flags & 0xc0) === 0xc0 ? { ...a, flags: a.flags | 0x20 } : a,
    );
  }
  return attributes;
}
