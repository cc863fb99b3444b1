import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { FakeHandle } from "../testing/fake_handle.ts";
import { migrateLegacyRoutes } from "./migrate.ts";

function node(): FakeHandle {
  const h = new FakeHandle();
  h.linkAdd({ kind: "dummy", name: "eth0", up: true });
  h.addrAdd({ dev: "eth0", cidr: "192.168.1.11/24" });
  h.linkAdd({ kind: "dummy", name: "sk0123", up: true });
  h.ops.length = 0;
  return h;
}

Deno.test("migrateLegacyRoutes() re-tags old CNI pod routes 101 in place, nothing else", () => {
  const h = node();
  h.routeAdd({ dst: "10.244.1.5/32", dev: "sk0123", scope: "link", protocol: 100 });
  h.routeAdd({ dst: "fd00:10:0:1::5/128", dev: "sk0123", protocol: 100 });
  h.routeAdd({ dst: "10.244.2.0/24", gateway: "192.168.1.12", dev: "eth0", protocol: 100 });
  h.routeAdd({ dst: "10.244.1.6/32", dev: "sk0123", scope: "link", protocol: 101 });
  h.ops.length = 0;
  const r = migrateLegacyRoutes(h);
  assertEquals(r, { migrated: ["10.244.1.5/32", "fd00:10:0:1::5/128"], errors: [] });
  // One replace per route: never a delete.
  assertEquals(h.ops, ["route.replace 10.244.1.5/32", "route.replace fd00:10:0:1::5/128"]);
  const byDst = Object.fromEntries(h.routes.map((x) => [x.dst, x]));
  assertEquals(byDst["10.244.1.5/32"]?.protocol, 101);
  assertEquals(byDst["10.244.1.5/32"]?.scope, "link");
  assertEquals(byDst["10.244.1.5/32"]?.oif, h.linkFind("sk0123")?.index);
  assertEquals(byDst["fd00:10:0:1::5/128"]?.protocol, 101);
  assertEquals(byDst["10.244.2.0/24"]?.protocol, 100);
  assertEquals(h.routes.length, 4);
  // A second start finds nothing to do.
  h.ops.length = 0;
  assertEquals(migrateLegacyRoutes(h), { migrated: [], errors: [] });
  assertEquals(h.ops, []);
});

Deno.test("migrateLegacyRoutes() reports a route it cannot move and goes on", () => {
  const h = node();
  h.routeAdd({ dst: "10.244.1.5/32", dev: "sk0123", scope: "link", protocol: 100 });
  h.routeAdd({ dst: "10.244.1.7/32", dev: "sk0123", scope: "link", protocol: 100 });
  h.failOn(/^route\.replace 10\.244\.1\.5/, "EINVAL");
  const warned: string[] = [];
  const log = {
    debug() {},
    info() {},
    warn: (m: string) => void warned.push(m),
    error() {},
  };
  const r = migrateLegacyRoutes(h, log);
  assertEquals(r.migrated, ["10.244.1.7/32"]);
  assertEquals(r.errors.length, 1);
  assertStringIncludes(r.errors[0]!, "Cannot move pod route 10.244.1.5/32 to protocol 101");
  assertEquals(warned, r.errors);
  assertEquals(h.routes.find((x) => x.dst === "10.244.1.5/32")?.protocol, 100);
});
