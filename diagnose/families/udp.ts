/**
 * `udp`: the node's udp backend is whole: the TUN device skein-udp exists and is up with the
 * node's `<subnet>.0/32`; the cluster network is routed into it (skein's route, protocol 100); a
 * UDP socket is bound on the node's public IP and port (8285) in its namespace; and the
 * forwarding worker's drop counters (from the daemon's `/debug/state`) show no refused datagrams,
 * and the senders it refused as unknown-source are named by cause (`udp.senders`).
 *
 * @module
 */
import { udpListeners } from "../../net/tun.ts";
import { SKEIN_ROUTE_PROTOCOL } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { nsExec } from "../path.ts";
import { udpPortHolders } from "./_port_holder.ts";
import { unknownSenderChecks } from "./_udp_senders.ts";

const RESTART = "restart the node's skein daemon (the device lives as long as the daemon runs)";

function deviceCheck(node: NodeView): CheckResult {
  const k = node.kernel;
  const dev = node.facts.device ?? "skein-udp";
  if (!k) return skip("udp.device", node.name, `no kernel access to ${node.name}`);
  const l = k.link(dev);
  if (!l || l.kind !== "tun") {
    return fail("udp.device", node.name, `${node.name} has no TUN device ${dev}`, {
      evidence: { device: dev, found: l ? `a ${l.kind ?? "plain"} link` : "no such link" },
      fix: `${RESTART}; check its log for the setup error (is /dev/net/tun there?)`,
    });
  }
  const want = node.lease ? `${node.lease.subnet.split("/")[0]}/32` : undefined;
  const addrs = k.addrs().filter((a) => a.index === l.index).map((a) => a.cidr);
  const ev = { device: dev, up: l.up, mtu: l.mtu, addresses: addrs };
  if (!l.up) {
    return fail("udp.device", node.name, `${dev} on ${node.name} is down`, {
      evidence: ev,
      fix: `${nsExec(node)}ip link set ${dev} up`,
    });
  }
  if (want && !addrs.includes(want)) {
    return fail("udp.device", node.name, `${dev} lacks this node's address ${want}`, {
      evidence: ev,
      fix: `${nsExec(node)}ip addr add ${want} dev ${dev}  # the daemon's next reconcile also does`,
    });
  }
  return pass("udp.device", node.name, `${dev} is up (MTU ${l.mtu}) with ${addrs.join(", ")}`, {
    evidence: ev,
  });
}

function routeCheck(node: NodeView): CheckResult {
  const k = node.kernel, net = node.facts.network;
  const dev = node.facts.device ?? "skein-udp";
  if (!k) return skip("udp.route", node.name, `no kernel access to ${node.name}`);
  if (!net) return skip("udp.route", node.name, "the cluster network is not known");
  const l = k.link(dev);
  const r = k.routes().find((x) => x.dst === net && x.protocol === SKEIN_ROUTE_PROTOCOL);
  const ev = { network: net, device: dev, route: r ? { oif: r.oif, gateway: r.gateway } : null };
  if (!r || !l || r.oif !== l.index) {
    return fail("udp.route", node.name, `the cluster network ${net} is not routed into ${dev}`, {
      evidence: ev,
      fix: `${nsExec(node)}ip route replace ${net} dev ${dev} proto 100  # or ${RESTART}`,
    });
  }
  return pass("udp.route", node.name, `${net} dev ${dev} proto 100`, { evidence: ev });
}

function socketCheck(node: NodeView): CheckResult {
  const k = node.kernel, ip = node.lease?.publicIP, port = node.facts.port;
  if (!k || !ip) return skip("udp.socket", node.name, "no kernel access or no lease");
  let bound: { address: string; port: number }[];
  try {
    bound = udpListeners(k.netns);
  } catch (e) {
    return skip("udp.socket", node.name, `cannot read the UDP sockets: ${(e as Error).message}`);
  }
  const hit = bound.find((s) => s.port === port && (s.address === ip || s.address === "0.0.0.0"));
  const dbg = node.daemon?.debug?.udp;
  const ev = {
    want: `${ip}:${port}`,
    bound: bound.map((s) => `${s.address}:${s.port}`),
    daemon: dbg,
  };
  const squatter = hit && foreignHolder(node, port);
  if (squatter) {
    return fail(
      "udp.socket",
      node.name,
      `${squatter.owner} holds UDP ${squatter.address}:${port} in ${node.name}, not skein's daemon: the daemon cannot bind it (EADDRINUSE)`,
      {
        evidence: { ...ev, holder: squatter.owner },
        fix: `kill ${squatter.pid}  # stop ${squatter.owner}, or move it off port ${port}; ` +
          `then ${RESTART}`,
      },
    );
  }
  if (!hit) {
    return fail("udp.socket", node.name, `nothing listens on UDP ${ip}:${port} in ${node.name}`, {
      evidence: ev,
      fix: `${RESTART}; another program on port ${port}? ${nsExec(node)}ss -ulpn`,
    });
  }
  return pass("udp.socket", node.name, `UDP ${hit.address}:${port} is bound`, { evidence: ev });
}

/**
 * A process other than the node's daemon holding the udp port (`ss -ulpn 'sport = :PORT'`): not
 * the daemon's pid when it is known (lab), else any owner while the daemon reports no open socket.
 */
function foreignHolder(
  node: NodeView,
  port: number,
): { owner: string; pid: number; address: string } | undefined {
  const daemon = node.facts.daemonPid?.pid;
  const open = node.daemon?.debug?.udp?.socketOpen === true;
  for (const h of udpPortHolders(node.kernel!, port)) {
    const pid = Number(/^pid (\d+)/.exec(h.owner ?? "")?.[1]);
    if (!pid) continue;
    if (daemon !== undefined ? pid !== daemon : !open) {
      return { owner: h.owner!, pid, address: h.address };
    }
  }
  return undefined;
}

/** Reasons that mean someone sent this node datagrams it must not accept. */
const REFUSED = [
  "unknown-source",
  "spoofed-source",
  "wrong-destination",
  "truncated",
  "bad-header",
  "bad-length",
  "bad-checksum",
];

function dropCheck(node: NodeView): CheckResult {
  const u = node.daemon?.debug?.udp;
  if (!u) return skip("udp.drops", node.name, "no udp state from the node's daemon");
  const refused = Object.fromEntries(
    REFUSED.map((r) => [r, u.dropped[r] ?? 0]).filter(([, n]) => n),
  );
  const ev = { dropped: u.dropped, worker: u.worker, peers: u.peers };
  if (!u.worker) {
    return fail("udp.drops", node.name, `${node.name}'s forwarding worker is not running`, {
      evidence: ev,
      fix: RESTART,
    });
  }
  if (Object.keys(refused).length) {
    return warn(
      "udp.drops",
      node.name,
      `${node.name} refused datagrams: ${
        Object.entries(refused).map(([r, n]) => `${r} ${n}`).join(", ")
      }`,
      {
        evidence: ev,
        fix: "a peer with an old lease, or someone sending to port 8285: udp.senders names who " +
          "sent unknown-source datagrams; see skein_udp_dropped_total",
      },
    );
  }
  const noRoute = u.dropped["no-route"] ?? 0;
  if (noRoute) {
    return warn("udp.drops", node.name, `${noRoute} packets were for subnets no node holds`, {
      evidence: ev,
    });
  }
  return pass("udp.drops", node.name, "no datagram refused", { evidence: ev });
}

/** `udp.senders`: who sent the datagrams refused as unknown-source (families/_udp_senders.ts). */
function senderChecks(d: Diagnosis, node: NodeView): CheckResult[] {
  const dbg = node.daemon?.debug;
  if (!dbg?.udp) return [skip("udp.senders", node.name, "no udp state from the node's daemon")];
  if (!dbg.udp.worker) {
    return [skip("udp.senders", node.name, `${node.name}'s forwarding worker is not running`)];
  }
  return unknownSenderChecks({
    node: node.name,
    nodeName: node.nodeName,
    port: node.facts.port,
    ...(dbg.udp.unknownSenders ? { table: dbg.udp.unknownSenders } : {}),
    generatedAt: dbg.generatedAt,
    daemonLeases: dbg.leases,
    ...(d.store.leases ? { storeLeases: d.store.leases } : {}),
    viewOf: (n) => {
      const v = d.nodes.find((x) => x.nodeName === n);
      if (!v) return undefined;
      return { name: v.name, ...(v.facts.configFile ? { configFile: v.facts.configFile } : {}) };
    },
  });
}

function nodeChecks(d: Diagnosis, node: NodeView): CheckResult[] {
  return [
    deviceCheck(node),
    routeCheck(node),
    socketCheck(node),
    dropCheck(node),
    ...senderChecks(d, node),
  ];
}

/** The udp family. */
export const udpFamily: Family = {
  name: "udp",
  appliesTo: ["udp"],
  pair: (d, pair) => pair.nodes.flatMap((n) => nodeChecks(d, n)),
  node: (d, node) => nodeChecks(d, node),
};
