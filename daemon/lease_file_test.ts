import { assertEquals } from "../testing/assert.ts";
import {
  gatewayForm,
  leaseFileText,
  readPreviousSubnet,
  subnetEnvText,
  writeLeaseFiles,
} from "./lease_file.ts";

const v4 = {
  node: "n1",
  network: "10.244.0.0/16",
  subnet: "10.244.1.0/24",
  mtu: 1450,
  ipMasq: true,
  backend: "vxlan",
};

Deno.test("subnet.env is flannel's format (FLANNEL_SUBNET in gateway form)", () => {
  assertEquals(
    subnetEnvText(v4),
    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  assertEquals(
    subnetEnvText({
      ...v4,
      network6: "fd00:10:244::/56",
      subnet6: "fd00:10:244:1::/64",
      ipMasq: false,
    }),
    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\n" +
      "FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
  );
  assertEquals(gatewayForm("10.244.7.0/24"), "10.244.7.1/24");
});

Deno.test("the JSON lease file has the fields the CNI plugin reads", () => {
  assertEquals(JSON.parse(leaseFileText(v4)), v4);
  const ds = JSON.parse(
    leaseFileText({ ...v4, network6: "fd00::/56", subnet6: "fd00:0:0:1::/64" }),
  );
  assertEquals(Object.keys(ds), [
    "node",
    "network",
    "subnet",
    "network6",
    "subnet6",
    "mtu",
    "ipMasq",
    "backend",
  ]);
});

Deno.test("writeLeaseFiles() creates the directory, replaces atomically, leaves no temp files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths = {
      leaseFile: `${dir}/run/skein/subnet.json`,
      subnetEnv: `${dir}/run/skein/subnet.env`,
    };
    writeLeaseFiles(v4, paths);
    writeLeaseFiles({ ...v4, subnet: "10.244.2.0/24" }, paths);
    assertEquals(readPreviousSubnet(paths.leaseFile), "10.244.2.0/24");
    assertEquals([...Deno.readDirSync(`${dir}/run/skein`)].map((e) => e.name).sort(), [
      "subnet.env",
      "subnet.json",
    ]);
    assertEquals(readPreviousSubnet(`${dir}/nope.json`), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
