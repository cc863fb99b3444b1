/**
 * Two "nodes" (namespaces) on one L2 segment (a bridge in a "lan" namespace), each with a "pod"
 * address in its subnet on a veth (this kernel has no dummy module); each node's backend reconciles with the other's
 * lease, then pod address pings pod address across (host-gw and vxlan).
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { openHandle } from "../net/mod.ts";
import { createBackend, ensureMasquerade } from "../backends/mod.ts";
import type { Lease } from "../store/types.ts";
import {
  inNamespaces,
  inNs,
  ipJson,
  ipn,
  type Json,
  mkLease,
  nsOf,
  pings,
} from "./backends_helpers.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

function buildLan(lan: string, nodes: string[]): void {
  ipn(lan, ["link", "add", "br0", "type", "bridge"], ["link", "set", "br0", "up"]);
  nodes.forEach((node, i) => {
    const n = i + 1;
    ipn(lan, ["link", "add", `v${n}`, "type", "veth", "peer", "name", "eth0", "netns", nsOf(node)]);
    ipn(lan, ["link", "set", `v${n}`, "master", "br0", "up"]);
    ipn(
      node,
      ["link", "set", "lo", "up"],
      ["link", "set", "eth0", "up"],
      ["addr", "add", `192.168.0.${n}/24`, "dev", "eth0"],
      ["link", "add", "pod0", "type", "veth", "peer", "name", "pod0p"],
      ["link", "set", "pod0p", "up"],
      ["link", "set", "pod0", "up"],
      ["addr", "add", `10.244.${n}.1/24`, "dev", "pod0"],
    );
  });
}

async function twoNodes(type: "host-gw" | "vxlan", check: (n1: string, n2: string) => void) {
  await inNamespaces([`${type}-lan`, `${type}-n1`, `${type}-n2`], (ns) => {
    const lan = ns[`${type}-lan`]!, n1 = ns[`${type}-n1`]!, n2 = ns[`${type}-n2`]!;
    buildLan(lan, [n1, n2]);
    const leases: Lease[] = [];
    const backends = [n1, n2].map((node, i) => {
      const [l] = ipJson<{ ifindex: number; mtu: number }>(node, "link", "show", "eth0");
      const handle = openHandle({ netns: node });
      const b = createBackend({
        type,
        handle,
        netns: node,
        uplink: { name: "eth0", index: l!.ifindex, mtu: l!.mtu },
        publicIP: `192.168.0.${i + 1}`,
        node: `node${i + 1}`,
      });
      const s = b.setup();
      leases.push(
        mkLease(i + 1, `192.168.0.${i + 1}`, { backendType: type, backendData: s.backendData }),
      );
      return { b, handle };
    });
    try {
      assert(
        !pings(n1, "10.244.2.1", "10.244.1.1", 1),
        "pods must not reach each other before reconcile",
      );
      backends.forEach(({ b }, i) => {
        const r = b.reconcile(leases, leases[i]!);
        assertEquals([r.errors, r.skipped, r.routes], [[], [], 1]);
      });
      assert(pings(n1, "10.244.2.1", "10.244.1.1"), `node1 pod → node2 pod over ${type}`);
      assert(pings(n2, "10.244.1.1", "10.244.2.1"), `node2 pod → node1 pod over ${type}`);
      check(n1, n2);
    } finally {
      for (const { handle } of backends) handle.close();
    }
  });
}

Deno.test(
  "host-gw: pods on two nodes reach each other; masquerade keeps pod→pod addresses",
  opts,
  async () => {
    await twoNodes("host-gw", (n1, n2) => {
      // With masquerade on node1, traffic to the other node's pods keeps its pod source address:
      // node2 counts echo requests from 10.244.1.1 in a table of the test's own.
      ensureMasquerade({
        netns: n1,
        clusterNetworks: ["10.244.0.0/16"],
        podSubnets: ["10.244.1.0/24"],
        enabled: true,
      });
      inNs(
        n2,
        "nft",
        "add table ip t; add chain ip t c { type filter hook input priority 0; }; add rule ip t c ip saddr 10.244.1.1 icmp type echo-request counter",
      );
      assert(pings(n1, "10.244.2.1", "10.244.1.1"));
      const counted = JSON.parse(inNs(n2, "nft", "-j", "list", "table", "ip", "t")).nftables
        .find((x: Json) => x.rule)?.rule.expr.find((e: Json) => e.counter)?.counter;
      assert(
        counted && counted.packets >= 1,
        `node2 saw the pod source address: ${JSON.stringify(counted)}`,
      );
      // Traffic from a pod address to outside the cluster network is masqueraded (node2's eth0
      // address is outside): node2 sees node1's address instead.
      inNs(n2, "nft", "add rule ip t c ip saddr 192.168.0.1 icmp type echo-request counter");
      assert(pings(n1, "192.168.0.2", "10.244.1.1"));
      const rules = JSON.parse(inNs(n2, "nft", "-j", "list", "table", "ip", "t")).nftables
        .filter((x: Json) => x.rule);
      const c2 = rules[1]?.rule.expr.find((e: Json) => e.counter)?.counter;
      assert(c2 && c2.packets >= 1, `pod → outside was masqueraded: ${JSON.stringify(c2)}`);
    });
  },
);

Deno.test(
  "vxlan: pods on two nodes reach each other through skein.1, MTU 1450 end to end",
  opts,
  async () => {
    await twoNodes("vxlan", (n1) => {
      const big = (size: number) =>
        new Deno.Command("ip", {
          args: [
            "netns",
            "exec",
            nsOf(n1),
            "ping",
            "-c",
            "1",
            "-W",
            "1",
            "-M",
            "do",
            "-s",
            String(size),
            "-I",
            "10.244.1.1",
            "10.244.2.1",
          ],
          stdout: "null",
          stderr: "null",
        }).outputSync().success;
      assert(big(1422), "a 1450-byte packet (DF) crosses the tunnel");
      assert(!big(1423), "a 1451-byte packet (DF) is refused locally, not dropped on the wire");
    });
  },
);
