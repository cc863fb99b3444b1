import { stringify } from "yaml";
import { assertEquals } from "../testing/assert.ts";
import { buildConfig } from "../daemon/config.ts";
import { daemonConfig, probe } from "./daemons.ts";
import { labDefaults, planLab } from "./plan.ts";
import { podNetconf } from "./pods.ts";

Deno.test("daemonConfig() is a config the daemon accepts (file datastore)", () => {
  const plan = planLab(
    labDefaults({ name: "t", backend: "host-gw", leaseTtl: 9, reconcilePeriod: 2 }),
    "/r",
  );
  const node = plan.nodes[1]!;
  const c = buildConfig(stringify(daemonConfig(plan, node, "127.0.0.1:4000")));
  assertEquals(c.name, "t-n2");
  assertEquals(c.netns, "/run/netns/t-n2");
  assertEquals(c.backend.type, "host-gw");
  assertEquals(c.datastore.type, "file");
  assertEquals(c.datastore.dir, "/r/t/store");
  assertEquals(c.datastore.ttl, 9);
  assertEquals(c.reconcileInterval, 2);
  assertEquals(c.leaseFile, "/r/t/nodes/n2/subnet.json");
  assertEquals(c.listen, "127.0.0.1:4000");
  assertEquals(c.iface, "eth0");
});

Deno.test("daemonConfig() is a config the daemon accepts (etcd datastore)", () => {
  const plan = planLab(
    labDefaults({ name: "e", datastore: "etcd", etcdEndpoints: ["http://127.0.0.1:2379"] }),
    "/r",
  );
  const c = buildConfig(stringify(daemonConfig(plan, plan.nodes[0]!, "127.0.0.1:4001")));
  assertEquals(c.datastore.type, "etcd");
  assertEquals(c.datastore.endpoints, ["http://127.0.0.1:2379"]);
  assertEquals(c.datastore.prefix, "/skein-lab/e/network");
  assertEquals(c.backend.type, "vxlan");
});

Deno.test("daemonConfig(): the --bgp-* flags as the bgp backend's fields (peers with explicit rules)", () => {
  const plan = planLab(
    labDefaults({
      name: "b",
      backend: "bgp",
      topology: "two-subnets",
      bgp: {
        asNumber: 65010,
        mesh: false,
        peers: [{ address: "192.168.77.1", asNumber: 65000 }],
        encapsulation: "vxlan",
        crossSubnet: true,
      },
    }),
    "/r",
  );
  const c = buildConfig(stringify(daemonConfig(plan, plan.nodes[0]!, "127.0.0.1:4002")));
  const b = c.backend as Record<string, unknown>;
  assertEquals([b.type, b.asNumber, b.nodeToNodeMesh, b.encapsulation, b.crossSubnet], [
    "bgp",
    65010,
    false,
    "vxlan",
    true,
  ]);
  assertEquals(b.peers, [{
    address: "192.168.77.1",
    asNumber: 65000,
    import: "all",
    export: "all",
  }]);
});

Deno.test("podNetconf() asks for bridge mode with IPAM from the node lease file", () => {
  const plan = planLab(labDefaults({ name: "t" }), "/r");
  const nc = podNetconf(plan.nodes[0]!, 1450);
  assertEquals(nc.type, "skein");
  assertEquals(nc.mode, "bridge");
  assertEquals(nc.mtu, 1450);
  assertEquals(nc.ipam, {
    type: "skein",
    subnet: "auto",
    leaseFile: "/r/t/nodes/n1/subnet.json",
    dataDir: "/r/t/nodes/n1/ipam",
  });
  assertEquals("mtu" in podNetconf(plan.nodes[0]!), false);
});

Deno.test("podNetconf() is a netconf the CNI plugin and IPAM accept", async () => {
  const { parseNetConf } = await import("../cni/netconf.ts");
  const { parseIpamConfigSync } = await import("../cni/ipam/config.ts");
  const dir = Deno.makeTempDirSync();
  try {
    const plan = planLab(labDefaults({ name: "t" }), dir);
    const node = plan.nodes[0]!;
    Deno.mkdirSync(node.dir, { recursive: true });
    Deno.writeTextFileSync(
      node.leaseFile,
      JSON.stringify({
        node: "t-n1",
        network: "10.244.0.0/16",
        subnet: "10.244.3.0/24",
        mtu: 1450,
      }),
    );
    const nc = podNetconf(node, 1450);
    const parsed = parseNetConf(new TextEncoder().encode(JSON.stringify(nc)));
    assertEquals(parsed.mode, "bridge");
    assertEquals(parsed.mtu, 1450);
    const ipam = parseIpamConfigSync(nc);
    assertEquals(ipam.dataDir, node.ipamDir);
    assertEquals(JSON.stringify(ipam.ranges).includes("10.244.3.0/24"), true);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("probe(): a daemon that accepts but never answers (SIGSTOPped) reads 'no answer within N ms'", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of l) held.push(c);
  })();
  try {
    const h = await probe(`127.0.0.1:${(l.addr as Deno.NetAddr).port}`, "/readyz", 100);
    assertEquals(h, { ok: false, body: "no answer within 100 ms" });
  } finally {
    l.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
  }
});
