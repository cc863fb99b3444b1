/**
 * `bgp`: the node's BGP speaker (from the daemon's `/debug/state`) and the kernel agree:
 *
 * - `bgp.sessions`: every peer is Established; otherwise its state, why the last session ended
 *   and the last NOTIFICATION sent or received (e.g. "OPEN Message Error / Bad Peer AS (2/2)"),
 *   with why this side sent it when it says so;
 * - `bgp.updates`: a peer whose UPDATEs had errors handled without a reset (updateErrors) warns:
 *   routes from it were withdrawn or ignored while the session stayed Established;
 * - `bgp.prefixes`: what each peer gives and is given (an Established peer giving nothing is a
 *   warning: an import rule, or the peer exports nothing; an eBGP peer without an import or
 *   export rule is a warning naming the field: RFC 8212 gives it nothing);
 * - `bgp.kernel`: every best route of the RIB is in the kernel as `proto bgp` (186);
 * - `bgp.route` (pair): the source node learned the destination node's subnet over BGP;
 * - `bgp.port`: each node's ruleset lets its BGP sessions' TCP connections through both ways:
 *   the dialer's SYN out and the replies in, the listener's SYN in and the replies out
 *   (`_bgp_port.ts`'s bgpPortFamily: a firewall dropping any leaves the session down with no NOTIFICATION to tell
 *   why). In the mesh only the higher address dials (`meshDials`); a configured peer may dial
 *   either way. For a pair, the two nodes' session; for `--node`, the node's every session.
 *
 * @module
 */
import { RTPROT_BGP } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { NodeView, Pair } from "../context.ts";
import type { BgpDebug } from "../debug_state_parse.ts";
import type { Family } from "../family.ts";
import { nsExec } from "../path.ts";
import { refineMeshAs } from "./_bgp_mesh_as.ts";

const NOTIFY_FIX: Readonly<Record<string, string>> = {
  "2/2":
    "the peer's AS differs from the one configured: check backend.asNumber / backend.peers[].asNumber on both sides",
  "2/6": "the peer proposes hold time 1 or 2 s: configure 0 or at least 3",
  "2/3": "two speakers use the same BGP identifier (router id): give each node its own public IP",
  "4/0":
    "no KEEPALIVE within the hold time: is the path to the peer's TCP port 179 lossy or filtered?",
  "6/2": "the peer shut the session down administratively",
};

type PeerDebug = BgpDebug["peers"][number];

/** A peer's last NOTIFICATION: its name, and why it was sent when this side says so. */
function notificationText(p: PeerDebug): string {
  const n = p.lastNotification!;
  return n.reason && !n.reason.startsWith(n.name) ? `${n.name}: ${n.reason}` : n.name;
}

/**
 * `bgp.updates`: peers whose UPDATEs had errors the speaker handled without a reset (RFC 7606
 * treat-as-withdraw or attribute discard, RFC 4271 §6.3 invalid NEXT_HOP): the session stays
 * Established while routes from that peer are withdrawn or ignored. Absent for daemons that do
 * not count them.
 */
function updatesCheck(node: NodeView): CheckResult | undefined {
  const b = node.daemon?.debug?.bgp;
  const counted = b?.peers.filter((p) => p.updateErrors !== undefined) ?? [];
  if (!counted.length) return undefined;
  const bad = counted.filter((p) => p.updateErrors! > 0);
  const evidence = Object.fromEntries(counted.map((p) => [p.address, p.updateErrors!]));
  if (!bad.length) {
    return pass("bgp.updates", node.name, `no UPDATE errors from ${counted.length} peers`, {
      evidence: { updateErrors: evidence },
    });
  }
  const first = bad[0]!;
  const log = node.facts.logFile ?? "the daemon's log";
  return warn(
    "bgp.updates",
    node.name,
    `${first.address} sent ${first.updateErrors} UPDATE${
      first.updateErrors === 1 ? "" : "s"
    } with errors handled without a reset${
      bad.length > 1 ? ` (and ${bad.length - 1} more peers)` : ""
    }: routes from that peer were withdrawn (treat-as-withdraw) or ignored (invalid NEXT_HOP), or an attribute discarded`,
    {
      evidence: { updateErrors: evidence },
      fix: `see the lines starting 'bgp: ${first.address}: UPDATE error' in ${log}` +
        ` (which attribute or next hop); fix what the peer announces`,
    },
  );
}

/**
 * bgp.sessions. With `pathPeers` (a pair's diagnosis: the other node's addresses), a mesh
 * session down to a node off the pair's path is a warning: it does not carry this flow's routes
 * (a session to a configured peer, a route reflector or the ToR, may carry them: it still fails).
 */
function sessionsCheck(node: NodeView, pathPeers?: ReadonlySet<string>): CheckResult {
  const b = node.daemon?.debug?.bgp;
  if (!b) return skip("bgp.sessions", node.name, "no bgp state from the node's daemon");
  const down = b.peers.filter((p) => p.state !== "Established");
  const ev = {
    asNumber: b.asNumber,
    routerId: b.routerId,
    converged: b.converged,
    peers: b.peers.map((p) => ({
      peer: p.address,
      as: p.asNumber,
      source: p.source,
      state: p.state,
      ...(p.lastNotification
        ? { lastNotification: `${p.lastNotification.direction}: ${notificationText(p)}` }
        : {}),
      ...(p.updateErrors ? { updateErrors: p.updateErrors } : {}),
      ...(p.lastDown ? { lastDown: p.lastDown } : {}),
    })),
  };
  if (b.peers.length === 0) {
    return warn(
      "bgp.sessions",
      node.name,
      `${node.name} has no BGP peer (mesh off and no backend.peers?)`,
      { evidence: ev },
    );
  }
  if (down.length) {
    const onPath = pathPeers
      ? down.filter((p) => p.source !== "mesh" || pathPeers.has(p.address))
      : down;
    const first = onPath[0] ?? down[0]!;
    const n = first.lastNotification;
    const key = n ? `${n.code}/${n.subcode}` : "";
    return (onPath.length ? fail : warn)(
      "bgp.sessions",
      node.name,
      `${down.length} of ${b.peers.length} BGP sessions are not Established (${first.address}: ${first.state}` +
        `${
          n
            ? `, last NOTIFICATION ${n.direction} ${notificationText(first)}`
            : first.lastDown
            ? `, ${first.lastDown}`
            : ""
        })${onPath.length ? "" : ": none to a node on this flow's path"}`,
      {
        evidence: ev,
        fix: NOTIFY_FIX[key] ??
          `${
            first.passive
              ? `${node.name} waits for ${first.address} to connect (in the mesh the higher address dials): is its daemon running, and does it reach TCP 179 here?`
              : "is the peer up and listening on TCP 179?"
          } ${nsExec(node)}ss -tn '( sport = :179 or dport = :179 )'`,
      },
    );
  }
  return pass("bgp.sessions", node.name, `${b.peers.length} BGP sessions Established`, {
    evidence: ev,
  });
}

function prefixesCheck(node: NodeView): CheckResult {
  const b = node.daemon?.debug?.bgp;
  if (!b) return skip("bgp.prefixes", node.name, "no bgp state from the node's daemon");
  const ev = Object.fromEntries(
    b.peers.map((
      p,
    ) => [p.address, { received: p.prefixesReceived, advertised: p.prefixesAdvertised }]),
  );
  const ruleless = b.peers.filter((p) => p.policyNote);
  if (ruleless.length) {
    return warn(
      "bgp.prefixes",
      node.name,
      `${ruleless[0]!.address}: ${ruleless[0]!.policyNote}`,
      {
        evidence: ev,
        fix:
          "give every eBGP peer explicit rules, e.g. {address: ..., asNumber: ..., import: all, export: all}",
      },
    );
  }
  const silent = b.peers.filter((p) => p.state === "Established" && p.prefixesReceived === 0);
  if (silent.length) {
    return warn(
      "bgp.prefixes",
      node.name,
      `${silent.map((p) => p.address).join(", ")} give ${node.name} no prefix`,
      {
        evidence: ev,
        fix:
          "the peer exports nothing to this node, or its prefixes fall inside this node's own subnet",
      },
    );
  }
  return pass(
    "bgp.prefixes",
    node.name,
    `${b.routes.length} best routes from ${b.peers.length} peers`,
    { evidence: ev },
  );
}

function kernelCheck(node: NodeView): CheckResult {
  const b = node.daemon?.debug?.bgp, k = node.kernel;
  if (!b || !k) return skip("bgp.kernel", node.name, "no bgp state or no kernel access");
  const kernel = new Map(
    k.routes().filter((r) => r.protocol === RTPROT_BGP).map((r) => [r.dst, r]),
  );
  const skipped = new Set(node.daemon?.debug?.lastReconcile?.skipped.map((s) => s.subnet) ?? []);
  const missing = b.routes.filter((r) => !kernel.has(r.prefix) && !skipped.has(r.prefix));
  const ev = {
    rib: b.routes.length,
    kernelProtoBgp: kernel.size,
    missing: missing.map((r) => `${r.prefix} via ${r.nextHop}`),
    skippedByReconcile: [...skipped],
  };
  if (missing.length) {
    return fail(
      "bgp.kernel",
      node.name,
      `${missing.length} BGP routes are not in ${node.name}'s kernel (first: ${
        missing[0]!.prefix
      })`,
      {
        evidence: ev,
        fix: `see the daemon's last reconcile errors; ${nsExec(node)}ip route show proto bgp`,
      },
    );
  }
  return pass(
    "bgp.kernel",
    node.name,
    `the kernel holds the RIB's ${b.routes.length} routes as proto bgp`,
    { evidence: ev },
  );
}

function learnedCheck(pair: Pair): CheckResult | undefined {
  const from = pair.from.node, to = pair.to.node;
  if (!from || !to || from === to || !to.lease) return undefined;
  const b = from.daemon?.debug?.bgp;
  if (!b) return skip("bgp.route", from.name, "no bgp state from the source node's daemon");
  const want = to.lease.subnet;
  const r = b.routes.find((x) => x.prefix === want);
  const session = b.peers.find((p) => p.address === to.lease!.publicIP);
  const ev = {
    subnet: want,
    route: r ?? null,
    sessionToDestination: session?.state ?? "no such peer",
  };
  if (!r) {
    return fail(
      "bgp.route",
      from.name,
      `${from.name} has not learned ${to.name}'s subnet ${want} over BGP`,
      {
        evidence: ev,
        fix: session
          ? `the session to ${session.address} is ${session.state}`
          : `no session with ${to.name}: nodeToNodeMesh off and no route reflector?`,
      },
    );
  }
  return pass(
    "bgp.route",
    from.name,
    `${want} via ${r.nextHop} (from ${r.peer}${r.stale ? ", stale: peer restarting" : ""})`,
    { evidence: ev },
  );
}

function nodeChecks(node: NodeView, pathPeers?: ReadonlySet<string>): CheckResult[] {
  const u = updatesCheck(node);
  return [
    sessionsCheck(node, pathPeers),
    ...(u ? [u] : []),
    prefixesCheck(node),
    kernelCheck(node),
  ];
}

/** The bgp family. */
export const bgpFamily: Family = {
  name: "bgp",
  appliesTo: ["bgp"],
  pair: (d, pair) => {
    // A node's sessions that matter for the flow: those to the pair's other node.
    const others = (n: NodeView) =>
      new Set(pair.nodes.filter((x) => x !== n).flatMap((x) => x.lease ? [x.lease.publicIP] : []));
    const out = refineMeshAs(d, pair.nodes.flatMap((n) => nodeChecks(n, others(n))));
    const l = learnedCheck(pair);
    return l ? [l, ...out] : out;
  },
  node: (d, node) => refineMeshAs(d, nodeChecks(node)),
};
