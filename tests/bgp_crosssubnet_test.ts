/**
 * BGP across the lab's two-subnets topology (root).
 *
 * 1. BIRD 2 runs in the router namespace as the
 * top-of-rack route reflector of every node (iBGP, AS 64512, `next hop self` with the router's
 * address on each client's own segment), the node-to-node mesh is off (`--no-bgp-mesh
 * --bgp-peer 192.168.77.1:64512`), and BIRD's kernel protocol gives the router the pod routes.
 * Every node learns every other node's pod subnet as a proto bgp route via its own segment's
 * router address, so pods on different subnets reach each other without encapsulation (the
 * full ping matrix), and the nodes behind the router are not skipped.
 * 2. The node-to-node mesh across the router with `encapsulation: vxlan, crossSubnet: true`
 *    (`--bgp-encapsulation vxlan --bgp-cross-subnet`): a peer on the node's own segment gets a
 *    plain route via its address on eth0, a peer behind the router a vxlan route over skein.1
 *    (its VTEP in the FDB), all tagged proto bgp; the ping matrix passes.
 *
 * @module
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { netnsList } from "../net/mod.ts";
import {
  type Lab,
  labDefaults,
  labDiagnose,
  labDown,
  labUp,
  loadLab,
  planLab,
} from "../lab/mod.ts";
import { runCommand } from "../lab/_proc.ts";
import { deleteLabNamespaces } from "../lab/topology.ts";
import { type Bird, haveBird, startBird } from "./_bird.ts";
import { cleanupOnInterrupt, testPrefix } from "./_netns.ts";
import { fdbOf, ipJson } from "./backends_helpers.ts";
import { upFailure } from "./_lab_logs.ts";

const isRoot = Deno.uid() === 0;

/** BIRD in the router: one passive iBGP session per node, reflecting with next hop self. */
function torConfig(plan: ReturnType<typeof planLab>): string {
  const sessions = plan.nodes.map((n) =>
    `protocol bgp ${n.name} from node {
  neighbor ${n.ip} as 64512;
  ipv4 { import all; export all; next hop self; next hop address ${n.segment.gateway}; };
}`
  );
  return `router id 192.168.77.1;
protocol device {}
protocol direct { ipv4; }
protocol kernel { ipv4 { export where source = RTS_BGP; }; }
template bgp node {
  local 192.168.77.1 as 64512;
  passive on;
  rr client;
  rr cluster id 1.0.0.1;
  hold time 9;
}
${sessions.join("\n")}
`;
}

interface RouteJ {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string | number;
  flags?: string[];
}

Deno.test({
  name:
    "two-subnets lab, bgp: BIRD in the router reflects every node's subnet; pods across the router ping without encapsulation",
  ignore: !isRoot || !haveBird(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const o = labDefaults({
      name: `${testPrefix()}bx`,
      nodes: 4,
      podsPerNode: 1,
      backend: "bgp",
      topology: "two-subnets",
      bgp: { mesh: false, peers: [{ address: "192.168.77.1", asNumber: 64512 }] },
      leaseTtl: 30,
      reconcilePeriod: 1,
    });
    const plan = planLab(o);
    const routerNs = plan.router!.netns;
    let bird: Promise<Bird> | undefined;
    const unregister = cleanupOnInterrupt(() => {
      const lab = loadLab(o.name);
      for (const d of lab?.state.daemons ?? []) {
        try {
          Deno.kill(d.pid, "SIGKILL");
        } catch { /* gone */ }
      }
      deleteLabNamespaces(o.name, lab?.state.namespaces ?? []);
    });
    let lab: Lab | undefined;
    try {
      // The router namespace exists once the daemons start: BIRD starts then, so lab up's wait
      // for every daemon's routes sees them arrive.
      const r = await labUp(o, (msg) => {
        if (!bird && msg.startsWith("started daemon") && netnsList().includes(routerNs)) {
          bird = startBird({ netns: `/run/netns/${routerNs}`, config: torConfig(plan) });
        }
      });
      lab = r.lab;
      assert(bird, "BIRD was never started");
      await bird;
      assert(r.ok, `connectivity matrix has failures:\n${upFailure(r)}`);
      const subnet = (n: (typeof plan.nodes)[number]) =>
        JSON.parse(Deno.readTextFileSync(n.leaseFile)).subnet as string;
      for (const node of lab.plan.nodes) {
        const routes = ipJson<RouteJ>(node.netns, "route", "show", "proto", "bgp");
        const want = lab.plan.nodes.filter((m) => m !== node).map((m) =>
          `${subnet(m)} via ${node.segment.gateway} dev eth0`
        ).sort();
        assertEquals(
          routes.map((x) => `${x.dst} via ${x.gateway} dev ${x.dev}`).sort(),
          want,
          `${node.name}'s proto bgp routes`,
        );
      }
      const routerRoutes = ipJson<RouteJ>(routerNs, "route", "show", "proto", "bird");
      assertEquals(routerRoutes.length, 4, "the router has every node's pod subnet");
    } finally {
      unregister();
      await (await bird?.catch(() => undefined))?.stop();
      const d = await labDown(o.name);
      assertEquals(d.errors, []);
      assertEquals(netnsList().filter((n) => n.startsWith(`${o.name}-`)), [], "namespaces left");
    }
  },
});

Deno.test({
  name:
    "two-subnets lab, bgp mesh with vxlan crossSubnet: plain routes on a segment, skein.1 across the router",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const o = labDefaults({
      name: `${testPrefix()}bv`,
      nodes: 4,
      podsPerNode: 1,
      backend: "bgp",
      topology: "two-subnets",
      bgp: { encapsulation: "vxlan", crossSubnet: true },
      leaseTtl: 30,
      reconcilePeriod: 1,
    });
    const unregister = cleanupOnInterrupt(() => {
      const lab = loadLab(o.name);
      for (const d of lab?.state.daemons ?? []) {
        try {
          Deno.kill(d.pid, "SIGKILL");
        } catch { /* gone */ }
      }
      deleteLabNamespaces(o.name, lab?.state.namespaces ?? []);
    });
    try {
      const r = await labUp(o);
      assert(r.ok, `connectivity matrix has failures:\n${upFailure(r)}`);
      const nodes = r.lab.plan.nodes;
      const subnet = (n: (typeof nodes)[number]) =>
        JSON.parse(Deno.readTextFileSync(n.leaseFile)).subnet as string;
      for (const node of nodes) {
        const routes = ipJson<RouteJ>(node.netns, "route", "show", "proto", "bgp");
        const want = nodes.filter((m) => m !== node).map((m) =>
          m.segment.netns === node.segment.netns
            ? `${subnet(m)} via ${m.ip} dev eth0`
            : `${subnet(m)} via ${subnet(m).split("/")[0]} dev skein.1 onlink`
        ).sort();
        assertEquals(
          routes.map((x) =>
            `${x.dst} via ${x.gateway} dev ${x.dev}${x.flags?.includes("onlink") ? " onlink" : ""}`
          ).sort(),
          want,
          `${node.name}'s proto bgp routes`,
        );
        const fdb = fdbOf(node.netns, "skein.1").filter((f) => f.dst).map((f) => f.dst).sort();
        assertEquals(
          fdb,
          nodes.filter((m) => m.segment.netns !== node.segment.netns).map((m) => m.ip).sort(),
          `${node.name}: VTEPs only behind the router`,
        );
      }
      // diagnose expects these routes (skein.1 across the router, the uplink on the segment),
      // and judges the VXLAN port only where traffic is encapsulated.
      const failed = async (to: string) =>
        (await labDiagnose(o.name, "n1-p1", to)).checks.filter((c) => c.status === "fail")
          .map((c) => `${c.id} [${c.node}] ${c.summary}`);
      assertEquals(await failed("n2-p1"), [], "across the router");
      assertEquals(await failed("n3-p1"), [], "on the segment");
      for (const n of [nodes[1]!, nodes[2]!]) {
        for (
          const cmd of [
            ["add", "table", "inet", "skbvtest"],
            ["add", "chain", "inet", "skbvtest", "in", "{ type filter hook input priority 0; }"],
            ["add", "rule", "inet", "skbvtest", "in", "udp", "dport", "8472", "drop"],
          ]
        ) {
          const r = await runCommand(["ip", "netns", "exec", n.netns, "nft", ...cmd]);
          assert(r.success, r.stderr);
        }
      }
      const across = await failed("n2-p1");
      assert(
        across.some((f) => f.startsWith("underlay.port [n2] n2's ruleset drops UDP 8472")),
        across.join("\n"),
      );
      assertEquals(await failed("n3-p1"), [], "the segment's traffic is not encapsulated");
      // A firewall dropping BGP: n2 (192.168.78.12) dials n1 (192.168.77.11), never the other
      // way, so on n2 it blocks nothing; on n1 it is named statically, before any hold timer.
      const rule = ["add", "rule", "inet", "skbvtest", "in", "tcp", "dport", "179", "drop"];
      const nft = (ns: string, ...cmd: string[]) =>
        runCommand(["ip", "netns", "exec", ns, "nft", ...cmd]);
      assert((await nft(nodes[1]!.netns, ...rule)).success);
      const onDialer = await failed("n2-p1");
      assert(!onDialer.some((f) => f.startsWith("bgp.port")), onDialer.join("\n"));
      assert((await nft(nodes[0]!.netns, "add", "table", "inet", "skbvtest")).success);
      assert(
        (await nft(
          nodes[0]!.netns,
          ...["add", "chain", "inet", "skbvtest", "in", "{ type filter hook input priority 0; }"],
        )).success,
      );
      assert((await nft(nodes[0]!.netns, ...rule)).success);
      const bgp = await failed("n2-p1");
      assert(
        bgp.some((f) => f.startsWith("bgp.port [n1] n1's ruleset drops BGP (TCP 179) from n2")),
        bgp.join("\n"),
      );
    } finally {
      unregister();
      const d = await labDown(o.name);
      assertEquals(d.errors, []);
      assertEquals(netnsList().filter((n) => n.startsWith(`${o.name}-`)), [], "namespaces left");
    }
  },
});
