import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { FakeHandle } from "../testing/fake_handle.ts";
import { createBackend } from "../backends/backend.ts";
import type { Lease, LeaseStore, NetworkConfig } from "../store/types.ts";
import { buildConfig } from "./config.ts";
import { dryRun, dryRunJson, formatDryRun } from "./dry_run.ts";

function lease(n: number, extra: Partial<Lease> = {}): Lease {
  return {
    subnet: `10.244.${n}.0/24`,
    publicIP: `192.168.1.${10 + n}`,
    node: `node${n}`,
    backendType: "host-gw",
    expiration: "2099-01-01T00:00:00Z",
    ...extra,
  };
}

/** A datastore that can only be listed: any other call fails the test. */
function listOnly(leases: Lease[], net: NetworkConfig): LeaseStore {
  const no = () => {
    throw new Error("a dry run must only list the datastore");
  };
  return {
    type: "fake",
    getNetworkConfig: () => Promise.resolve(net),
    putNetworkConfigIfAbsent: no,
    acquire: no,
    renew: no,
    list: () => Promise.resolve({ leases, revision: "1" as never }),
    watch: no,
    release: no,
    close: () => Promise.resolve(),
  };
}

function node(): FakeHandle {
  const h = new FakeHandle();
  h.linkAdd({ kind: "dummy", name: "eth0", mtu: 1500, up: true });
  h.addrAdd({ dev: "eth0", cidr: "192.168.1.11/24" });
  h.ops.length = 0;
  return h;
}

Deno.test("dryRun() plans from the datastore's leases, changes nothing, skips leases outside the network", async () => {
  const h = node();
  const cfg = buildConfig("network: 10.244.0.0/16\nbackend: {type: host-gw}\niface: eth0", {}, {
    hostname: "node1",
  });
  const net = { network: "10.244.0.0/16", subnetLen: 24, backend: { type: "host-gw" } };
  const store = listOnly([lease(1), lease(2), lease(3, { subnet: "10.99.3.0/24" })], net);
  const r = await dryRun({
    config: cfg,
    store,
    openHandle: () => h,
    createBackend: (o) => createBackend({ ...o, sysctl: { get: () => "0", set: () => {} } }),
  });
  assertEquals(h.ops, []);
  assertEquals(r.lease?.subnet, "10.244.1.0/24");
  assertEquals(r.plan.ops.map((op) => [op.kind, op.action, op.key, op.reason]), [
    ["route", "replace", "10.244.2.0/24|0", "missing"],
  ]);
  assertEquals(r.plan.skipped.map((s) => [s.subnet, s.code]), [["10.99.3.0/24", "refused"]]);
  const text = formatDryRun(r);
  assertStringIncludes(text, "lease: 10.244.1.0/24 (in the datastore until 2099");
  assertStringIncludes(
    text,
    "  replace route 10.244.2.0/24 via 192.168.1.12 dev eth0 (missing; node2 10.244.2.0/24)",
  );
  assertStringIncludes(text, "dry run: nothing was changed");
  const j = dryRunJson(r) as { ops: { owner: unknown }[]; skipped: unknown[] };
  assertEquals(j.ops[0]?.owner, { subnet: "10.244.2.0/24", node: "node2" });
  assert(JSON.stringify(j).length > 0);
});

Deno.test("dryRun() without a lease says the daemon would acquire one", async () => {
  const h = node();
  const cfg = buildConfig("network: 10.244.0.0/16\nbackend: {type: vxlan}\niface: eth0", {}, {
    hostname: "node1",
  });
  const r = await dryRun({
    config: cfg,
    openHandle: () => h,
    createBackend: (o) => createBackend({ ...o, sysctl: { get: () => "0", set: () => {} } }),
  });
  assertEquals(h.ops, []);
  assertEquals([r.lease, r.leases], [undefined, 0]);
  assertEquals(r.plan.ops.map((op) => [op.kind, op.key]), [["link", "skein.1"]]);
  assertStringIncludes(formatDryRun(r), "the daemon would acquire one");
  assertStringIncludes(formatDryRun(r), "create link skein.1 type vxlan");
});
