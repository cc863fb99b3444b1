import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { FileStore } from "../store/file.ts";
import { readStore } from "./store_read.ts";

Deno.test("readStore(): a record the store cannot decode is reported (skipped), the others listed", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-store-read-" });
  try {
    const s = new FileStore({ dir });
    await s.putNetworkConfigIfAbsent({
      network: "10.244.0.0/16",
      subnetLen: 24,
      backend: { type: "vxlan" },
    });
    await s.acquire({ node: "n1", publicIP: "192.168.1.1", backendType: "vxlan", ttlSeconds: 600 });
    await s.close();
    Deno.writeTextFileSync(`${dir}/subnets/10.244.3.0-24.json`, '{"Subnet":"10.244.3.0/24",');
    const view = await readStore({ type: "file", dir }, 2000);
    assertEquals(view.leases?.map((l) => l.node), ["n1"]);
    assertEquals(view.skipped?.length, 1);
    assertStringIncludes(view.skipped![0]!, "10.244.3.0-24.json");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
