/**
 * The peer daemon's `GET /debug/state` answer as diagnose reads it (schema version 1, built by
 * daemon/debug_state.ts): parsed at the boundary into typed values; anything malformed is a
 * DebugStateError and the remote checks skip with that reason.
 *
 * @module
 */
import { type Ip, tryParseIp } from "../net/cidr.ts";

/** A route in the debug state (desired or in the kernel). */
export interface DebugRoute {
  dst: string;
  gateway?: string;
  /** Device name. */
  dev?: string;
  onlink?: boolean;
}

/** What `/debug/state` holds. No secrets: no datastore endpoints or credentials. */
export interface DebugState {
  schemaVersion: 1;
  node: string;
  generatedAt: string;
  backend: { type: string; vni?: number; port?: number; device?: string; mtu?: number };
  uplink?: { name: string; index: number; mtu: number; publicIP: string };
  network?: string;
  lease?: { subnet: string; publicIP: string; expiration: string };
  health: {
    leaseHeld: boolean;
    routesProgrammed: boolean;
    leaseFileWritten: boolean;
    detail?: string;
  };
  lastReconcile?: {
    at: string;
    trigger: string;
    ok: boolean;
    errors: string[];
    skipped: { subnet: string; reason: string }[];
    durationMs: number;
  };
  /** When the last reconcile without errors finished. */
  lastSuccessAt?: string;
  /** The daemon's periodic reconcile interval. */
  reconcileIntervalSeconds?: number;
  /** The routes the backend wants (one per programmable lease). */
  desired: DebugRoute[];
  /** skein-owned routes in the kernel now. */
  snapshot: { routes: DebugRoute[]; neighs: number; fdbs: number };
  /** The sysctls diagnose compares (ip_forward, rp_filter of all and the uplink, ...). */
  sysctls: Record<string, string>;
  /** The leases the daemon knows. */
  leases: { subnet: string; node: string; publicIP: string; vtepMAC?: string }[];
  /** The udp backend's forwarder (its `backendState.udp`), when the node runs it. */
  udp?: {
    listen: string;
    socketOpen: boolean;
    worker: boolean;
    peers: number;
    /** Drops by reason, as the worker counted them. */
    dropped: Record<string, number>;
    /** The senders the worker refused as `unknown-source` (absent from older daemons). */
    unknownSenders?: UdpUnknownSenders;
  };
  /** The bgp backend's speaker (its `backendState.bgp`), when the node runs it. */
  bgp?: BgpDebug;
}

/** The udp worker's table of refused unknown senders (backends/udp/unknown_senders.ts). */
export interface UdpUnknownSenders {
  /** The senders kept, the most recently seen first. */
  senders: UdpUnknownSender[];
  /** Senders that lost their slot to newer ones (a flood of sources shows here). */
  replaced: number;
}

/** One sender whose datagrams the udp worker refused: no lease has its address as publicIP. */
export interface UdpUnknownSender {
  source: Ip;
  port: number;
  /** The inner packet's addresses, when it was a sane IPv4 packet. */
  inner?: { source: Ip; destination: Ip };
  count: number;
  lastSeen: Date;
}

/** A bgp node's speaker as /debug/state reports it. */
export interface BgpDebug {
  asNumber: number;
  routerId: string;
  /** False while a restarted speaker waits for its peers' End-of-RIB (kernel routes kept). */
  converged: boolean;
  peers: {
    address: string;
    asNumber: number;
    source: string;
    /** The node waits for this peer to connect (absent from older daemons: both ends dialed). */
    passive?: boolean;
    state: string;
    lastNotification?: {
      direction: string;
      code: number;
      subcode: number;
      name: string;
      /** What was wrong, in words (a NOTIFICATION this side sent). */
      reason?: string;
    };
    lastDown?: string;
    /**
     * UPDATEs with errors handled without a reset (treat-as-withdraw, attribute discard, invalid
     * NEXT_HOP); absent from older daemons.
     */
    updateErrors?: number;
    prefixesReceived: number;
    prefixesAdvertised: number;
    /** Why a rule is none without being configured so (an eBGP peer without one: RFC 8212). */
    policyNote?: string;
  }[];
  /** The Loc-RIB's best routes (what the kernel should hold, proto 186). */
  routes: { prefix: string; nextHop: string; peer: string; stale: boolean }[];
}

/** A `/debug/state` answer that is not schema version 1. */
export class DebugStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DebugStateError";
  }
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new DebugStateError(`debug state: ${what} is not an object`);
  }
  return v as Record<string, unknown>;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw new DebugStateError(`debug state: ${what} is not a string`);
  return v;
}

function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new DebugStateError(`debug state: ${what} is not an array`);
  return v;
}

function route(v: unknown, what: string): DebugRoute {
  const o = obj(v, what);
  const r: DebugRoute = { dst: str(o.dst, `${what}.dst`) };
  if (typeof o.gateway === "string") r.gateway = o.gateway;
  if (typeof o.dev === "string") r.dev = o.dev;
  if (typeof o.onlink === "boolean") r.onlink = o.onlink;
  return r;
}

/** The optional fields of the answer, into `s`. */
function optional(
  s: DebugState,
  o: Record<string, unknown>,
  backend: Record<string, unknown>,
): void {
  for (const k of ["vni", "port", "mtu"] as const) {
    if (typeof backend[k] === "number") s.backend[k] = backend[k] as number;
  }
  if (typeof backend.device === "string") s.backend.device = backend.device;
  const health = o.health as Record<string, unknown>;
  if (typeof health.detail === "string") s.health.detail = health.detail;
  if (typeof o.network === "string") s.network = o.network;
  if (typeof o.lastSuccessAt === "string") s.lastSuccessAt = o.lastSuccessAt;
  if (typeof o.reconcileIntervalSeconds === "number") {
    s.reconcileIntervalSeconds = o.reconcileIntervalSeconds;
  }
  if (o.uplink !== undefined) {
    const u = obj(o.uplink, "uplink");
    s.uplink = {
      name: str(u.name, "uplink.name"),
      index: Number(u.index),
      mtu: Number(u.mtu),
      publicIP: str(u.publicIP, "uplink.publicIP"),
    };
  }
  if (o.lease !== undefined) {
    const l = obj(o.lease, "lease");
    s.lease = {
      subnet: str(l.subnet, "lease.subnet"),
      publicIP: str(l.publicIP, "lease.publicIP"),
      expiration: str(l.expiration, "lease.expiration"),
    };
  }
  if (o.lastReconcile !== undefined) {
    const r = obj(o.lastReconcile, "lastReconcile");
    s.lastReconcile = {
      at: str(r.at, "lastReconcile.at"),
      trigger: str(r.trigger, "lastReconcile.trigger"),
      ok: r.ok === true,
      errors: arr(r.errors, "lastReconcile.errors").map((e, i) => str(e, `errors[${i}]`)),
      skipped: arr(r.skipped, "lastReconcile.skipped").map((x, i) => {
        const k = obj(x, `skipped[${i}]`);
        return { subnet: str(k.subnet, "subnet"), reason: str(k.reason, "reason") };
      }),
      durationMs: Number(r.durationMs),
    };
  }
}

/** Parses the JSON text of `/debug/state`; throws DebugStateError naming the bad field. */
export function parseDebugState(text: string): DebugState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DebugStateError(`debug state is not JSON: ${(e as Error).message}`);
  }
  const o = obj(v, "the answer");
  if (o.schemaVersion !== 1) {
    throw new DebugStateError(`debug state: schemaVersion ${o.schemaVersion} is not 1`);
  }
  const health = obj(o.health, "health");
  const snap = obj(o.snapshot, "snapshot");
  const sysctls: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(o.sysctls, "sysctls"))) {
    sysctls[k] = str(x, `sysctls.${k}`);
  }
  const backend = obj(o.backend, "backend");
  const s: DebugState = {
    schemaVersion: 1,
    node: str(o.node, "node"),
    generatedAt: str(o.generatedAt, "generatedAt"),
    backend: { type: str(backend.type, "backend.type") },
    health: {
      leaseHeld: health.leaseHeld === true,
      routesProgrammed: health.routesProgrammed === true,
      leaseFileWritten: health.leaseFileWritten === true,
    },
    desired: arr(o.desired, "desired").map((r, i) => route(r, `desired[${i}]`)),
    snapshot: {
      routes: arr(snap.routes, "snapshot.routes").map((r, i) => route(r, `snapshot.routes[${i}]`)),
      neighs: typeof snap.neighs === "number" ? snap.neighs : 0,
      fdbs: typeof snap.fdbs === "number" ? snap.fdbs : 0,
    },
    sysctls,
    leases: arr(o.leases, "leases").map((x, i) => {
      const l = obj(x, `leases[${i}]`);
      const out: DebugState["leases"][number] = {
        subnet: str(l.subnet, `leases[${i}].subnet`),
        node: str(l.node, `leases[${i}].node`),
        publicIP: str(l.publicIP, `leases[${i}].publicIP`),
      };
      if (typeof l.vtepMAC === "string") out.vtepMAC = l.vtepMAC;
      return out;
    }),
  };
  optional(s, o, backend);
  const udp = udpState(o.backendState);
  if (udp) s.udp = udp;
  const bgp = bgpState(o.backendState);
  if (bgp) s.bgp = bgp;
  return s;
}

const num = (v: unknown) => typeof v === "number" ? v : 0;
const text = (v: unknown) => typeof v === "string" ? v : "";

function bgpPeer(v: unknown): BgpDebug["peers"][number] {
  const p = (v && typeof v === "object" ? v : {}) as Record<string, unknown>;
  const out: BgpDebug["peers"][number] = {
    address: text(p.address),
    asNumber: num(p.asNumber),
    source: text(p.source),
    state: text(p.state),
    prefixesReceived: num(p.prefixesReceived),
    prefixesAdvertised: num(p.prefixesAdvertised),
  };
  const n = p.lastNotification as Record<string, unknown> | undefined;
  if (n && typeof n === "object") {
    out.lastNotification = {
      direction: text(n.direction),
      code: num(n.code),
      subcode: num(n.subcode),
      name: text(n.name),
    };
    if (typeof n.reason === "string" && n.reason) out.lastNotification.reason = n.reason;
  }
  if (typeof p.updateErrors === "number") out.updateErrors = num(p.updateErrors);
  if (typeof p.lastDown === "string") out.lastDown = p.lastDown;
  if (typeof p.passive === "boolean") out.passive = p.passive;
  if (typeof p.policyNote === "string") out.policyNote = p.policyNote;
  return out;
}

/** `backendState.bgp` of a bgp node, loosely (undefined when absent or not an object). */
function bgpState(v: unknown): BgpDebug | undefined {
  const b = v && typeof v === "object" ? (v as Record<string, unknown>).bgp : undefined;
  if (!b || typeof b !== "object") return undefined;
  const x = b as Record<string, unknown>;
  return {
    asNumber: num(x.asNumber),
    routerId: text(x.routerId),
    converged: x.converged === true,
    peers: Array.isArray(x.peers) ? x.peers.map(bgpPeer) : [],
    routes: Array.isArray(x.routes)
      ? x.routes.map((r) => {
        const o = (r && typeof r === "object" ? r : {}) as Record<string, unknown>;
        return {
          prefix: text(o.prefix),
          nextHop: text(o.nextHop),
          peer: text(o.peer),
          stale: o.stale === true,
        };
      })
      : [],
  };
}

/** `backendState.udp` of a udp node, loosely (undefined when absent or not an object). */
function udpState(v: unknown): DebugState["udp"] {
  if (!v || typeof v !== "object") return undefined;
  const u = (v as Record<string, unknown>).udp;
  if (!u || typeof u !== "object") return undefined;
  const x = u as Record<string, unknown>;
  const counters = (x.counters ?? {}) as Record<string, unknown>;
  const dropped: Record<string, number> = {};
  const d = counters.dropped;
  if (d && typeof d === "object") {
    for (const [k, n] of Object.entries(d)) if (typeof n === "number") dropped[k] = n;
  }
  const out: NonNullable<DebugState["udp"]> = {
    listen: typeof x.listen === "string" ? x.listen : "",
    socketOpen: x.socketOpen === true,
    worker: x.worker === true,
    peers: typeof x.peers === "number" ? x.peers : 0,
    dropped,
  };
  const senders = unknownSenders(x.unknownSenders);
  if (senders) out.unknownSenders = senders;
  return out;
}

const ipv4 = (v: unknown): Ip | undefined => {
  const ip = typeof v === "string" ? tryParseIp(v) : undefined;
  return ip?.family === 4 ? ip : undefined;
};

/** `udp.unknownSenders`, loosely: entries without an IPv4 source or a time are left out. */
function unknownSenders(v: unknown): UdpUnknownSenders | undefined {
  if (!v || typeof v !== "object") return undefined;
  const u = v as Record<string, unknown>;
  const senders: UdpUnknownSender[] = [];
  for (const e of Array.isArray(u.senders) ? u.senders : []) {
    const o = (e && typeof e === "object" ? e : {}) as Record<string, unknown>;
    const source = ipv4(o.source), lastSeen = new Date(text(o.lastSeen));
    if (!source || Number.isNaN(lastSeen.getTime())) continue;
    const s: UdpUnknownSender = { source, port: num(o.port), count: num(o.count), lastSeen };
    const src = ipv4(o.innerSource), dst = ipv4(o.innerDestination);
    if (src && dst) s.inner = { source: src, destination: dst };
    senders.push(s);
  }
  return { senders, replaced: num(u.replaced) };
}
