/**
 * `udp.senders`: who sent the datagrams a node's udp worker refused as `unknown-source` (its
 * `/debug/state` keeps the last few senders, backends/udp/unknown_senders.ts), named by cause:
 * a node whose packets come from another address than its lease's publicIP (its inner source lies
 * in that node's subnet), this node's daemon holding an old lease of that node, or a host that is
 * no node at all.
 */
import { contains, formatIp, type Ip, tryParseCidr } from "../../net/cidr.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { UdpUnknownSender, UdpUnknownSenders } from "../debug_state_parse.ts";

/**
 * Senders seen this long before the state was taken are old news (passed, kept as evidence), as
 * are nodes whose lease the daemon now forwards with (their datagrams came before the lease).
 */
export const RECENT_MS = 10 * 60_000;

/** A lease as the check needs it. */
export interface SenderLease {
  subnet: string;
  node: string;
  publicIP: string;
}

/** What the check looks at. */
export interface SendersInput {
  /** The receiving node as the report names it. */
  node: string;
  /** Its node name in the leases. */
  nodeName: string;
  /** The node's UDP port. */
  port: number;
  /** `/debug/state`'s table (undefined: a daemon that does not report one). */
  table?: UdpUnknownSenders;
  /** When the state was taken (ISO 8601), the clock the senders' times are on. */
  generatedAt: string;
  /** The leases the receiving daemon forwards with (its `/debug/state`). */
  daemonLeases: readonly SenderLease[];
  /** The datastore's leases, when diagnose could read them. */
  storeLeases?: readonly SenderLease[];
  /** A lease's node as the report names it, with its daemon's config file, when diagnosed too. */
  viewOf?: (node: string) => { name: string; configFile?: string } | undefined;
}

const ID = "udp.senders";

function leaseHolding(leases: readonly SenderLease[], ip: Ip): SenderLease | undefined {
  return leases.find((l) => {
    const c = tryParseCidr(l.subnet);
    return c !== undefined && contains(c, ip);
  });
}

function senderEvidence(s: UdpUnknownSender, at: number): Record<string, unknown> {
  return {
    source: `${formatIp(s.source)}:${s.port}`,
    inner: s.inner ? `${formatIp(s.inner.source)} -> ${formatIp(s.inner.destination)}` : null,
    count: s.count,
    lastSeen: s.lastSeen.toISOString(),
    secondsAgo: Math.round((at - s.lastSeen.getTime()) / 1000),
  };
}

/** The check for a sender whose inner source lies in `lease`'s subnet (another node's). */
function nodeSender(
  i: SendersInput,
  s: UdpUnknownSender,
  lease: SenderLease,
  at: number,
): CheckResult {
  const from = formatIp(s.source), view = i.viewOf?.(lease.node), x = view?.name ?? lease.node;
  const held = i.daemonLeases.find((l) => l.node === lease.node);
  const ev = {
    ...senderEvidence(s, at),
    node: lease.node,
    subnet: lease.subnet,
    leasePublicIP: lease.publicIP,
    daemonLeasePublicIP: held?.publicIP ?? null,
  };
  if (lease.publicIP === from) {
    return fail(
      ID,
      i.node,
      `${i.node}'s daemon has not taken node ${x}'s new lease: the datastore says publicIP ` +
        `${from}, where its udp packets come from, but the daemon forwards with ` +
        `${held ? `publicIP ${held.publicIP}` : "no lease of it"}`,
      {
        evidence: ev,
        fix:
          `restart ${i.node}'s skein daemon (its lease watch missed the change; its log says why)`,
      },
    );
  }
  const conf = view?.configFile ?? "its config";
  const rekey = `run its daemon with --public-ip ${from} (or 'publicIP: ${from}', or the iface ` +
    `that holds ${from}, in ${conf}) and restart it, so its lease says ${from}`;
  // The daemon sends from its own port: another port means the source was rewritten on the way.
  const nat = s.port !== i.port;
  return fail(
    ID,
    i.node,
    `node ${x}'s lease says publicIP ${lease.publicIP} but its udp packets come from ` +
      `${from}:${s.port}${nat ? ` (not port ${i.port}: a NAT on the way?)` : ""}: ${i.node} ` +
      `drops them (unknown-source, ${s.count} seen)`,
    {
      evidence: ev,
      fix: nat
        ? `exempt UDP ${i.port} from the NAT that rewrites ${x}'s source to ${from} (udp needs ` +
          `the lease's publicIP as the source); if ${from} is now ${x}'s address, on ${x}: ${rekey}`
        : `on ${x}: ${rekey}; if a NAT rewrites ${x}'s source to ${from}, exempt UDP ${i.port} ` +
          `from it`,
    },
  );
}

/** One warning for the senders that are no node (inner source in no node's subnet). */
function hostSenders(
  i: SendersInput,
  hosts: UdpUnknownSender[],
  replaced: number,
  at: number,
): CheckResult {
  const named = hosts.slice(0, 4).map((s) => `${formatIp(s.source)}:${s.port}`).join(", ");
  const more = hosts.length > 4 ? ` and ${hosts.length - 4} more` : "";
  const flood = replaced ? ` (${replaced} more senders were replaced in the table: a flood?)` : "";
  return warn(
    ID,
    i.node,
    `an unknown host sends to UDP ${i.port} on ${i.node}: ${named}${more} is no node ` +
      `(no lease has its address, no node's subnet holds its inner source)${flood}`,
    {
      evidence: { senders: hosts.map((s) => senderEvidence(s, at)), replaced },
      fix: `find and stop what sends from ${formatIp(hosts[0]!.source)} to UDP ${i.port}; ` +
        `if it is a node, its lease is missing: check that node's daemon`,
    },
  );
}

/**
 * `udp.senders` of one node: one failure per node sending from an address its lease does not
 * say, one warning for the other hosts, a pass when no sender came in the last RECENT_MS.
 */
export function unknownSenderChecks(i: SendersInput): CheckResult[] {
  if (!i.table) {
    return [skip(ID, i.node, "the node's daemon does not report unknown senders (older skein)")];
  }
  const at = Date.parse(i.generatedAt);
  const leases = i.storeLeases ?? i.daemonLeases;
  const out: CheckResult[] = [], hosts: UdpUnknownSender[] = [], past: UdpUnknownSender[] = [];
  const named = new Set<string>();
  for (const s of i.table.senders) {
    const lease = s.inner && leaseHolding(leases, s.inner.source);
    const from = formatIp(s.source);
    // Old news, or a node whose lease this daemon now forwards with (it came before the lease).
    const now = i.daemonLeases.some((l) => l.node === lease?.node && l.publicIP === from);
    if (at - s.lastSeen.getTime() > RECENT_MS || (lease && lease.publicIP === from && now)) {
      past.push(s);
    } else if (!lease || lease.node === i.nodeName) {
      hosts.push(s);
    } else if (!named.has(`${lease.node} ${from}`)) { // one finding per node and address
      named.add(`${lease.node} ${from}`);
      out.push(nodeSender(i, s, lease, at));
    }
  }
  if (hosts.length) out.push(hostSenders(i, hosts, i.table.replaced, at));
  if (out.length) return out;
  return [
    pass(ID, i.node, "no unknown sender to name in the last 10 minutes", {
      evidence: { past: past.map((s) => senderEvidence(s, at)) },
    }),
  ];
}
