/**
 * What the reconciler would do on a node now, read-only: the backend's desired state for the
 * current leases (backends/desired.ts), the kernel snapshot of what skein owns (snapshot()) and
 * the reconciler's own plan() between them. Nothing is applied.
 *
 * @module
 */
import { desiredFor } from "../backends/desired.ts";
import { type Plan, plan } from "../backends/plan.ts";
import { snapshot } from "../backends/snapshot.ts";
import type { DesiredState } from "../backends/types.ts";
import { leaseOutsideNetwork } from "../store/lease_scope.ts";
import type { Lease, NetworkConfig } from "../store/types.ts";
import type { Diagnosis, NodeView } from "./context.ts";
import { uplinkOf } from "./path.ts";
import { flatOf, type FlatRoute } from "./route_diff.ts";

/** The node's desired state and plan, or why they cannot be computed. */
export type Expected =
  | { ok: true; desired: DesiredState; plan: Plan; routes: FlatRoute[]; names: Map<number, string> }
  | { ok: false; reason: string };

/** The plan of a node with kernel access (memoised per diagnosis). */
export function expectedOf(d: Diagnosis, node: NodeView): Expected {
  const key = `expected|${node.name}`;
  const memo = d.memo.get(key) as Expected | undefined;
  if (memo) return memo;
  const e = compute(d, node);
  d.memo.set(key, e);
  return e;
}

/** The backend settings the desired state depends on, from the node's facts. */
function settingsOf(node: NodeView): Record<string, unknown> {
  const f = node.facts;
  if (f.backend === "bgp") {
    return { encapsulation: f.tunnel ?? "none", crossSubnet: f.directRouting === true };
  }
  return f.directRouting ? { directRouting: true } : {};
}

/**
 * The leases the node's daemon programs: like it, none outside the cluster network or of another
 * size than a node's block (this node's own lease's), so a stray record is not "missing".
 */
function programmable(node: NodeView, leases: readonly Lease[]): Lease[] {
  const network = node.facts.network, len = Number(node.lease?.subnet.split("/")[1]);
  if (!network || !Number.isInteger(len)) return [...leases];
  const net: NetworkConfig = { network, subnetLen: len, backend: { type: node.facts.backend } };
  return leases.filter((l) => {
    const { subnet6: _v6, ...v4 } = l; // diagnose follows IPv4 flows
    return !leaseOutsideNetwork(v4, net);
  });
}

function compute(d: Diagnosis, node: NodeView): Expected {
  const k = node.kernel;
  if (!k) return { ok: false, reason: `no kernel access to ${node.name}` };
  const leases = d.store.leases;
  if (!leases) return { ok: false, reason: `the datastore was not read (${d.store.error ?? "?"})` };
  const self = node.lease;
  if (!self) return { ok: false, reason: `${node.name} holds no lease in the datastore` };
  const up = uplinkOf(node);
  if (!up) {
    return { ok: false, reason: `${node.name} has no link with its public IP ${self.publicIP}` };
  }
  const inputs = {
    type: node.facts.backend,
    handle: k.handle,
    uplink: { name: up.name, index: up.index, mtu: up.mtu },
    publicIP: self.publicIP,
    ...(node.facts.device ? { device: node.facts.device } : {}),
    settings: settingsOf(node),
    ...(node.facts.network ? { network: node.facts.network } : {}),
  };
  const a = desiredFor(inputs, programmable(node, leases), self);
  if (!a.ok) return a;
  const snap = snapshot(k.handle, {
    devices: a.desired.ownedDevices,
    protocol: a.desired.protocol,
  });
  const p = plan(a.desired, snap, { listUnchanged: true });
  const names = new Map(k.links().map((l) => [l.index, l.name]));
  const routes = a.desired.entries.flatMap((e) => e.routes.map((r) => flatOf(r, names)));
  return { ok: true, desired: a.desired, plan: p, routes, names };
}
