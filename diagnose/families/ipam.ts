/**
 * `ipam`: an audit of the node's IPAM directory (like `calicoctl ipam check`): reservations
 * whose container has no host veth any more (leaks), free addresses left in the node's subnet
 * (fail at 0, warn below 10 %), one attachment holding several addresses (duplicates), and
 * files that are not valid reservations.
 *
 * @module
 */
import { hostVethName } from "../../cni/veth_name.ts";
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

function audit(node: NodeView): CheckResult[] {
  const dir = node.facts.ipamDir;
  if (!dir) {
    return [
      skip(
        "ipam.free",
        node.name,
        "the IPAM directory of this node is not known (no skein CNI config found)",
      ),
    ];
  }
  const r = readReservations(dir);
  if (!r.ok) {
    return [
      skip("ipam.free", node.name, `cannot read IPAM directory: ${r.error}`, { evidence: { dir } }),
    ];
  }
  const out: CheckResult[] = [];
  const v4 = r.list.filter((x) => !x.ip.includes(":"));
  const subnet = node.lease?.subnet;
  if (subnet) {
    const usable = usableAddresses(subnet);
    const free = usable - v4.length;
    const ev = { dir, subnet, usable, reserved: v4.length, free };
    if (free <= 0) {
      out.push(
        fail("ipam.free", node.name, `no free pod address left in ${subnet} on ${node.name}`, {
          evidence: ev,
          fix: "free leaked reservations (see ipam.leaks) or delete pods",
        }),
      );
    } else if (free < usable * 0.1) {
      out.push(
        warn("ipam.free", node.name, `only ${free} of ${usable} pod addresses free in ${subnet}`, {
          evidence: ev,
          fix: "free leaked reservations (see ipam.leaks) or move pods",
        }),
      );
    } else {
      out.push(
        pass("ipam.free", node.name, `${free} of ${usable} pod addresses free in ${subnet}`, {
          evidence: ev,
        }),
      );
    }
  }
  if (node.kernel) {
    const names = new Set(node.kernel.links().map((l) => l.name));
    const leaks = leaked(r.list, names);
    out.push(
      leaks.length
        ? warn(
          "ipam.leaks",
          node.name,
          `${leaks.length} reservation(s) on ${node.name} have no live container (no host veth)`,
          {
            evidence: {
              dir,
              leaks: leaks.map((x) =>
                x.record.kind === "current"
                  ? `${x.ip} ${x.record.id}/${x.record.ifName} (no ${
                    hostVethName(x.record.id, x.record.ifName)
                  })`
                  : x.ip
              ),
            },
            fix: leaks.map((x) => `rm ${dir}/${x.ip}`).join("; ") +
              "  # after checking the containers are gone",
          },
        )
        : pass("ipam.leaks", node.name, `every reservation on ${node.name} has a live host veth`, {
          evidence: { dir, reservations: r.list.length },
        }),
    );
  }
  const dups = duplicates(r.list);
  out.push(
    dups.size
      ? fail(
        "ipam.duplicates",
        node.name,
        `${dups.size} attachment(s) hold more than one address`,
        {
          evidence: { dir, attachments: Object.fromEntries(dups) },
          fix:
            [...dups.values()].map((ips) => ips.slice(1).map((ip) => `rm ${dir}/${ip}`).join("; "))
              .join("; ") + "  # keep the address the pod uses",
        },
      )
      : pass("ipam.duplicates", node.name, "no attachment holds two addresses", {
        evidence: { dir },
      }),
  );
  const bad = r.list.filter((x) => x.record.kind === "corrupt" || x.record.kind === "empty");
  if (bad.length) {
    out.push(
      warn("ipam.corrupt", node.name, `${bad.length} reservation file(s) are empty or corrupt`, {
        evidence: {
          files: bad.map((x) =>
            `${dir}/${x.ip}: ${x.record.kind === "corrupt" ? x.record.reason : "empty"}`
          ),
        },
        fix: "CNI GC (or the next DEL) removes them",
      }),
    );
  }
  return out;
}

/** The ipam family. */
export const ipamFamily: Family = {
  name: "ipam",
  pair: (_d, pair) => pair.nodes.filter((n) => n.kernel).flatMap(audit),
  node: (_d, node) => audit(node),
};
