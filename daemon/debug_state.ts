/**
 * The payload of the daemon's read-only `GET /debug/state` (schema version 1), read by
 * `skein diagnose` on other nodes: the desired routes (the backend's own desired state for the
 * leases the daemon holds), a summary of what skein owns in the kernel now, the sysctls diagnose
 * compares, health, and the last reconcile. It holds no secrets: of the config only the backend
 * and the reconcile interval (no datastore endpoints, no credentials).
 *
 * @module
 */
import { desiredFor } from "../backends/desired.ts";
import { isOwnedRoute } from "../backends/snapshot.ts";
import { type NetHandle, RTPROT_BGP, SKEIN_ROUTE_PROTOCOL } from "../net/types.ts";
import type { DaemonDebugInfo } from "./daemon.ts";

/** What the builder reads from the node's kernel (read-only). */
export interface DebugKernel {
  handle: Pick<
    NetHandle,
    "linkFind" | "linkList" | "addrList" | "routeList" | "neighList" | "fdbList"
  >;
  /** `sysctl -n KEY` in the daemon's namespace; undefined when absent. */
  sysctl(key: string): string | undefined;
}

interface RouteOut {
  dst: string;
  gateway?: string;
  dev?: string;
  onlink?: boolean;
}

function routeOut(
  r: { dst: string; gateway?: string; onlink?: boolean },
  dev: number | undefined,
  names: Map<number, string>,
): RouteOut {
  const o: RouteOut = { dst: r.dst };
  if (r.gateway) o.gateway = r.gateway;
  if (dev !== undefined) o.dev = names.get(dev) ?? `#${dev}`;
  if (r.onlink) o.onlink = true;
  return o;
}

/** ip_forward, rp_filter (all and the path devices) and bridge-nf-call-iptables, as sysctl names. */
function sysctls(k: DebugKernel, devs: (string | undefined)[]): Record<string, string> {
  const out: Record<string, string> = {};
  const keys: [string, string][] = [
    ["net.ipv4.ip_forward", "net.ipv4.ip_forward"],
    ["net.ipv4.conf.all.rp_filter", "net/ipv4/conf/all/rp_filter"],
    ["net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-iptables"],
  ];
  for (const d of devs) {
    if (d) keys.push([`net.ipv4.conf.${d}.rp_filter`, `net/ipv4/conf/${d}/rp_filter`]);
  }
  for (const [name, key] of keys) {
    const v = k.sysctl(key);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** The backend's desired routes for the leases the daemon holds, or why there are none. */
function desiredRoutes(
  info: DaemonDebugInfo,
  k: DebugKernel,
  names: Map<number, string>,
): { routes: RouteOut[]; error?: string } {
  if (!info.lease || !info.uplink) return { routes: [] };
  // A backend whose desired state depends on what it learned (bgp: its RIB) reports it itself.
  const own = info.backendState?.desired;
  if (Array.isArray(own)) {
    return {
      routes: (own as { dst: string; gateway?: string; dev?: number; onlink?: boolean }[])
        .map((r) => routeOut(r, r.dev, names)),
    };
  }
  const device = info.setup?.device;
  const a = desiredFor(
    {
      type: info.config.backend.type,
      settings: info.config.backend,
      handle: k.handle,
      uplink: { name: info.uplink.name, index: info.uplink.index, mtu: info.uplink.mtu },
      publicIP: info.uplink.publicIP,
      ...(device ? { device: device.name } : {}),
      ...(info.network ? { network: info.network.network } : {}),
    },
    info.leases,
    info.lease,
  );
  if (!a.ok) return { routes: [], error: a.reason };
  return {
    routes: a.desired.entries.flatMap((e) => e.routes.map((r) => routeOut(r, r.dev, names))),
  };
}

/** What skein owns in the kernel now: its routes, and counts of permanent neighbours/FDB entries. */
function ownedSummary(
  k: DebugKernel,
  device: { index: number } | undefined,
  names: Map<number, string>,
  protocol: number,
) {
  const owned = k.handle.routeList({ table: 254 }).filter((r) => isOwnedRoute(r, 254, protocol));
  return {
    routes: owned.map((r) => routeOut(r, r.oif, names)),
    neighs: device
      ? k.handle.neighList({ dev: device.index }).filter((n) => n.state === "permanent").length
      : 0,
    fdbs: device
      ? k.handle.fdbList({ dev: device.index }).filter((f) => f.dst !== undefined).length
      : 0,
  };
}

/** The optional parts: network, uplink, lease, last reconcile, last success. */
function optionalParts(info: DaemonDebugInfo): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (info.network) o.network = info.network.network;
  if (info.uplink) {
    const u = info.uplink;
    o.uplink = { name: u.name, index: u.index, mtu: u.mtu, publicIP: u.publicIP };
  }
  if (info.lease) {
    const l = info.lease;
    o.lease = { subnet: l.subnet, publicIP: l.publicIP, expiration: l.expiration };
  }
  if (info.lastRun) {
    const r = info.lastRun.report;
    o.lastReconcile = {
      at: info.lastRun.at,
      trigger: info.lastRun.trigger,
      ok: r.errors.length === 0,
      errors: r.errors,
      skipped: r.skipped.map((s) => ({ subnet: s.subnet, reason: s.reason })),
      durationMs: Math.round(r.durationMs * 10) / 10,
    };
  }
  if (info.lastSuccessAt) o.lastSuccessAt = info.lastSuccessAt;
  if (info.backendState) o.backendState = info.backendState;
  return o;
}

/** Builds the `/debug/state` object. */
export function buildDebugState(
  info: DaemonDebugInfo,
  k: DebugKernel,
  now = new Date(),
): Record<string, unknown> {
  const c = info.config;
  const names = new Map(k.handle.linkList().map((l) => [l.index, l.name]));
  const device = info.setup?.device;
  const desired = desiredRoutes(info, k, names);
  return {
    schemaVersion: 1,
    node: c.name,
    generatedAt: now.toISOString(),
    backend: {
      type: c.backend.type,
      ...(c.backend.vni !== undefined ? { vni: c.backend.vni } : {}),
      ...(c.backend.port !== undefined ? { port: c.backend.port } : {}),
      ...(device ? { device: device.name } : {}),
      ...(info.setup ? { mtu: info.setup.mtu } : {}),
    },
    reconcileIntervalSeconds: c.reconcileInterval,
    health: info.readiness,
    desired: desired.routes,
    ...(desired.error ? { desiredError: desired.error } : {}),
    snapshot: ownedSummary(
      k,
      device,
      names,
      c.backend.type === "bgp" ? RTPROT_BGP : SKEIN_ROUTE_PROTOCOL,
    ),
    sysctls: sysctls(k, [info.uplink?.name, device?.name]),
    leases: info.leases.map((l) => {
      const mac = l.backendData?.vtepMAC ?? l.backendData?.VtepMAC;
      const out = { subnet: l.subnet, node: l.node, publicIP: l.publicIP };
      return typeof mac === "string" ? { ...out, vtepMAC: mac } : out;
    }),
    ...optionalParts(info),
  };
}
