/**
 * What the reconciler wants in a node's kernel for the current leases: the backend's own pure
 * desired-state builders (hostGwDesired, vxlanDesired, ipipDesired), fed with what diagnose read
 * (the node's lease, its uplink's prefixes, its tunnel device's index). Read-only: no backend
 * is created and nothing is applied.
 *
 * @module
 */
import { hostGwDesired } from "../backends/hostgw.ts";
import { ipipDesired } from "../backends/ipip.ts";
import type { DesiredState } from "../backends/types.ts";
import { vxlanDesired } from "../backends/vxlan.ts";
import { type Diagnosis, inCidr, ipv4Number, type NodeView } from "./context.ts";
import { uplinkOf } from "./path.ts";
import type { FlatRoute } from "./route_diff.ts";

/** The node's desired state, or why it cannot be computed. */
export type Expected =
  | { ok: true; desired: DesiredState; routes: FlatRoute[] }
  | { ok: false; reason: string };

/** The desired state of a node with kernel access (memoised per diagnosis). */
export function expectedOf(d: Diagnosis, node: NodeView): Expected {
  const key = `expected|${node.name}`;
  const memo = d.memo.get(key) as Expected | undefined;
  if (memo) return memo;
  const e = compute(d, node);
  d.memo.set(key, e);
  return e;
}

function compute(d: Diagnosis, node: NodeView): Expected {
  const k = node.kernel;
  if (!k) return { ok: false, reason: `no kernel access to ${node.name}` };
  const leases = d.store.leases;
  if (!leases) return { ok: false, reason: `the datastore was not read (${d.store.error ?? "?"})` };
  const self = node.lease;
  if (!self) return { ok: false, reason: `${node.name} holds no lease in the datastore` };
  const uplink = uplinkOf(node);
  if (!uplink) {
    return { ok: false, reason: `${node.name} has no link with its public IP ${self.publicIP}` };
  }
  const others = leases.filter((l) => l.subnet !== self.subnet);
  const names = new Map(k.links().map((l) => [l.index, l.name]));
  let desired: DesiredState;
  switch (node.facts.backend) {
    case "host-gw": {
      const prefixes = k.addrs().filter((a) => a.index === uplink.index && a.family === 4)
        .map((a) => a.cidr);
      const onlink = {
        has: (ip: string) => {
          const n = ipv4Number(ip);
          return n !== undefined && prefixes.some((p) => inCidr(n, p));
        },
        describe: () => prefixes.join(", ") || "none",
      };
      desired = hostGwDesired(
        {
          uplink: { name: uplink.name, index: uplink.index, mtu: uplink.mtu },
          publicIP: self.publicIP,
        },
        others,
        self,
        onlink,
      );
      break;
    }
    case "vxlan":
    case "ipip": {
      const dev = node.facts.device ? k.link(node.facts.device) : undefined;
      if (!dev) {
        return {
          ok: false,
          reason: `the ${node.facts.backend} device ${node.facts.device} is missing`,
        };
      }
      desired = node.facts.backend === "vxlan"
        ? vxlanDesired({ publicIP: self.publicIP, underlayFamily: 4 }, dev.index, others, self)
        : ipipDesired({ publicIP: self.publicIP }, dev.index, others, self);
      break;
    }
    default:
      return { ok: false, reason: `no route expectation for backend ${node.facts.backend}` };
  }
  const routes: FlatRoute[] = desired.entries.flatMap((e) =>
    e.routes.map((r) => {
      const f: FlatRoute = { dst: r.dst, gateway: r.gateway, dev: names.get(r.dev) ?? `#${r.dev}` };
      if (r.onlink) f.onlink = true;
      return f;
    })
  );
  return { ok: true, desired, routes };
}
