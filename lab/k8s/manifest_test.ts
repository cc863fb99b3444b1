import { assertEquals, assertThrows } from "../../testing/assert.ts";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { buildConfig } from "../../daemon/config.ts";
import { labManifest, ManifestError, SKEIN_MANIFEST_URL } from "./manifest.ts";

const OPTS = {
  image: "skein.local/skein:0.1.0",
  network: "10.250.0.0/16",
  subnetLen: 24,
  backend: "host-gw",
  iface: "eth0",
  apiserver: { host: "192.168.77.2", port: 6443 },
};

// deno-lint-ignore no-explicit-any
type Obj = Record<string, any>;

function objects(text: string): Obj[] {
  return parseAllDocuments(text).map((d) => d.toJS()).filter((o) => o);
}

Deno.test("labManifest() changes only image, pull policy, network, backend and iface; adds the apiserver's address", () => {
  const original = Deno.readTextFileSync(SKEIN_MANIFEST_URL);
  const before = objects(original);
  const after = objects(labManifest(original, OPTS));
  const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
  const added = after.filter((o) => !before.some((b) => key(b) === key(o)));
  assertEquals(added.map(key), ["ConfigMap/skein/kubernetes-services-endpoint"]);
  assertEquals(added[0]!.data, {
    KUBERNETES_SERVICE_HOST: "192.168.77.2",
    KUBERNETES_SERVICE_PORT: "6443",
  });
  // The endpoint ConfigMap comes right after the Namespace it lives in.
  assertEquals(after.map((o) => o.kind).slice(0, 2), ["Namespace", "ConfigMap"]);
  for (const b of before) {
    const a = after.find((o) => key(o) === key(b))!;
    if (b.kind === "ConfigMap") {
      const net = JSON.parse(a.data["net-conf.json"]);
      assertEquals(net, { Network: "10.250.0.0/16", SubnetLen: 24, Backend: { Type: "host-gw" } });
      const cfg = buildConfig(a.data["daemon.yaml"], {}, { hostname: "n1" });
      assertEquals([cfg.network, cfg.backend.type, cfg.iface], [
        "10.250.0.0/16",
        "host-gw",
        "eth0",
      ]);
      assertEquals(cfg.datastore.type, "kubernetes");
      const d = parseYaml(a.data["daemon.yaml"]);
      const o = parseYaml(b.data["daemon.yaml"]);
      assertEquals({ ...d, network: 0, backend: 0, iface: 0 }, {
        ...o,
        network: 0,
        backend: 0,
        iface: 0,
      });
      assertEquals(a.data["10-skein.conflist"], b.data["10-skein.conflist"]);
    } else if (b.kind === "DaemonSet") {
      const spec = a.spec.template.spec;
      for (const c of [...spec.initContainers, ...spec.containers]) {
        assertEquals([c.image, c.imagePullPolicy], [OPTS.image, "Never"]);
      }
      const strip = (ds: Obj) => {
        const s = structuredClone(ds.spec.template.spec);
        for (const c of [...s.initContainers, ...s.containers]) {
          delete c.image;
          delete c.imagePullPolicy;
        }
        return s;
      };
      assertEquals(strip(a), strip(b));
    } else {
      assertEquals(a, b, key(b));
    }
  }
});

Deno.test("labManifest() refuses a manifest without the objects it changes", () => {
  assertThrows(
    () => labManifest("kind: Namespace\nmetadata: {name: x}\n", OPTS),
    ManifestError,
    "no ConfigMap skein-config",
  );
  assertThrows(() => labManifest("a: [", OPTS), ManifestError, "not YAML");
});
