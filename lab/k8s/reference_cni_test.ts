import { assertEquals } from "../../testing/assert.ts";
import {
  copyNodePlugins,
  hostGwRoutes,
  referenceConflist,
  writeReferenceConflist,
} from "./reference_cni.ts";

Deno.test("referenceConflist(): bridge cni0 as gateway with host-local over the node's podCIDR, then portmap", () => {
  const c = JSON.parse(referenceConflist("10.244.3.0/24"));
  assertEquals(c.cniVersion, "1.0.0");
  assertEquals(c.plugins.map((p: { type: string }) => p.type), ["bridge", "portmap"]);
  assertEquals(c.plugins[0].ipam, { type: "host-local", ranges: [[{ subnet: "10.244.3.0/24" }]] });
  assertEquals([c.plugins[0].bridge, c.plugins[0].isGateway, c.plugins[0].isDefaultGateway], [
    "cni0",
    true,
    true,
  ]);
});

Deno.test("hostGwRoutes(): every other node's podCIDR via its address; nodes without one are left out", () => {
  const nodes = [
    { name: "a", address: "192.168.77.11", podCidr: "10.244.0.0/24" },
    { name: "b", address: "192.168.77.12", podCidr: "10.244.1.0/24" },
    { name: "c", address: "192.168.77.13" },
  ];
  assertEquals(hostGwRoutes(nodes[0]!, nodes), [{
    dst: "10.244.1.0/24",
    gateway: "192.168.77.12",
  }]);
  assertEquals(hostGwRoutes(nodes[2]!, nodes).length, 2);
});

Deno.test("copyNodePlugins() and writeReferenceConflist() write into the node's own paths", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/src`);
    Deno.writeTextFileSync(`${dir}/src/bridge`, "#!/bin/sh\n");
    const node = { dir: `${dir}/n1` };
    copyNodePlugins(node, ["bridge"], `${dir}/src`);
    copyNodePlugins(node, ["bridge"], `${dir}/src`); // again: nothing to do
    const st = Deno.statSync(`${dir}/n1/fs/opt/cni/bin/bridge`);
    assertEquals([st.size, st.mode! & 0o777], [10, 0o755]);
    const path = writeReferenceConflist({
      name: "n1",
      netns: "x",
      mountNs: "x",
      address: "192.168.77.11",
      dir: `${dir}/n1`,
      containerdSocket: "/run/containerd/containerd.sock",
      podCidr: "10.244.7.0/24",
    });
    assertEquals(path, `${dir}/n1/fs/etc/cni/net.d/10-bridge.conflist`);
    assertEquals(
      JSON.parse(Deno.readTextFileSync(path)).plugins[0].ipam.ranges[0][0].subnet,
      "10.244.7.0/24",
    );
    assertEquals([...Deno.readDirSync(`${dir}/n1/fs/etc/cni/net.d`)].length, 1);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
