/**
 * `lease`: the datastore can be read; the node's lease file is present, parses, and matches the
 * datastore's lease for the node; that lease has not expired; some lease covers each endpoint;
 * no two leases overlap.
 *
 * @module
 */
import { LeaseFileError, type NodeLease, readLeaseFile } from "../../node/lease_file.ts";
import type { Lease } from "../../store/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import { type Diagnosis, type Endpoint, inCidr, ipv4Number, type NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { networkOf, v4 } from "../route_diff.ts";

function datastore(d: Diagnosis): CheckResult {
  const s = d.store;
  if (s.leases && s.skipped?.length) {
    return warn(
      "lease.datastore",
      "-",
      `read ${s.leases.length} lease(s) from the ${s.type} datastore; ${s.skipped.length} record(s) cannot be used (their nodes get no route): ${
        s.skipped[0]
      }`,
      {
        evidence: { type: s.type, where: s.where, skipped: s.skipped },
        fix: s.type === "etcd"
          ? `etcdctl --endpoints ${s.where} get --prefix /coreos.com/network/subnets  # fix or delete the record`
          : `ls -l ${s.where}/subnets  # fix or delete the record`,
      },
    );
  }
  if (s.leases) {
    return pass(
      "lease.datastore",
      "-",
      `read ${s.leases.length} lease(s) from the ${s.type} datastore`,
      {
        evidence: {
          type: s.type,
          where: s.where,
          leases: s.leases.map((l) => `${l.subnet} ${l.node} ${l.publicIP}`),
        },
      },
    );
  }
  return fail(
    "lease.datastore",
    "-",
    `the ${s.type} datastore (${s.where}) cannot be read: ${s.error}`,
    {
      evidence: { type: s.type, where: s.where, error: s.error },
      fix: s.type === "etcd"
        ? `etcdctl --endpoints ${s.where} endpoint health`
        : `ls -l ${s.where}/subnets`,
    },
  );
}

/** Reads the lease file (node/lease_file.ts): its fields, or why it cannot be used. */
function readLease(path: string): { value?: NodeLease & { subnet: string }; error?: string } {
  let v: NodeLease;
  try {
    v = readLeaseFile(path);
  } catch (e) {
    if (!(e instanceof LeaseFileError)) throw e;
    if (e.problem === "missing") return { error: "missing" };
    return { error: `${e.problem === "corrupt" ? "unusable" : "unreadable"} (${e.reason})` };
  }
  if (v.subnet === undefined) return { error: "no subnet field" };
  return { value: { ...v, subnet: v.subnet } };
}

function leaseFile(d: Diagnosis, node: NodeView): CheckResult[] {
  const path = node.facts.leaseFile;
  if (!node.kernel || !path) return [];
  const f = readLease(path);
  if (!f.value) {
    return [
      fail(
        "lease.file",
        node.name,
        `${node.name}'s lease file ${path} is ${f.error}: the CNI plugin cannot give pods addresses`,
        {
          evidence: { path, error: f.error },
          fix: "restart the node's skein daemon: it writes the lease file once it holds a lease",
        },
      ),
    ];
  }
  const out = [
    pass("lease.file", node.name, `${path} holds subnet ${f.value.subnet}`, {
      evidence: { path, ...f.value },
    }),
  ];
  const l = node.lease;
  if (!d.store.leases) return out;
  if (!l) {
    out.push(
      fail("lease.match", node.name, `the datastore holds no live lease for ${node.nodeName}`, {
        evidence: { node: node.nodeName, leaseFile: f.value.subnet },
        fix: "restart the node's skein daemon: it acquires a lease",
      }),
    );
  } else if (l.subnet !== f.value.subnet) {
    out.push(
      fail(
        "lease.match",
        node.name,
        `${node.name}'s lease file says ${f.value.subnet}, the datastore ${l.subnet}`,
        {
          evidence: { leaseFile: f.value.subnet, datastore: l.subnet, path },
          fix:
            "restart the node's skein daemon: it rewrites the lease file (pods on the old subnet must be recreated)",
        },
      ),
    );
  } else {
    out.push(
      pass("lease.match", node.name, `lease file and datastore agree on ${l.subnet}`, {
        evidence: { subnet: l.subnet },
      }),
    );
  }
  return out;
}

function expiry(node: NodeView, now: number): CheckResult | undefined {
  const l = node.lease;
  if (!l) return undefined;
  const left = (Date.parse(l.expiration) - now) / 1000;
  const ev = { subnet: l.subnet, expiration: l.expiration, secondsLeft: Math.round(left) };
  if (!(left > 0)) {
    return fail(
      "lease.expired",
      node.name,
      `${node.name}'s lease on ${l.subnet} expired at ${l.expiration}`,
      {
        evidence: ev,
        fix: "start the node's skein daemon: it renews the lease",
      },
    );
  }
  return pass(
    "lease.expired",
    node.name,
    `${node.name}'s lease on ${l.subnet} runs ${Math.round(left)} s more`,
    { evidence: ev },
  );
}

function covers(d: Diagnosis, e: Endpoint): CheckResult {
  if (!d.store.leases) {
    return skip("lease.covers", "-", `datastore not read: cannot tell which node holds ${e.ip}`);
  }
  if (e.node?.lease) {
    return pass(
      "lease.covers",
      e.node.name,
      `${e.ip} is in ${e.node.lease.subnet}, leased by ${e.node.lease.node}`,
      {
        evidence: {
          ip: e.ip,
          subnet: e.node.lease.subnet,
          node: e.node.lease.node,
          publicIP: e.node.lease.publicIP,
        },
      },
    );
  }
  // An address outside the cluster network is an external destination (netfilter.masq).
  const net = d.nodes.map((n) => n.facts.network).find((x) => x !== undefined);
  if (!e.node && net && !inCidr(ipv4Number(e.ip) ?? 0, net)) {
    return pass(
      "lease.covers",
      "-",
      `${e.ip} is outside the cluster network ${net}: an external destination`,
      {
        evidence: { ip: e.ip, network: net },
      },
    );
  }
  // The pod's node is known (the lab's records, a Kubernetes pod's nodeName): its lease file
  // says which subnet it had; the datastore lost the lease (lease.match names it).
  const path = e.node?.facts.leaseFile;
  const file = path ? readLease(path).value : undefined;
  if (e.node && file && inCidr(ipv4Number(e.ip) ?? 0, file.subnet)) {
    return fail(
      "lease.covers",
      e.node.name,
      `no lease in the datastore covers ${e.ip}: ${e.node.name}'s lease on ${file.subnet} (its lease file) is gone from the datastore (deleted, or expired while nothing renewed it), so no node routes to its pods`,
      {
        evidence: { ip: e.ip, leaseFile: file.subnet, leases: d.store.leases.map((l) => l.subnet) },
        fix:
          `start or continue ${e.node.name}'s skein daemon: it acquires its lease again (see daemon.running, lease.match)`,
      },
    );
  }
  return fail("lease.covers", "-", `no lease covers ${e.ip}: no node owns that address`, {
    evidence: { ip: e.ip, leases: d.store.leases.map((l) => l.subnet) },
    fix:
      "check the pod's address and the cluster network; the node that held the subnet may be gone",
  });
}

/**
 * Pairs of leases whose IPv4 subnets overlap, in the order of `leases` (earlier first, then by
 * the later one's place). Two prefixes overlap only when one holds the other, so one sweep over
 * the subnets sorted by start (larger first at the same start) finds every pair: the prefixes
 * still open when a subnet starts all hold it. O(n log n) plus the pairs, where comparing every
 * pair took seconds for 5,000 leases.
 */
export function overlaps(leases: readonly Lease[]): [Lease, Lease][] {
  const spans = leases.flatMap((l, i) => {
    const p = v4(l.subnet);
    if (!p || p[1] > 32) return [];
    const start = networkOf(p[0], p[1]);
    return [{ i, start, end: start + 2 ** (32 - p[1]) - 1 }];
  }).sort((a, b) => a.start - b.start || b.end - a.end || a.i - b.i);
  const pairs: [number, number][] = [];
  const open: typeof spans = [];
  for (const s of spans) {
    while (open.length && open[open.length - 1]!.end < s.start) open.pop();
    for (const o of open) pairs.push(o.i < s.i ? [o.i, s.i] : [s.i, o.i]);
    open.push(s);
  }
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return pairs.map(([a, b]) => [leases[a]!, leases[b]!]);
}

function overlapCheck(d: Diagnosis): CheckResult | undefined {
  if (!d.store.leases) return undefined;
  const o = overlaps(d.store.leases);
  if (!o.length) {
    return pass("lease.overlap", "-", "no two leases overlap", {
      evidence: { leases: d.store.leases.length },
    });
  }
  const odd = oddSized(d.store.leases, o);
  return fail("lease.overlap", "-", `${o.length} pair(s) of leases overlap`, {
    evidence: { pairs: o.map(([a, b]) => `${a.subnet} (${a.node}) / ${b.subnet} (${b.node})`) },
    fix: odd.stray.length
      ? `delete the lease record of ${
        odd.stray.map((l) => `${l.subnet} (node ${l.node || "?"})`).join(", ")
      } from the datastore: not a /${odd.len} like the nodes' leases, so no daemon programs it`
      : "delete the wrong lease record from the datastore; its node acquires a new subnet",
  });
}

/** The overlapping leases whose prefix length is not the one most leases have (a node's block). */
function oddSized(all: readonly Lease[], pairs: [Lease, Lease][]): { len: number; stray: Lease[] } {
  const count = new Map<string, number>();
  for (const l of all) {
    const len = l.subnet.split("/")[1] ?? "";
    count.set(len, (count.get(len) ?? 0) + 1);
  }
  const len = [...count].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "";
  const stray = [...new Set(pairs.flat())].filter((l) => l.subnet.split("/")[1] !== len);
  return { len: Number(len), stray };
}

function duplicateNodes(d: Diagnosis): CheckResult | undefined {
  const ls = d.store.leases;
  if (!ls) return undefined;
  const by = new Map<string, Lease[]>();
  for (const l of ls) by.set(l.node, [...(by.get(l.node) ?? []), l]);
  const dup = [...by.values()].filter((x) => x.length > 1);
  if (!dup.length) return undefined;
  return warn("lease.duplicate", "-", `${dup.length} node(s) hold more than one lease`, {
    evidence: { nodes: dup.map((x) => `${x[0]!.node}: ${x.map((l) => l.subnet).join(", ")}`) },
    fix: "delete the older lease records; they expire on their own after their TTL",
  });
}

/** The lease family. */
export const leaseFamily: Family = {
  name: "lease",
  pair(d, pair) {
    const out = [datastore(d)];
    for (const n of pair.nodes) {
      out.push(...leaseFile(d, n));
      const e = expiry(n, Date.now());
      if (e) out.push(e);
    }
    out.push(covers(d, pair.from), covers(d, pair.to));
    const o = overlapCheck(d);
    if (o) out.push(o);
    return out;
  },
  node(d, node) {
    const out = [datastore(d), ...leaseFile(d, node)];
    const e = expiry(node, Date.now());
    if (e) out.push(e);
    for (const c of [overlapCheck(d), duplicateNodes(d)]) if (c) out.push(c);
    return out;
  },
};
