/**
 * `bgp.port`: the rulesets let each BGP session's TCP connection through, both ways, on both
 * ends. The side that dials sends its SYN from an ephemeral port (its ip_local_port_range) to
 * 179 through its output hook and takes the replies from 179 on its input hook; the side that
 * is dialed takes the SYN on its input hook and sends the replies through its output hook. A
 * drop at any of the four breaks the session: the dialer's output or the listener's input leaves
 * it in Connect/Active, a drop of the replies (the dialer's input `tcp sport 179 drop`, the
 * listener's output) lets the connection open or not and the hold timer expire, with no
 * NOTIFICATION to tell why. The replies are judged in the state conntrack gives them there
 * (established; invalid after a notracked SYN: reply_ct.ts).
 *
 * Who dials (backends/bgp): in the node-to-node mesh only the node with the higher address
 * (`meshDials`), the other waits (its daemon's /debug/state says `passive: true`); a configured
 * peer is dialed, and may dial in too; a daemon older than the one-way mesh (no `passive`) dials
 * every peer. Without the daemons' answers the mesh rule decides. One check per node and peer:
 * its first drop, else a warning for a rule it cannot judge, else a pass (`--node`: one pass for
 * all its peers).
 *
 * @module
 */
import { type CheckResult, pass, skip } from "../check.ts";
import type { Family } from "../family.ts";
import type { Diagnosis, NodeView } from "../context.ts";
import type { BgpDebug } from "../debug_state_parse.ts";
import { judge, type Packet } from "../nft_eval.ts";
import { parsePortRange, type PortRange } from "../nft_ports.ts";
import { uplinkOf } from "../path.ts";
import { judgeReply } from "../reply_ct.ts";
import { rulesetOf } from "../ruleset.ts";
import { meshDials } from "../../backends/bgp/fsm.ts";
import { nodeOwner, verdictCheck } from "./_verdict.ts";
import { otherLeases } from "./_node_peers.ts";

/** The BGP port (RFC 4271). */
export const BGP_PORT = 179;

/**
 * The ports a dialer's connection may come from when its ip_local_port_range cannot be read: all
 * the unprivileged ones (Linux's default is 32768-60999).
 */
const ANY_EPHEMERAL: Readonly<PortRange> = { min: 1024, max: 65535 };

type PeerDebug = BgpDebug["peers"][number];

/** `node`'s side of a connection: it dials, or it is dialed. */
export type Role = "dialer" | "listener";

/** A BGP peer of a node as bgp.port judges it: its name, address and the node's roles with it. */
export interface PortPeer {
  name: string;
  ip: string;
  /** Each role with the range of the dialer's ephemeral port. */
  roles: [Role, PortRange][];
}

/** The ephemeral ports of node `n` (its ip_local_port_range), or ANY_EPHEMERAL. */
function ephemeralOf(n: NodeView | undefined): PortRange {
  return parsePortRange(n?.kernel?.sysctl("net.ipv4.ip_local_port_range")) ?? ANY_EPHEMERAL;
}

/**
 * The packets of `node`'s side of one connection with `peer`: the SYN (new) and the replies
 * (established), as its output and input hooks see them; `eph`: the dialer's port range.
 */
export function sidePackets(
  node: NodeView,
  peer: { name: string; ip: string },
  role: Role,
  eph: PortRange,
): { request: [string, Packet]; reply: [string, Packet] } | undefined {
  const me = node.lease?.publicIP;
  if (!me) return undefined;
  const up = uplinkOf(node)?.name;
  const out = (p: Pick<Packet, "sport" | "dport" | "ct">): Packet => ({
    hook: "output",
    saddr: me,
    daddr: peer.ip,
    l4proto: "tcp",
    ...p,
    ...(up ? { oifname: up } : {}),
  });
  const inn = (p: Pick<Packet, "sport" | "dport" | "ct">): Packet => ({
    hook: "input",
    saddr: peer.ip,
    daddr: me,
    l4proto: "tcp",
    ...p,
    ...(up ? { iifname: up } : {}),
  });
  const syn = { sport: eph, dport: BGP_PORT, ct: "new" as const };
  const back = { sport: BGP_PORT, dport: eph, ct: "established" as const };
  const bgp = `BGP (TCP ${BGP_PORT})`;
  return role === "dialer"
    ? {
      request: [`${bgp} to ${peer.name} (${peer.ip})`, out(syn)],
      reply: [`the ${bgp} replies from ${peer.name} (${peer.ip})`, inn(back)],
    }
    : {
      request: [`${bgp} from ${peer.name} (${peer.ip})`, inn(syn)],
      reply: [`its ${bgp} replies to ${peer.name} (${peer.ip})`, out(back)],
    };
}

/** bgp.port of `node` with one peer: every packet of its roles; undefined when none is judged. */
async function sideCheck(
  d: Diagnosis,
  node: NodeView,
  peer: PortPeer,
): Promise<CheckResult | undefined> {
  if (!node.kernel || !peer.roles.length) return undefined;
  const rs = await rulesetOf(d, node);
  if (!rs.ok) return skip("bgp.port", node.name, rs.reason);
  const owner = nodeOwner(node);
  const checks: CheckResult[] = [];
  for (const [role, eph] of peer.roles) {
    const s = sidePackets(node, peer, role, eph);
    if (!s) continue;
    const rv = judge(rs.ruleset, s.request[1]);
    const back = judgeReply(rs.ruleset, s.reply[1], rv);
    checks.push(
      verdictCheck("bgp.port", owner, s.request[0], s.request[1], rv),
      verdictCheck("bgp.port", owner, s.reply[0], back.packet, back.verdict),
    );
  }
  if (!checks.length) return undefined;
  return checks.find((c) => c.status === "fail") ?? checks.find((c) => c.status === "warn") ??
    pass(
      "bgp.port",
      node.name,
      `${node.name}'s ruleset passes its BGP connection with ${peer.name} (${peer.ip}, TCP ${BGP_PORT}) both ways, as ${
        peer.roles.map(([r]) => r === "dialer" ? "the side that dials" : "the side dialed").join(
          " and ",
        )
      }`,
      { evidence: { packets: checks.map((c) => c.evidence.packet) } },
    );
}

/** `n`'s session with the peer at `ip` in its daemon's answer; null: it answered, no such peer. */
function specOf(n: NodeView, ip: string | undefined): PeerDebug | null | undefined {
  const peers = n.daemon?.debug?.bgp?.peers;
  if (!peers) return undefined;
  return peers.find((p) => p.address === ip) ?? null;
}

/** Whether `x` dials `y` (their daemons' answers, else the mesh rule). */
function dials(x: NodeView, y: NodeView): boolean {
  const xi = x.lease!.publicIP, yi = y.lease!.publicIP;
  const xs = specOf(x, yi), ys = specOf(y, xi);
  // x's own word: it waits (passive), or dials (a daemon without `passive` dials every peer).
  if (xs) return xs.passive !== true;
  // y's: it waits for x, or is configured (x may dial it).
  if (ys) return ys.source === "config" || ys.passive !== false;
  return meshDials(xi, yi);
}

/**
 * bgp.port for a pair of nodes: each node's side of their session, both ways where both dial.
 * None where a node's daemon says the two do not peer (route reflectors, ToRs: a firewall may
 * rightly keep other nodes off port 179).
 */
export async function pairPortChecks(
  d: Diagnosis,
  a: NodeView,
  b: NodeView,
): Promise<CheckResult[]> {
  const ai = a.lease?.publicIP, bi = b.lease?.publicIP;
  if (!ai || !bi || specOf(a, bi) === null || specOf(b, ai) === null) return [];
  const ab = dials(a, b), ba = dials(b, a);
  const roles = (self: NodeView, other: NodeView, out: boolean, inn: boolean): PortPeer => ({
    name: other.name,
    ip: other.lease!.publicIP,
    roles: [
      ...(out ? [["dialer", ephemeralOf(self)] as [Role, PortRange]] : []),
      ...(inn ? [["listener", ephemeralOf(other)] as [Role, PortRange]] : []),
    ],
  });
  const out: CheckResult[] = [];
  for (const [self, p] of [[a, roles(a, b, ab, ba)], [b, roles(b, a, ba, ab)]] as const) {
    const c = await sideCheck(d, self, p);
    if (c) out.push(c);
  }
  return out;
}

/** `node`'s roles with a peer its daemon reports: a configured peer is dialed and may dial in. */
function rolesOf(p: PeerDebug): Role[] {
  if (p.source === "config") return p.passive === true ? ["listener"] : ["dialer", "listener"];
  return p.passive === true ? ["listener"] : p.passive === false ? ["dialer"] : [
    "dialer",
    "listener",
  ];
}

/**
 * bgp.port for `--node`: the node's side of each session its daemon reports (else of the mesh
 * with every other node's lease); the peers' ip_local_port_range is not known here.
 */
export async function nodePortChecks(d: Diagnosis, node: NodeView): Promise<CheckResult[]> {
  const me = node.lease?.publicIP;
  if (!me) return [];
  const own = ephemeralOf(node);
  const range = (r: Role): [Role, PortRange] => [r, r === "dialer" ? own : ANY_EPHEMERAL];
  const leases = otherLeases(d, node);
  const peers: PortPeer[] = node.daemon?.debug?.bgp
    ? node.daemon.debug.bgp.peers.map((p) => ({
      name: leases.find((l) => l.publicIP === p.address)?.node ?? p.address,
      ip: p.address,
      roles: rolesOf(p).map(range),
    }))
    : leases.map((l) => ({
      name: l.node,
      ip: l.publicIP,
      roles: [range(meshDials(me, l.publicIP) ? "dialer" : "listener")],
    }));
  const out: CheckResult[] = [];
  let passed = 0;
  for (const p of peers) {
    const c = await sideCheck(d, node, p);
    if (c?.status === "pass") passed++;
    else if (c) out.push(c);
  }
  if (passed && !out.length) {
    out.push(
      pass(
        "bgp.port",
        node.name,
        `${node.name}'s ruleset passes its BGP connections (TCP ${BGP_PORT}) with its ${passed} peer${
          passed === 1 ? "" : "s"
        } both ways`,
        {
          evidence: { peers: peers.map((p) => `${p.ip} (${p.roles.map(([r]) => r).join(", ")})`) },
        },
      ),
    );
  }
  return out;
}

/**
 * The bgp family's bgp.port checks (families/mod.ts runs it after bgp.ts's bgpFamily): a pair's
 * session, `--node`'s every session.
 */
export const bgpPortFamily: Family = {
  name: "bgp",
  appliesTo: ["bgp"],
  pair: async (d, pair) => {
    const [a, b] = pair.nodes;
    return a && b ? await pairPortChecks(d, a, b) : [];
  },
  node: nodePortChecks,
};
