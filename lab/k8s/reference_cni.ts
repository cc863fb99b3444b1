/**
 * `skein lab up --kubernetes --cni reference`: the containernetworking reference plugins instead
 * of skein, for side-by-side runs. Each node gets a bridge + host-local conflist for its
 * spec.podCIDR in its CNI conf dir, the plugins (Debian's containernetworking-plugins,
 * /usr/lib/cni) in its CNI bin dir, and static host-gw routes to every other node's pod subnet in
 * its network namespace (what a cluster without a route daemon is given by hand), so pods on
 * different nodes reach each other as with skein.
 *
 * @module
 */
import { openHandle, sysctlSet } from "../../net/mod.ts";
import type { KubeLabNode } from "./types.ts";
import { nodeHostPath } from "./types.ts";

/** Where Debian's containernetworking-plugins are. */
export const REFERENCE_PLUGIN_DIR = "/usr/lib/cni";

/** The reference plugins a `--cni reference` node runs (loopback: CRI's own lo setup). */
export const REFERENCE_PLUGINS = ["bridge", "host-local", "loopback", "portmap"] as const;

/** The conflist's file name in the node's /etc/cni/net.d. */
export const REFERENCE_CONFLIST = "10-bridge.conflist";

/** RTPROT_STATIC: the host-gw routes between nodes are static routes (`ip route show proto static`). */
export const RTPROT_STATIC = 4;

/** The bridge + host-local conflist (CNI 1.0.0) for a node whose pod subnet is `podCidr`. */
export function referenceConflist(podCidr: string): string {
  return JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: "bridge",
      plugins: [
        {
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          isDefaultGateway: true,
          hairpinMode: true,
          ipam: { type: "host-local", ranges: [[{ subnet: podCidr }]] },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  ) + "\n";
}

/**
 * Copies `names` from `from` into the node's CNI bin dir (/opt/cni/bin as the node sees it),
 * skipping a plugin already there with the same size (`install -m 0755 /usr/lib/cni/X
 * /opt/cni/bin/X` on the node).
 */
export function copyNodePlugins(
  node: Pick<KubeLabNode, "dir">,
  names: readonly string[],
  from = REFERENCE_PLUGIN_DIR,
): void {
  const dir = nodeHostPath(node, "/opt/cni/bin");
  Deno.mkdirSync(dir, { recursive: true });
  for (const name of names) {
    const src = `${from}/${name}`;
    const dst = `${dir}/${name}`;
    const size = Deno.statSync(src).size;
    try {
      if (Deno.statSync(dst).size === size) continue;
    } catch { /* not there yet */ }
    Deno.copyFileSync(src, `${dst}.new`);
    Deno.chmodSync(`${dst}.new`, 0o755);
    Deno.renameSync(`${dst}.new`, dst);
  }
}

/** Writes the node's reference conflist (atomically: a new file renamed into place). */
export function writeReferenceConflist(node: KubeLabNode & { podCidr: string }): string {
  const dir = nodeHostPath(node, "/etc/cni/net.d");
  Deno.mkdirSync(dir, { recursive: true });
  const path = `${dir}/${REFERENCE_CONFLIST}`;
  Deno.writeTextFileSync(`${path}.new`, referenceConflist(node.podCidr));
  Deno.renameSync(`${path}.new`, path);
  return path;
}

/** The static routes node `self` needs: every other node's pod subnet via that node's address. */
export function hostGwRoutes(
  self: Pick<KubeLabNode, "name">,
  nodes: readonly Pick<KubeLabNode, "name" | "address" | "podCidr">[],
): { dst: string; gateway: string }[] {
  return nodes.filter((n) => n.name !== self.name && n.podCidr).map((n) => ({
    dst: n.podCidr!,
    gateway: n.address,
  }));
}

/**
 * Programs hostGwRoutes() in every node's network namespace through net/ (`ip -n NODE route
 * replace SUBNET via ADDRESS dev eth0 proto static`), with IPv4 forwarding on.
 */
export function programHostGw(
  nodes: readonly Pick<KubeLabNode, "name" | "netns" | "address" | "podCidr">[],
  uplink = "eth0",
): void {
  for (const self of nodes) {
    const netns = `/run/netns/${self.netns}`;
    sysctlSet("net.ipv4.ip_forward", "1", { netns });
    using h = openHandle({ netns });
    for (const r of hostGwRoutes(self, nodes)) {
      h.routeReplace({ ...r, dev: uplink, protocol: RTPROT_STATIC });
    }
  }
}
