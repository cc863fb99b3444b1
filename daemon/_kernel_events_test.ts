import { assertEquals } from "../testing/assert.ts";
import type { KernelEvent } from "../net/monitor.ts";
import type { Route } from "../net/types.ts";
import { kernelEventReason, type WatchedObjects } from "./_kernel_events.ts";

const w: WatchedObjects = {
  uplink: { name: "eth0", index: 2 },
  device: { name: "skein.1", index: 7 },
  routesTo: (dst) => dst === "10.244.3.0/24",
};

function route(r: Partial<Route>): KernelEvent {
  return {
    kind: "route",
    op: "del",
    route: {
      family: 4,
      dst: "10.244.9.0/24",
      table: 254,
      protocol: 2,
      scope: "universe",
      type: "unicast",
      onlink: false,
      ...r,
    },
  };
}

function link(index: number, name: string, op: "new" | "del" = "new"): KernelEvent {
  return {
    kind: "link",
    op,
    link: { index, name, mtu: 1500, flags: 0, up: false, operState: "down" },
  };
}

Deno.test("kernelEventReason(): skein's routes, its device, the uplink and forwarding matter", () => {
  const cases: [KernelEvent, string | undefined][] = [
    [route({ protocol: 100, gateway: "10.244.9.0" }), "route"],
    [route({ protocol: 100 }), "route"], // gateway or not: proto 100 is the daemon's
    [route({ protocol: 100, dst: "10.244.1.5/32" }), undefined], // an old CNI plugin's pod route
    [route({ protocol: 101, dst: "10.244.1.6/32" }), undefined], // the CNI plugin's pod route
    [route({ protocol: 4, gateway: "192.168.1.1", dst: "10.244.3.0/24" }), "route"],
    [route({ protocol: 4, gateway: "192.168.1.1" }), undefined],
    [link(7, "skein.1"), "link"],
    [link(9, "skein.1"), "link"], // recreated: new index, same name
    [link(2, "eth0", "del"), "link"],
    [link(12, "veth1234"), undefined],
    [{ kind: "addr", op: "del", addr: addr(2) }, "addr"],
    [{ kind: "addr", op: "new", addr: addr(12) }, undefined],
    [{ kind: "neigh", op: "del", neigh: neigh(7) }, "neigh"],
    [{ kind: "neigh", op: "new", neigh: neigh(2) }, undefined], // ARP on the uplink
    [{ kind: "fdb", op: "new", fdb: fdb(7) }, "fdb"],
    [{ kind: "fdb", op: "new", fdb: fdb(12) }, undefined],
    [
      { kind: "netconf", op: "new", netconf: { family: 4, ifindex: -1, forwarding: false } },
      "forwarding",
    ],
    [
      { kind: "netconf", op: "new", netconf: { family: 4, ifindex: 12, forwarding: true } },
      undefined,
    ],
    [{ kind: "lost", reason: "ENOBUFS" }, "lost"],
  ];
  for (const [ev, want] of cases) assertEquals(kernelEventReason(ev, w), want, JSON.stringify(ev));
  // host-gw: no device, so no neighbour or FDB entry is skein's.
  assertEquals(
    kernelEventReason({ kind: "fdb", op: "new", fdb: fdb(7) }, { uplink: w.uplink }),
    undefined,
  );
});

function addr(index: number) {
  return { index, cidr: "192.168.1.10/24", family: 4 as const, scope: "universe", flags: 0 };
}
function neigh(index: number) {
  return { index, family: 4 as const, ip: "10.244.3.0", state: "permanent", flags: 0 };
}
function fdb(index: number) {
  return { index, mac: "0a:00:00:00:00:03", self: true, master: false, state: "permanent" };
}
