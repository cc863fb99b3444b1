/**
 * `ipip`: the node's ipip device exists, is up, and its local address is the node's public IP
 * (the kernel on this machine has no ipip module: the check then fails with that evidence).
 *
 * @module
 */
import { type CheckResult, fail, pass, skip } from "../check.ts";
import type { NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { nsExec } from "../path.ts";

function deviceCheck(node: NodeView): CheckResult {
  const dev = node.facts.device ?? "skein-ipip";
  const k = node.kernel;
  if (!k) return skip("ipip.device", node.name, `no kernel access to ${node.name}`);
  const l = k.link(dev);
  if (!l || l.kind !== "ipip") {
    return fail("ipip.device", node.name, `${node.name} has no ipip device ${dev}`, {
      evidence: { device: dev, found: l ? `a ${l.kind ?? "plain"} link` : "no such link" },
      fix: `modprobe ipip; restart the node's skein daemon (it creates ${dev})`,
    });
  }
  const ev = {
    device: dev,
    up: l.up,
    local: l.ipip?.local,
    publicIP: node.lease?.publicIP,
    mtu: l.mtu,
  };
  if (!l.up) {
    return fail("ipip.device", node.name, `${dev} on ${node.name} is down`, {
      evidence: ev,
      fix: `${nsExec(node)}ip link set ${dev} up`,
    });
  }
  if (node.lease && l.ipip?.local !== node.lease.publicIP) {
    return fail(
      "ipip.device",
      node.name,
      `${dev}'s local address ${l.ipip?.local ?? "unset"} is not ${node.lease.publicIP}`,
      {
        evidence: ev,
        fix: `${nsExec(node)}ip link del ${dev}  # the daemon recreates it`,
      },
    );
  }
  if (l.ipip?.ttl) {
    return fail(
      "ipip.device",
      node.name,
      `${dev} has TTL ${l.ipip.ttl} (skein's inherits the inner TTL): a low one dies at the routers between nodes`,
      {
        evidence: { ...ev, ttl: l.ipip.ttl },
        fix: `${nsExec(node)}ip link del ${dev}  # the daemon recreates it`,
      },
    );
  }
  return pass("ipip.device", node.name, `${dev} is up with local ${l.ipip?.local}`, {
    evidence: ev,
  });
}

/** The ipip family. */
export const ipipFamily: Family = {
  name: "ipip",
  appliesTo: ["ipip"],
  pair: (_d, pair) => pair.nodes.map(deviceCheck),
  node: (_d, node) => [deviceCheck(node)],
};
