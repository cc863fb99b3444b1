/**
 * The configuration examples of README.md, parsed verbatim by the parsers that read them on a
 * node, so the documentation cannot drift from the code: the daemon's YAML through
 * buildConfig() (the parser behind `skein daemon --config`), the CNI conflist's skein plugin
 * through parseNetConf() and its IPAM section through parseIpamConfigSync().
 *
 * @module
 */
import { parseAllDocuments } from "yaml";
import { assertEquals } from "./testing/assert.ts";
import { buildConfig } from "./daemon/config.ts";
import { parseNetConf } from "./cni/netconf.ts";
import { parseIpamConfigSync } from "./cni/ipam/mod.ts";

const README = new URL("./README.md", import.meta.url);

/** Every fenced block of `lang` in the markdown text, in order. */
function fencedBlocks(markdown: string, lang: string): string[] {
  const re = new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```$", "gm");
  return [...markdown.matchAll(re)].map((m) => m[1]!);
}

Deno.test("README.md: the daemon YAML example is a valid skein daemon config", async () => {
  const blocks = fencedBlocks(await Deno.readTextFile(README), "yaml");
  assertEquals(blocks.length, 1, "README.md has one yaml block");
  const cfg = buildConfig(blocks[0], {}, { hostname: "node1" });
  assertEquals(cfg.network, "10.244.0.0/16");
  assertEquals(cfg.backend.type, "vxlan");
  assertEquals(cfg.datastore.type, "etcd");
  assertEquals(cfg.datastore.endpoints, ["http://10.0.0.1:2379"]);
  assertEquals(cfg.iface, "eth0");
  assertEquals(cfg.ipMasq, true);
  assertEquals(cfg.listen, "127.0.0.1:9472", "README: serves on 127.0.0.1:9472");
  assertEquals(cfg.leaseFile, "/run/skein/subnet.json", "README: writes /run/skein/subnet.json");
  assertEquals(cfg.subnetEnv, "/run/skein/subnet.env", "README: and /run/skein/subnet.env");
});

Deno.test("README.md: the CNI conflist example parses as skein would read it", async () => {
  const blocks = fencedBlocks(await Deno.readTextFile(README), "json");
  assertEquals(blocks.length, 1, "README.md has one json block");
  const list = JSON.parse(blocks[0]!) as {
    cniVersion: string;
    name: string;
    plugins: Record<string, unknown>[];
  };
  const skein = list.plugins.find((p) => p.type === "skein")!;
  // libcni hands each plugin of a list its own config with the list's name and cniVersion.
  const plugin = { cniVersion: list.cniVersion, name: list.name, ...skein };
  const conf = parseNetConf(new TextEncoder().encode(JSON.stringify(plugin)));
  assertEquals(
    [conf.mode, conf.bridge, conf.isGateway, conf.isDefaultGateway],
    ["bridge", "cni0", true, true],
  );
  // `"subnet": "auto"` reads the daemon's lease file; none here, so the error waits for ADD.
  const ipam = parseIpamConfigSync({
    ...plugin,
    ipam: { ...(skein.ipam as object), leaseFile: "/nonexistent/subnet.json" },
  });
  assertEquals(ipam.networkName, "skein");
  assertEquals(ipam.leaseError?.code, 11, "no lease file yet: try again later, at ADD");
});

Deno.test("backends/bgp/README.md: the bgp backend YAML example is a valid daemon config", async () => {
  const md = await Deno.readTextFile(new URL("./backends/bgp/README.md", import.meta.url));
  const blocks = fencedBlocks(md, "yaml");
  assertEquals(blocks.length, 1, "backends/bgp/README.md has one yaml block");
  const cfg = buildConfig(`network: 10.244.0.0/16\n${blocks[0]}`, {}, { hostname: "node1" });
  assertEquals(cfg.backend.type, "bgp");
});

Deno.test("deploy/kubernetes/skein.yaml: the ConfigMap's daemon.yaml and conflist parse", async () => {
  const text = await Deno.readTextFile(new URL("./deploy/kubernetes/skein.yaml", import.meta.url));
  const cm = parseAllDocuments(text).map((d) => d.toJS()).find((o) =>
    o?.kind === "ConfigMap" && o.metadata?.name === "skein-config"
  ) as { data: Record<string, string> };
  const cfg = buildConfig(cm.data["daemon.yaml"], {}, { hostname: "node1" });
  assertEquals(cfg.datastore.type, "kubernetes");
  assertEquals(cfg.network, JSON.parse(cm.data["net-conf.json"]!).Network, "network = net-conf's");
  const list = JSON.parse(cm.data["10-skein.conflist"]!) as {
    cniVersion: string;
    name: string;
    plugins: Record<string, unknown>[];
  };
  const skein = list.plugins.find((p) => p.type === "skein")!;
  const conf = parseNetConf(
    new TextEncoder().encode(
      JSON.stringify({ cniVersion: list.cniVersion, name: list.name, ...skein }),
    ),
  );
  assertEquals(conf.mode, "bridge");
});
