/**
 * Cross-subnet (root): `backend.directRouting` for vxlan and ipip, and `skein lab up --topology
 * two-subnets`, against the real kernel with `ip -j`/`bridge -j` as the oracle.
 *
 * - one namespace: a vxlan peer that moves off-link and back has its route moved between eth0
 *   and skein.1, its neighbour and FDB entry added and removed with it;
 * - a 4-node two-subnets lab with vxlan directRouting: same-segment peers get host-gw routes
 *   (via node IP dev eth0, proto 100), cross-segment peers vxlan routes; the full ping matrix
 *   passes; `lab status`/`lab ping` work, `lab down` leaves nothing;
 *   `lab diagnose` names a router that stops forwarding or drops the VXLAN packets, and a segment
 *   that drops what comes from the router (lab.router, lab.segment);
 * - the same lab with host-gw: cross-segment peers are refused with the reason, in the daemon's
 *   report and in `skein lab diagnose`;
 * - ipip live: this kernel has no ipip module, so the test says why and skips (ipip's plan and
 *   netlink bytes are unit-tested in backends/direct_routing_test.ts and _golden_test.ts).
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { openHandle } from "../net/mod.ts";
import { netnsList } from "../net/mod.ts";
import { createBackend } from "../backends/mod.ts";
import {
  type Lab,
  labDefaults,
  labDiagnose,
  labDown,
  labUp,
  loadLab,
  summarize,
} from "../lab/mod.ts";
import { deleteLabNamespaces } from "../lab/topology.ts";
import { cleanupOnInterrupt, testPrefix } from "./_netns.ts";
import { skein, withLab } from "./_diag_lab.ts";
import { fdbOf, inNamespaces, ipJson, ipn, mkLease, skeinRoutes } from "./backends_helpers.ts";

const isRoot = Deno.uid() === 0;
const opts = { ignore: !isRoot, sanitizeResources: false, sanitizeOps: false };

/** eth0 (a veth whose peer stays in the namespace) with 192.168.1.11/24. */
function makeNode(ns: string): { name: string; index: number; mtu: number } {
  ipn(
    ns,
    ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"],
    ["link", "set", "eth0p", "up"],
    ["link", "set", "eth0", "up"],
    ["link", "set", "lo", "up"],
    ["addr", "add", "192.168.1.11/24", "dev", "eth0"],
  );
  const [l] = ipJson<{ ifindex: number; mtu: number }>(ns, "link", "show", "eth0");
  return { name: "eth0", index: l!.ifindex, mtu: l!.mtu };
}

Deno.test(
  "vxlan directRouting: a peer moving off-link and back swaps route, neighbour and FDB entry",
  opts,
  async () => {
    await inNamespaces(["dr"], ({ dr }) => {
      const ns = dr!;
      const uplink = makeNode(ns);
      const stateDir = Deno.makeTempDirSync({ prefix: "skein-dr-" });
      try {
        using handle = openHandle({ netns: ns });
        const b = createBackend({
          type: "vxlan",
          handle,
          netns: ns,
          uplink,
          publicIP: "192.168.1.11",
          node: "node1",
          stateDir,
          settings: { directRouting: true },
        });
        b.setup();
        const self = mkLease(1, "192.168.1.11");
        const mac = { backendData: { vtepMAC: "0a:00:00:00:00:02" } };
        const near = mkLease(2, "192.168.1.12", mac);
        const far = mkLease(2, "192.168.2.12", mac);
        const neighs = () =>
          ipJson<{ dst: string; lladdr: string }>(ns, "neigh", "show", "dev", "skein.1")
            .map((n) => `${n.dst} ${n.lladdr}`);
        const fdbs = () =>
          fdbOf(ns, "skein.1").filter((f) => f.dst).map((f) => `${f.mac} ${f.dst}`);

        assertEquals(b.reconcile([near, self], self).errors, []);
        assertEquals(skeinRoutes(ns), ["10.244.2.0/24 via 192.168.1.12 dev eth0"]);
        assertEquals([neighs(), fdbs()], [[], []]);

        const off = b.reconcile([far, self], self);
        assertEquals(off.errors, []);
        assertEquals(skeinRoutes(ns), ["10.244.2.0/24 via 10.244.2.0 dev skein.1 onlink"]);
        assertEquals(neighs(), ["10.244.2.0 0a:00:00:00:00:02"]);
        assertEquals(fdbs(), ["0a:00:00:00:00:02 192.168.2.12"]);

        const back = b.reconcile([near, self], self);
        assertEquals(back.errors, []);
        assertEquals(back.removed, 2); // the neighbour and the FDB entry, as stale
        assertEquals(skeinRoutes(ns), ["10.244.2.0/24 via 192.168.1.12 dev eth0"]);
        assertEquals([neighs(), fdbs()], [[], []]);
        // Settled: the next run plans nothing.
        assertEquals(b.plan([near, self], self).ops, []);
      } finally {
        Deno.removeSync(stateDir, { recursive: true });
      }
    });
  },
);

Deno.test(
  "ipip directRouting live: runs where the kernel has ipip, else says why it skips",
  opts,
  async () => {
    await inNamespaces(["di"], ({ di }) => {
      const ns = di!;
      const uplink = makeNode(ns);
      using handle = openHandle({ netns: ns });
      const b = createBackend({
        type: "ipip",
        handle,
        netns: ns,
        uplink,
        publicIP: "192.168.1.11",
        node: "node1",
        settings: { directRouting: true },
      });
      try {
        b.setup();
      } catch (e) {
        const msg = (e as Error).message;
        assertStringIncludes(msg, "Cannot create ipip device skein-ipip");
        console.log(`  skipped live ipip directRouting: ${msg}`);
        return;
      }
      const self = mkLease(1, "192.168.1.11");
      const r = b.reconcile([mkLease(2, "192.168.1.12"), mkLease(3, "192.168.2.13")], self);
      assertEquals(r.errors, []);
      assertEquals(skeinRoutes(ns), [
        "10.244.2.0/24 via 192.168.1.12 dev eth0",
        "10.244.3.0/24 via 192.168.2.13 dev skein-ipip onlink",
      ]);
    });
  },
);

interface RouteJ {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string | number;
  flags?: string[];
}

/** The lease subnet of each lab node, by node name. */
function subnets(lab: Lab): Map<string, string> {
  return new Map(lab.plan.nodes.map((n) => [
    n.name,
    JSON.parse(Deno.readTextFileSync(n.leaseFile)).subnet as string,
  ]));
}

Deno.test(
  "two-subnets lab, vxlan directRouting: host-gw routes on a segment, vxlan across the router",
  opts,
  async () => {
    await withLab("xv", { nodes: 4, topology: "two-subnets", directRouting: true }, async (lab) => {
      const nets = subnets(lab);
      for (const node of lab.plan.nodes) {
        const routes = ipJson<RouteJ>(node.netns, "route", "show");
        const fdb = fdbOf(node.netns, "skein.1").filter((f) => f.dst).map((f) => f.dst).sort();
        const crossIPs: string[] = [];
        for (const peer of lab.plan.nodes) {
          if (peer === node) continue;
          const subnet = nets.get(peer.name)!;
          const r = routes.find((x) => x.dst === subnet);
          assert(r, `${node.name} has no route to ${peer.name}'s ${subnet}`);
          if (peer.segment.netns === node.segment.netns) {
            assertEquals([r.gateway, r.dev, r.flags ?? []], [peer.ip, "eth0", []], node.name);
          } else {
            assertEquals([r.gateway, r.dev, r.flags], [subnet.split("/")[0], "skein.1", [
              "onlink",
            ]]);
            crossIPs.push(peer.ip);
          }
          assert(r.protocol === 100 || r.protocol === "100", JSON.stringify(r));
        }
        // FDB entries only for the nodes behind the router.
        assertEquals(fdb, crossIPs.sort(), node.name);
      }
      const status = await skein(["lab", "status", "--name", lab.plan.options.name]);
      assertEquals(status.code, 0, status.stderr);
      assertStringIncludes(status.stdout, "topology two-subnets:");
      assertStringIncludes(status.stdout, `${lab.plan.options.name}-router`);
      assertStringIncludes(status.stdout, "192.168.78.0/24 (n2, n4)");
      const ping = await skein(["lab", "ping", "--name", lab.plan.options.name]);
      assertEquals(ping.code, 0, ping.stdout + ping.stderr);
      assertStringIncludes(ping.stdout, "12/12 pairs reachable");
      const diag = await skein([
        "lab",
        "diagnose",
        "--name",
        lab.plan.options.name,
        "n1-p1",
        "n3-p1",
      ]);
      assertEquals(diag.code, 0, diag.stdout);
      assertStringIncludes(diag.stdout, "vxlan.direct");
      await routerFaults(lab);
    });
  },
);

/**
 * The lab's router and segments are looked into (lab.router, lab.segment): a router that stops
 * forwarding or drops the VXLAN packets, and a segment bridge that drops what comes from the
 * router, are each named with the fix; the lab heals when they are undone.
 */
async function routerFaults(lab: Lab): Promise<void> {
  const name = lab.plan.options.name, router = lab.plan.router!.netns;
  const failed = async () =>
    (await labDiagnose(name, "n1-p1", "n2-p1")).checks.filter((c) => c.status === "fail");
  const sh = async (...args: string[]) => {
    const r = await new Deno.Command(args[0]!, { args: args.slice(1), stderr: "piped" }).output();
    assert(r.success, `${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  };
  const fault = async (
    inject: string[],
    undo: string[],
    id: string,
    summary: string,
    fix: string,
  ) => {
    await sh(...inject);
    try {
      const f = await failed();
      assertEquals(f[0]?.id, id, JSON.stringify(f, null, 1));
      assertStringIncludes(f[0]!.summary, summary);
      assertStringIncludes(f[0]!.fix ?? "", fix);
    } finally {
      await sh(...undo);
    }
  };
  const inRouter = ["ip", "netns", "exec", router];
  await fault(
    [...inRouter, "sysctl", "-qw", "net.ipv4.ip_forward=0"],
    [...inRouter, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
    "lab.router",
    "does not forward (net.ipv4.ip_forward=0)",
    `ip netns exec ${router} sysctl -w net.ipv4.ip_forward=1`,
  );
  await fault(
    [...inRouter, "iptables", "-A", "FORWARD", "-p", "udp", "--dport", "8472", "-j", "DROP"],
    [...inRouter, "iptables", "-F", "FORWARD"],
    "lab.router",
    "drops udp 8472 192.168.77.11 -> 192.168.78.12",
    `ip netns exec ${router} nft delete rule ip filter FORWARD handle`,
  );
  const lan2 = lab.plan.nodes[1]!.segment.netns;
  await fault(
    ["ip", "netns", "exec", lan2, "ebtables-nft", "-A", "FORWARD", "-i", "r0", "-j", "DROP"],
    ["ip", "netns", "exec", lan2, "ebtables-nft", "-F"],
    "lab.segment",
    "(from port r0 to n2)",
    `ip netns exec ${lan2} nft delete rule bridge filter FORWARD handle`,
  );
  assertEquals(await failed(), []);
}

Deno.test(
  "two-subnets lab, host-gw: cross-segment peers are refused with the reason, diagnose names it",
  opts,
  async () => {
    const o = labDefaults({
      name: `${testPrefix()}xh`,
      nodes: 4,
      podsPerNode: 1,
      backend: "host-gw",
      topology: "two-subnets",
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
      const seg = new Map(r.lab.plan.nodes.map((n) => [n.name, n.segment.netns]));
      const segOf = (i: number) => seg.get(r.pods[i]!.name.split("-")[0]!);
      // Exactly the same-segment pairs work.
      for (const m of r.results) {
        const same = segOf(m.from) === segOf(m.to);
        assertEquals(m.ok, same, `${r.pods[m.from]!.name} -> ${r.pods[m.to]!.name}`);
      }
      assertEquals(summarize(r.results).failed, 8);
      const n1 = r.lab.plan.nodes[0]!;
      assertEquals(skeinRoutes(n1.netns).length, 1); // only n3, on its own segment
      const log = Deno.readTextFileSync(n1.logFile);
      assertStringIncludes(log, "is not on a network connected to eth0");
      const diag = await skein(["lab", "diagnose", "--name", o.name, "n1-p1", "n2-p1"]);
      assertEquals(diag.code, 1, diag.stdout);
      assertStringIncludes(diag.stdout, "route.skipped");
      assertStringIncludes(diag.stdout, "192.168.78.12 is not on a network connected to eth0");
      assertStringIncludes(diag.stdout, "backend: {type: vxlan, directRouting: true}");
      assertStringIncludes(diag.stdout, `in ${n1.configFile} set`);
    } finally {
      unregister();
      const d = await labDown(o.name);
      assertEquals(d.errors, []);
      assertEquals(netnsList().filter((n) => n.startsWith(`${o.name}-`)), [], "namespaces left");
    }
  },
);
