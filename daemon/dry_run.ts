/**
 * `skein daemon --dry-run`: what the daemon would do to this node's dataplane right now, changing
 * nothing. No lease is acquired or renewed (the datastore is only listed), and no device, sysctl,
 * kernel entry or file is created. The uplink is chosen as run() chooses it, the backend computes
 * its desired state for the leases in the datastore against the devices that exist, and plan()
 * (backends/plan.ts) says what reconcile() would change. A tunnel device that does not exist yet
 * is a planned creation; pod routes an older CNI plugin left on protocol 100 are listed as the
 * start-up migration would re-tag them (daemon/migrate.ts).
 *
 * @module
 */
import { formatOp, type Plan, type PlanOp, type PlanSkip } from "../backends/plan.ts";
import { isLegacyCniRoute } from "../backends/snapshot.ts";
import type { Backend, BackendOptions } from "../backends/types.ts";
import { type NetHandle, SKEIN_ROUTE_PROTOCOL } from "../net/types.ts";
import type { Lease, LeaseStore, NetworkConfig } from "../store/types.ts";
import { leaseScopeProblem } from "./_lease_scope.ts";
import { backendOptions } from "./backend_options.ts";
import type { DaemonConfig } from "./config.ts";
import { chooseUplink, type UplinkChoice } from "./uplink.ts";

/** What dryRun() needs (the daemon's own dependencies, minus everything that writes). */
export interface DryRunDeps {
  config: DaemonConfig;
  /** The datastore, only listed; undefined when it holds nothing yet (no lease directory). */
  store?: LeaseStore;
  /** Opens a netlink handle in config.netns (or this process's namespace). */
  openHandle: () => NetHandle;
  createBackend: (opts: BackendOptions) => Backend;
}

/** What the daemon would do. */
export interface DryRunReport {
  node: string;
  backend: string;
  uplink: UplinkChoice;
  /** This node's lease in the datastore; undefined: the daemon would acquire one. */
  lease?: Lease;
  /** Leases listed (other nodes' included). */
  leases: number;
  /** What reconcile() would change. */
  plan: Plan;
  /** Pod routes the start-up migration would re-tag 100 → 101 ("10.244.1.5/32"). */
  migrations: string[];
  /** Link index → name (0: the tunnel device still to be created), for messages. */
  devNames: Map<number, string>;
}

/** The network config run() would store when the datastore has none (undefined: no network set). */
function localNetwork(c: DaemonConfig): NetworkConfig | undefined {
  if (!c.network) return undefined;
  const net: NetworkConfig = {
    network: c.network,
    subnetLen: c.subnetLen,
    backend: { type: c.backend.type },
  };
  if (c.network6) {
    net.network6 = c.network6;
    net.subnetLen6 = c.subnetLen6;
  }
  return net;
}

/** Computes the plan (see the module doc). Throws UplinkError, BackendConfigError, StoreError. */
export async function dryRun(deps: DryRunDeps): Promise<DryRunReport> {
  const c = deps.config;
  const handle = deps.openHandle();
  try {
    const uplink = chooseUplink(handle, c);
    const backend = deps.createBackend(backendOptions(c, uplink, handle));
    const leases = deps.store ? (await deps.store.list()).leases : [];
    const net = (await deps.store?.getNetworkConfig()) ?? localNetwork(c);
    const lease = leases.find((l) => l.node === c.name);
    const self: Lease = lease ?? {
      subnet: "",
      publicIP: uplink.publicIP,
      node: c.name,
      backendType: c.backend.type,
      expiration: "",
    };
    // As run() does: a record outside the cluster network (or with a pod address for its node's)
    // never reaches the backend.
    const outside: PlanSkip[] = [];
    const others = leases.filter((l) => {
      const why = net ? leaseScopeProblem(l, net)?.why : undefined;
      if (why) outside.push({ subnet: l.subnet, node: l.node, code: "refused", reason: why });
      return !why;
    });
    const plan = backend.plan(others, self, net);
    plan.skipped.unshift(...outside);
    const devNames = new Map(handle.linkList().map((l) => [l.index, l.name]));
    const created = plan.ops.find((op) => op.kind === "link");
    if (created) devNames.set(0, `${created.key} (to be created)`);
    const migrations = handle.routeList({ protocol: SKEIN_ROUTE_PROTOCOL })
      .filter(isLegacyCniRoute).map((r) => r.dst);
    return {
      node: c.name,
      backend: c.backend.type,
      uplink,
      lease,
      leases: leases.length,
      plan,
      migrations,
      devNames,
    };
  } finally {
    handle.close();
  }
}

/** The report for a person: what would change, line by line, iproute2-style. */
export function formatDryRun(r: DryRunReport): string {
  const name = (i: number) => r.devNames.get(i) ?? String(i);
  const u = r.uplink;
  const out = [
    `skein daemon --dry-run: node ${r.node}, backend ${r.backend}, uplink ${u.name} (${u.publicIP}, ${u.reason})`,
    r.lease
      ? `lease: ${r.lease.subnet}${
        r.lease.subnet6 ? ` ${r.lease.subnet6}` : ""
      } (in the datastore until ${r.lease.expiration}; a dry run does not renew it)`
      : `lease: none for ${r.node} in the datastore; the daemon would acquire one`,
    `leases in the datastore: ${r.leases}`,
  ];
  for (const m of r.migrations) {
    out.push(`would re-tag pod route ${m} of an older CNI plugin: proto 100 -> 101 (in place)`);
  }
  const p = r.plan;
  out.push(
    `${p.ops.length ? `${p.ops.length} changes` : "no changes"} planned; ` +
      `${p.unchanged} entries already right, ${p.skipped.length} leases skipped`,
  );
  for (const op of p.ops) out.push(`  ${formatOp(op, name)}`);
  if (p.skipped.length) out.push("skipped:");
  for (const s of p.skipped) out.push(`  ${s.subnet}: ${s.reason} (${s.code})`);
  out.push("dry run: nothing was changed");
  return out.join("\n");
}

function opJson(op: PlanOp, name: (i: number) => string) {
  const object = op.kind === "route"
    ? op.route
    : op.kind === "neigh"
    ? op.neigh
    : op.kind === "fdb"
    ? op.fdb
    : op.link;
  return {
    kind: op.kind,
    action: op.action,
    key: op.key,
    reason: op.reason,
    object,
    owner: op.owner ? { subnet: op.owner.subnet, node: op.owner.node } : null,
    text: formatOp(op, name),
  };
}

/** The report as JSON-ready data (`--dry-run --json`). */
export function dryRunJson(r: DryRunReport): Record<string, unknown> {
  const name = (i: number) => r.devNames.get(i) ?? String(i);
  return {
    node: r.node,
    backend: r.backend,
    uplink: { name: r.uplink.name, publicIP: r.uplink.publicIP, reason: r.uplink.reason },
    lease: r.lease ?? null,
    leases: r.leases,
    migrations: r.migrations,
    ops: r.plan.ops.map((op) => opJson(op, name)),
    skipped: r.plan.skipped.map((s) => ({ subnet: s.subnet, code: s.code, reason: s.reason })),
    unchanged: r.plan.unchanged,
  };
}
