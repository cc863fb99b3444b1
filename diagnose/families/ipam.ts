/**
 * `ipam`: an audit of the node's IPAM directory (like `calicoctl ipam check`): reservations
 * whose container has no host veth any more (leaks), free addresses left in the node's subnet
 * (fail at 0, warn below 10 %), one attachment holding several addresses (duplicates), and
 * files that are not valid reservations.
 *
 * @module
 */
import { hostVethName } from "../../node/veth_name.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { readReservations, type Reservation } from "../ipam_read.ts";

/** Usable addresses of an IPv4 subnet for pods (minus network, gateway and broadcast). */
export function usableAddresses(subnet: string): number {
  const len = Number(subnet.split("/")[1]);
  if (!Number.isInteger(len) || len < 0 || len > 32) return 0;
  return Math.max(0, 2 ** (32 - len) - 3);
}

/** Reservations whose attachment has no host veth in `linkNames`. */
export function leaked(
  list: readonly Reservation[],
  linkNames: ReadonlySet<string>,
): Reservation[] {
  return list.filter((r) =>
    r.record.kind === "current" && !linkNames.has(hostVethName(r.record.id, r.record.ifName))
  );
}

/** Attachments (container/ifname) holding more than one IPv4 address. */
export function duplicates(list: readonly Reservation[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const r of list) {
    if (r.record.kind !== "current" || r.ip.includes(":")) continue;
    const key = `${r.record.id}/${r.record.ifName}`;
    by.set(key, [...(by.get(key) ?? []), r.ip]);
  }
  return new Map([...by].filter(([, ips]) => ips.length > 1));
}

function freeCheck(node: NodeView, dir: string, reserved: number, subnet: string): CheckResult {
  const usable = usableAddresses(subnet);
  const free = usable - reserved;
  const ev = { dir, subnet, usable, reserved, free };
  if (free <= 0) {
    return fail("ipam.free", node.name, `no free pod address left in ${subnet} on ${node.name}`, {
      evidence: ev,
      fix: "free leaked reservations (see ipam.leaks) or delete pods",
    });
  }
  if (free < usable * 0.1) {
    return warn(
      "ipam.free",
      node.name,
      `only ${free} of ${usable} pod addresses free in ${subnet}`,
      {
        evidence: ev,
        fix: "free leaked reservations (see ipam.leaks) or move pods",
      },
    );
  }
  return pass("ipam.free", node.name, `${free} of ${usable} pod addresses free in ${subnet}`, {
    evidence: ev,
  });
}

function leakCheck(node: NodeView, dir: string, list: Reservation[]): CheckResult {
  const names = new Set(node.kernel!.links().map((l) => l.name));
  const leaks = leaked(list, names);
  if (!leaks.length) {
    return pass("ipam.leaks", node.name, `every reservation on ${node.name} has a live host veth`, {
      evidence: { dir, reservations: list.length },
    });
  }
  const text = (x: Reservation) =>
    x.record.kind === "current"
      ? `${x.ip} ${x.record.id}/${x.record.ifName} (no ${
        hostVethName(x.record.id, x.record.ifName)
      })`
      : x.ip;
  return warn(
    "ipam.leaks",
    node.name,
    `${leaks.length} reservation(s) on ${node.name} have no live container (no host veth)`,
    {
      evidence: { dir, leaks: leaks.map(text) },
      fix: leaks.map((x) => `rm ${dir}/${x.ip}`).join("; ") +
        "  # after checking the containers are gone",
    },
  );
}

function dupCheck(node: NodeView, dir: string, list: Reservation[]): CheckResult {
  const dups = duplicates(list);
  if (!dups.size) {
    return pass("ipam.duplicates", node.name, "no attachment holds two addresses", {
      evidence: { dir },
    });
  }
  return fail(
    "ipam.duplicates",
    node.name,
    `${dups.size} attachment(s) hold more than one address`,
    {
      evidence: { dir, attachments: Object.fromEntries(dups) },
      fix: [...dups.values()].map((ips) => ips.slice(1).map((ip) => `rm ${dir}/${ip}`).join("; "))
        .join("; ") + "  # keep the address the pod uses",
    },
  );
}

function corruptCheck(node: NodeView, dir: string, list: Reservation[]): CheckResult | undefined {
  const bad = list.filter((x) => x.record.kind === "corrupt" || x.record.kind === "empty");
  if (!bad.length) return undefined;
  return warn("ipam.corrupt", node.name, `${bad.length} reservation file(s) are empty or corrupt`, {
    evidence: {
      files: bad.map((x) =>
        `${dir}/${x.ip}: ${x.record.kind === "corrupt" ? x.record.reason : "empty"}`
      ),
    },
    fix: "CNI GC (or the next DEL) removes them",
  });
}

function audit(node: NodeView): CheckResult[] {
  const dir = node.facts.ipamDir;
  if (!dir) {
    const why = "the IPAM directory of this node is not known (no skein CNI config found)";
    return [skip("ipam.free", node.name, why)];
  }
  const r = readReservations(dir);
  if (!r.ok) {
    return [
      skip("ipam.free", node.name, `cannot read IPAM directory: ${r.error}`, { evidence: { dir } }),
    ];
  }
  const out: CheckResult[] = [];
  const subnet = node.lease?.subnet;
  if (subnet) {
    out.push(freeCheck(node, dir, r.list.filter((x) => !x.ip.includes(":")).length, subnet));
  }
  if (node.kernel) out.push(leakCheck(node, dir, r.list));
  out.push(dupCheck(node, dir, r.list));
  const c = corruptCheck(node, dir, r.list);
  if (c) out.push(c);
  return out;
}

/** The ipam family. */
export const ipamFamily: Family = {
  name: "ipam",
  pair: (_d, pair) => pair.nodes.filter((n) => n.kernel).flatMap(audit),
  node: (_d, node) => audit(node),
};
