/**
 * Whose is a bridge port: the namespace at the other end of a veth port (under /run/netns, found
 * by the namespace id the node gives it, `ip -d link show PORT`'s link-netnsid) and what it holds
 * there. A pod's address held in another port's namespace too (a hand-made duplicate, IPAM state
 * restored from a backup) is an address conflict: both answer ARP, and whichever answers first
 * gets the pod's traffic. Named with the exact `ip addr del`.
 *
 * @module
 */
import type { Link } from "../../net/types.ts";
import { netnsList } from "../../net/mod.ts";
import { Kernel } from "../kernel.ts";

/** The namespace behind a veth port and the address it holds there. */
export interface PortHolder {
  /** The port on the node's side. */
  port: Link;
  /** The namespace's name under /run/netns. */
  netns: string;
  /** The address as `ip addr` shows it ("10.244.1.2/24") and its device. */
  cidr: string;
  dev: string;
}

/** Namespace names under /run/netns (at most 512) by the id node kernel `k` gives them. */
function namesById(k: Kernel): Map<number, string> {
  const out = new Map<number, string>();
  let names: string[];
  try {
    names = netnsList();
  } catch {
    return out;
  }
  for (const name of names.slice(0, 512)) {
    try {
      const id = k.nsidOf(`/run/netns/${name}`);
      if (id !== undefined) out.set(id, name);
    } catch { /* gone, or not a namespace */ }
  }
  return out;
}

function holds(name: string, port: Link, ips: readonly string[]): PortHolder | undefined {
  let there: Kernel | undefined;
  try {
    there = new Kernel(`/run/netns/${name}`);
    const a = there.addrs().find((x) => x.family === 4 && ips.includes(x.cidr.split("/")[0]!));
    const dev = a ? there.link(a.index)?.name : undefined;
    return a && dev ? { port, netns: name, cidr: a.cidr, dev } : undefined;
  } catch {
    return undefined; // the namespace went away
  } finally {
    there?.close();
  }
}

/**
 * The first namespace behind a veth port of bridge `bridgeIndex` on node kernel `k` (not port
 * `skipIndex`, the pod's own) that holds one of `ips` on one of its links (`cidr` says which);
 * undefined when none does.
 */
export function bridgeHolderOf(
  k: Kernel,
  bridgeIndex: number,
  skipIndex: number,
  ips: readonly string[],
): PortHolder | undefined {
  const ports = k.links().filter((l) =>
    l.masterIndex === bridgeIndex && l.index !== skipIndex && l.kind === "veth" &&
    l.linkNetnsId !== undefined
  );
  if (!ports.length) return undefined;
  const names = namesById(k);
  for (const port of ports) {
    const name = names.get(port.linkNetnsId!);
    const h = name ? holds(name, port, ips) : undefined;
    if (h) return h;
  }
  return undefined;
}

/**
 * The namespace behind veth port `port` of node kernel `k` and its device with MAC `mac` (a
 * device sending with a pod's MAC); undefined when neither is found.
 */
export function macHolderOf(
  k: Kernel,
  port: Link,
  mac: string,
): { netns: string; dev: string } | undefined {
  if (port.kind !== "veth" || port.linkNetnsId === undefined) return undefined;
  const name = namesById(k).get(port.linkNetnsId);
  if (!name) return undefined;
  let there: Kernel | undefined;
  try {
    there = new Kernel(`/run/netns/${name}`);
    const dev = there.links().find((l) => l.mac?.toLowerCase() === mac)?.name;
    return dev ? { netns: name, dev } : undefined;
  } catch {
    return undefined; // the namespace went away
  } finally {
    there?.close();
  }
}
