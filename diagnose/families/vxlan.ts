/**
 * `vxlan`: the node's VXLAN device exists and is up; its VNI, UDP port and local address match
 * the config and the lease; for the peer node, the FDB entry maps the peer's VtepMAC to its node
 * IP and the neighbour `<subnet>.0 -> VtepMAC` is permanent and matches the peer's lease. With
 * `directRouting`, a peer the node's plan routes directly (on-link: a host-gw route, no FDB entry
 * or neighbour) passes as `vxlan.direct` instead; the route family checks its route.
 *
 * @module
 */
import { vtepMacOf, vtepMacProblem } from "../../backends/vxlan.ts";
import type { Lease } from "../../store/types.ts";
import type { Fdb, Link, VxlanInfo } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import { expectedOf } from "../expected.ts";
import type { Family } from "../family.ts";
import { nsExec } from "../path.ts";
import { udpPortHolders } from "./_port_holder.ts";
import { neighOn, remoteFdbs } from "../kernel_index.ts";

/** How the VXLAN device's settings differ from the node's config and lease, in words. */
function configMismatches(
  v: VxlanInfo | undefined,
  want: { vni?: number; port?: number; local?: string },
): string[] {
  const bad: string[] = [];
  if (v?.vni !== want.vni) bad.push(`VNI ${v?.vni} (config ${want.vni})`);
  if (v?.port !== undefined && v.port !== want.port) {
    bad.push(`port ${v.port} (config ${want.port})`);
  }
  if (want.local && v?.local !== want.local) {
    bad.push(`local ${v?.local ?? "unset"} (lease ${want.local})`);
  }
  if (v?.ttl) {
    bad.push(`TTL ${v.ttl} (skein sets none: 64; a low one dies at the routers between nodes)`);
  }
  return bad;
}

/**
 * The VXLAN device is down; when another socket holds its UDP port, bringing it up fails with
 * EADDRINUSE: name the socket and its process first.
 */
function downCheck(
  node: NodeView,
  dev: string,
  ev: Record<string, unknown>,
  port: number | undefined,
): CheckResult {
  const holders = port && node.kernel ? udpPortHolders(node.kernel, port) : [];
  const up = `${nsExec(node)}ip link set ${dev} up`;
  if (!holders.length) {
    return fail("vxlan.device", node.name, `${dev} on ${node.name} is down`, {
      evidence: ev,
      fix: up,
    });
  }
  const who = holders.map((h) => `${h.address}:${port}${h.owner ? ` by ${h.owner}` : ""}`);
  const pid = holders.find((h) => h.owner)?.owner?.split(" ")[1];
  return fail(
    "vxlan.device",
    node.name,
    `${dev} on ${node.name} is down and cannot come up: another socket holds its UDP port ${port} (${
      who.join(", ")
    }), so the kernel refuses it with EADDRINUSE`,
    {
      evidence: { ...ev, portHeldBy: who },
      fix: `${
        pid ? `kill ${pid}` : `${nsExec(node)}ss -ulpn 'sport = :${port}'  # stop that program`
      } && ${up}`,
    },
  );
}

/** An FDB entry's own port or VNI where it differs from the device's (skein sets neither). */
function fdbOverrides(f: Fdb, v: VxlanInfo | undefined): string[] {
  const out: string[] = [];
  if (f.port && v?.port !== undefined && f.port !== v.port) {
    out.push(`port ${f.port} (the VXLAN port is ${v.port})`);
  }
  if (f.vni !== undefined && v?.vni !== undefined && f.vni !== v.vni) {
    out.push(`VNI ${f.vni} (the device's is ${v.vni})`);
  }
  return out;
}

function deviceChecks(node: NodeView): CheckResult[] {
  const k = node.kernel;
  const dev = node.facts.device ?? "skein.1";
  if (!k) return [skip("vxlan.device", node.name, `no kernel access to ${node.name}`)];
  const l = k.link(dev);
  if (!l || l.kind !== "vxlan") {
    return [fail("vxlan.device", node.name, `${node.name} has no VXLAN device ${dev}`, {
      evidence: { device: dev, found: l ? `a ${l.kind ?? "plain"} link` : "no such link" },
      fix: `restart the node's skein daemon (it creates ${dev}); check its log for the setup error`,
    })];
  }
  const out: CheckResult[] = [];
  const ev = {
    device: dev,
    up: l.up,
    operState: l.operState,
    vni: l.vxlan?.vni,
    port: l.vxlan?.port,
    local: l.vxlan?.local,
    ...(l.vxlan?.ttl ? { ttl: l.vxlan.ttl } : {}),
    mac: l.mac,
  };
  out.push(
    l.up
      ? pass(
        "vxlan.device",
        node.name,
        `${dev} is up (VNI ${l.vxlan?.vni}, port ${l.vxlan?.port})`,
        { evidence: ev },
      )
      : downCheck(node, dev, ev, l.vxlan?.port ?? node.facts.port),
  );
  const want = { vni: node.facts.vni, port: node.facts.port, local: node.lease?.publicIP };
  const bad = configMismatches(l.vxlan, want);
  out.push(
    bad.length
      ? fail(
        "vxlan.config",
        node.name,
        `${dev} on ${node.name} does not match the config: ${bad.join(", ")}`,
        {
          evidence: { ...ev, expected: want },
          fix: `${
            nsExec(node)
          }ip link del ${dev}  # the daemon recreates it from its config on its next setup`,
        },
      )
      : pass(
        "vxlan.config",
        node.name,
        `${dev} matches the config (VNI ${want.vni}, port ${want.port}, local ${want.local})`,
        { evidence: ev },
      ),
  );
  const published = node.lease ? vtepMacOf(node.lease) : undefined;
  if (published !== undefined && l.mac?.toLowerCase() !== published) {
    out.push(
      fail(
        "vxlan.vtep_mac",
        node.name,
        `${dev}'s MAC ${l.mac} is not the VtepMAC ${published} ${node.name} published`,
        {
          evidence: { device: dev, mac: l.mac, lease: published },
          fix: "restart the node's skein daemon: it republishes its VTEP MAC",
        },
      ),
    );
  }
  return out;
}

/** With directRouting: the direct route `node`'s plan has for `lease` (no FDB entry), if any. */
function directRouteTo(d: Diagnosis, node: NodeView, lease: Lease | undefined): string | undefined {
  if (!node.facts.directRouting || !lease) return undefined;
  const e = expectedOf(d, node);
  if (!e.ok) return undefined;
  const entry = e.desired.entries.find((x) => x.subnet === lease.subnet);
  const r = entry && entry.fdbs.length === 0 ? entry.routes[0] : undefined;
  return r ? `${r.dst} via ${r.gateway} dev ${e.names.get(r.dev) ?? r.dev}` : undefined;
}

/**
 * The daemon leaves `peer`'s lease unprogrammed while a route it does not own takes the subnet
 * (the plan's "shadowed"): no FDB entry or neighbour is expected until that route goes, which
 * route.foreign names with its fix. A skip, so the cause is not buried under its consequences.
 */
function shadowedBy(d: Diagnosis, node: NodeView, peer: NodeView): CheckResult | undefined {
  const subnet = peer.lease?.subnet;
  const e = subnet && node.kernel ? expectedOf(d, node) : undefined;
  const s = e?.ok
    ? e.plan.skipped.find((x) => x.subnet === subnet && x.code === "shadowed")
    : undefined;
  if (!s) return undefined;
  return skip(
    "vxlan.fdb",
    node.name,
    `${node.name}'s daemon leaves ${peer.name}'s ${subnet} unprogrammed (no FDB entry, no ` +
      `neighbour) while a route it does not own takes it: see route.foreign`,
  );
}

/**
 * Checks on `node` that it can reach `peer`'s pods: a direct route (directRouting, on-link peer),
 * else the FDB entry and the neighbour.
 */
function peerChecks(d: Diagnosis, node: NodeView, peer: NodeView): CheckResult[] {
  const shadow = shadowedBy(d, node, peer);
  if (shadow) return [shadow];
  const direct = directRouteTo(d, node, peer.lease);
  if (!direct || !node.kernel?.link(node.facts.device ?? "skein.1")) {
    return tunnelChecks(node, peer);
  }
  return [
    pass(
      "vxlan.direct",
      node.name,
      `${peer.name} is on-link: directRouting routes it without VXLAN (${direct})`,
      { evidence: { route: direct, peerNodeIP: peer.lease?.publicIP } },
    ),
  ];
}

/** The FDB entry `node` needs for `peer`'s VtepMAC: to the peer's node IP, no port or VNI of its own. */
function fdbCheck(node: NodeView, peer: NodeView, l: Link, mac: string, lease: Lease): CheckResult {
  const dev = l.name;
  const k = node.kernel!;
  const fdb = remoteFdbs(k.fdbs(), l.index, mac);
  const fdbEv = {
    device: dev,
    vtepMAC: mac,
    peerNodeIP: lease.publicIP,
    kernel: fdb.map((f) =>
      `${f.mac} dst ${f.dst}${f.port ? ` port ${f.port}` : ""}${
        f.vni !== undefined ? ` vni ${f.vni}` : ""
      } ${f.state}`
    ),
  };
  const odd = fdb.length === 1 ? fdbOverrides(fdb[0]!, l.vxlan) : [];
  if (odd.length) {
    return fail(
      "vxlan.fdb",
      node.name,
      `FDB on ${node.name} sends ${peer.name}'s VtepMAC ${mac} to ${lease.publicIP} with ${
        odd.join(" and ")
      }: ${peer.name}'s VXLAN device never sees them`,
      {
        evidence: fdbEv,
        fix: `${
          nsExec(node)
        }bridge fdb replace ${mac} dev ${dev} dst ${lease.publicIP} self permanent  # without the override; or restart the node's skein daemon`,
      },
    );
  }
  if (fdb.length === 1 && fdb[0]!.dst === lease.publicIP) {
    return pass(
      "vxlan.fdb",
      node.name,
      `FDB maps ${peer.name}'s VtepMAC ${mac} to ${lease.publicIP}`,
      {
        evidence: fdbEv,
      },
    );
  }
  return fail(
    "vxlan.fdb",
    node.name,
    fdb.length
      ? `FDB on ${node.name} sends ${peer.name}'s VtepMAC ${mac} to ${
        fdb.map((f) => f.dst).join(", ")
      }, not ${lease.publicIP}`
      : `FDB on ${node.name} has no entry for ${peer.name}'s VtepMAC ${mac}`,
    {
      evidence: fdbEv,
      fix: `${
        nsExec(node)
      }bridge fdb replace ${mac} dev ${dev} dst ${lease.publicIP} self permanent  # or restart the node's skein daemon`,
    },
  );
}

/** The FDB entry and the neighbour `node` needs for `peer`'s pods. */
function tunnelChecks(node: NodeView, peer: NodeView): CheckResult[] {
  const k = node.kernel;
  const dev = node.facts.device ?? "skein.1";
  const l = k?.link(dev);
  if (!k || !l) return [];
  const lease = peer.lease;
  const mac = lease ? vtepMacOf(lease) : undefined;
  if (!lease || !mac) {
    return [
      skip(
        "vxlan.fdb",
        node.name,
        `${peer.name}'s lease has no usable VtepMAC (${
          lease ? `it ${vtepMacProblem(lease)}` : "no lease"
        })`,
      ),
    ];
  }
  const out: CheckResult[] = [fdbCheck(node, peer, l, mac, lease)];
  const vtep = lease.subnet.split("/")[0]!;
  const n = neighOn(k.neighs(), vtep, l.index);
  const nEv = {
    device: dev,
    ip: vtep,
    expectedMAC: mac,
    kernel: n ? `${n.ip} lladdr ${n.mac} ${n.state}` : "no entry",
  };
  if (n && n.state === "permanent" && n.mac?.toLowerCase() === mac) {
    out.push(
      pass("vxlan.neigh", node.name, `neighbour ${vtep} -> ${mac} is permanent`, { evidence: nEv }),
    );
  } else {
    out.push(
      fail(
        "vxlan.neigh",
        node.name,
        n
          ? `neighbour ${vtep} on ${node.name} is ${n.state} ${n.mac ?? ""}, not permanent ${mac}`
          : `${node.name} has no neighbour entry for ${peer.name}'s VTEP ${vtep}`,
        {
          evidence: nEv,
          fix: `${
            nsExec(node)
          }ip neigh replace ${vtep} lladdr ${mac} dev ${dev} nud permanent  # or restart the node's skein daemon`,
        },
      ),
    );
  }
  return out;
}

/**
 * `--node`'s per-peer checks with the passes of each check folded into one: "… (and 4999 other
 * peers alike)", the count in `evidence.peers`. Failures, warnings and skips stay one per peer,
 * in order; a folded pass stands where its first was. 5,000 peers print 2 lines, not 10,000.
 */
export function foldPeerPasses(checks: readonly CheckResult[]): CheckResult[] {
  const count = new Map<string, number>();
  for (const c of checks) if (c.status === "pass") count.set(c.id, (count.get(c.id) ?? 0) + 1);
  const out: CheckResult[] = [];
  const shown = new Set<string>();
  for (const c of checks) {
    const n = c.status === "pass" ? count.get(c.id)! : 1;
    if (n === 1) out.push(c);
    else if (!shown.has(c.id)) {
      shown.add(c.id);
      const others = `and ${n - 1} other peer${n === 2 ? "" : "s"} alike`;
      out.push({
        ...c,
        summary: `${c.summary} (${others})`,
        evidence: { ...c.evidence, peers: n },
      });
    }
  }
  return out;
}

/** The vxlan family. */
export const vxlanFamily: Family = {
  name: "vxlan",
  appliesTo: ["vxlan"],
  pair(d, pair: Pair) {
    const out: CheckResult[] = [];
    for (const n of pair.nodes) out.push(...deviceChecks(n));
    const [a, b] = pair.nodes;
    if (a && b) out.push(...peerChecks(d, a, b), ...peerChecks(d, b, a));
    return out;
  },
  node(d, node) {
    const peers: CheckResult[] = [];
    for (const l of d.store.leases ?? []) {
      if (l.subnet === node.lease?.subnet) continue;
      const peer: NodeView = { name: l.node, nodeName: l.node, facts: node.facts, lease: l };
      peers.push(...peerChecks(d, node, peer));
    }
    return [...deviceChecks(node), ...foldPeerPasses(peers)];
  },
};
