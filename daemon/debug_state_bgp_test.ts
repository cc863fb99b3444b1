import { assertEquals } from "../testing/assert.ts";
import { buildDebugState } from "./debug_state.ts";
import type { DaemonDebugInfo } from "./daemon.ts";

Deno.test("/debug/state: a backend that reports its own desired routes (bgp's RIB) is believed", () => {
  const info = {
    config: { name: "n1", backend: { type: "bgp" }, reconcileInterval: 5 },
    readiness: {},
    leases: [],
    lease: {
      subnet: "10.244.1.0/24",
      publicIP: "192.168.77.11",
      expiration: "2099-01-01T00:00:00Z",
    },
    uplink: { name: "eth0", index: 2, mtu: 1500, publicIP: "192.168.77.11" },
    backendState: {
      desired: [{ dst: "10.50.0.0/16", gateway: "192.168.77.254", dev: 2 }],
      bgp: {},
    },
  } as unknown as DaemonDebugInfo;
  const handle = {
    linkList: () => [{ index: 2, name: "eth0" }],
    routeList: () => [],
    neighList: () => [],
    fdbList: () => [],
    linkFind: () => undefined,
  };
  const s = buildDebugState(info, { handle: handle as never, sysctl: () => undefined });
  assertEquals(s.desired, [{ dst: "10.50.0.0/16", gateway: "192.168.77.254", dev: "eth0" }]);
});
