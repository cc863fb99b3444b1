/**
 * Integration (root): KernelMonitor sees changes made inside its namespace (by `ip`, the
 * independent actor) and nothing from another namespace; close() ends a parked wait at once.
 * Run: deno test -A tests/net_monitor_test.ts
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { type KernelEvent, KernelMonitor, sysctlSet } from "../net/mod.ts";
import { withNamespaces } from "./_netns.ts";
import { ip } from "./net_oracle.ts";

/** Collects events until `done(events)` holds (or 5 s pass: a failure with what was seen). */
async function collect(
  mon: KernelMonitor,
  done: (evs: KernelEvent[]) => boolean,
): Promise<KernelEvent[]> {
  const seen: KernelEvent[] = [];
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    seen.push(...mon.read());
    if (done(seen)) return seen;
    await mon.wait(100);
  }
  throw new Error(`events not seen in 5 s; got ${JSON.stringify(seen.map((e) => e.kind))}`);
}

Deno.test("KernelMonitor: link, address, route, neighbour, FDB and ip_forward changes in its namespace, none from another", async () => {
  await withNamespaces(["a", "other"], async (ns) => {
    const mon = KernelMonitor.open({ netns: ns.a });
    try {
      ip(ns.a!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
      ip(ns.other!, "link", "add", "br9", "type", "bridge"); // must not be seen
      ip(ns.a!, "link", "set", "eth0", "up");
      ip(ns.a!, "addr", "add", "192.168.9.1/24", "dev", "eth0");
      ip(ns.a!, "route", "add", "10.244.3.0/24", "via", "192.168.9.3", "proto", "100");
      ip(ns.a!, "neigh", "replace", "192.168.9.3", "lladdr", "0a:58:00:00:00:03", "dev", "eth0");
      ip(ns.a!, "route", "del", "10.244.3.0/24");
      ip(ns.a!, "link", "add", "vx", "type", "vxlan", "id", "1", "dstport", "8472", "dev", "eth0");
      new Deno.Command("bridge", {
        args: [
          "-n",
          ns.a!.replace("/run/netns/", ""),
          "fdb",
          "append",
          "00:00:00:00:00:00",
          "dev",
          "vx",
          "dst",
          "192.168.9.3",
        ],
      }).outputSync();
      // A new namespace copies ip_forward from the host's (devconf_inherit_init_net=0), so it
      // may start at 1 and writing 1 would change nothing: go 0 -> 1 -> 0.
      sysctlSet("net.ipv4.ip_forward", "0", { netns: ns.a });
      sysctlSet("net.ipv4.ip_forward", "1", { netns: ns.a });
      sysctlSet("net.ipv4.ip_forward", "0", { netns: ns.a });
      const evs = await collect(mon, (e) => {
        const on = e.findIndex((x) => x.kind === "netconf" && x.netconf.forwarding === true);
        return on >= 0 &&
          e.slice(on).some((x) => x.kind === "netconf" && x.netconf.forwarding === false);
      });
      const route = evs.flatMap((e) =>
        e.kind === "route" && e.route.dst === "10.244.3.0/24" ? [[e.op, e.route.protocol]] : []
      );
      assertEquals(route, [
        ["new", 100],
        ["del", 100],
      ]);
      assert(evs.some((e) => e.kind === "link" && e.link.name === "eth0" && e.link.up));
      assert(evs.some((e) => e.kind === "addr" && e.addr.cidr === "192.168.9.1/24"));
      assert(evs.some((e) => e.kind === "neigh" && e.neigh.ip === "192.168.9.3"));
      assert(evs.some((e) => e.kind === "fdb" && e.fdb.dst === "192.168.9.3"));
      assert(
        evs.some((e) => e.kind === "netconf" && e.netconf.ifindex === -1 && e.netconf.forwarding),
        "ip_forward=1 is seen as forwarding on for conf/all",
      );
      assert(!evs.some((e) => e.kind === "link" && e.link.name === "br9"));
      assert(!evs.some((e) => e.kind === "lost"));
    } finally {
      mon.close();
    }
  });
});

Deno.test("KernelMonitor: close() ends a parked wait() right away; a full queue is reported as lost", async () => {
  await withNamespaces(["a"], async (ns) => {
    const mon = KernelMonitor.open({ netns: ns.a, groups: ["route4"] });
    const t0 = performance.now();
    const parked = mon.wait();
    setTimeout(() => mon.close(), 50);
    assertEquals(await parked, false);
    assert(performance.now() - t0 < 2000, "close() woke the wait");
    assertEquals(mon.read(), []);

    // A tiny queue overflows: the monitor says so instead of silently missing changes.
    const small = KernelMonitor.open({ netns: ns.a, groups: ["route4"], rcvbuf: 1 });
    try {
      ip(ns.a!, "link", "add", "d0", "type", "bridge");
      ip(ns.a!, "link", "set", "d0", "up");
      const batch = Array.from(
        { length: 200 },
        (_, i) => `route add 10.${i >> 8}.${i & 255}.0/24 dev d0`,
      ).join("\n");
      const p = new Deno.Command("ip", {
        args: ["-n", ns.a!.replace("/run/netns/", ""), "-batch", "-"],
        stdin: "piped",
      }).spawn();
      const w = p.stdin.getWriter();
      await w.write(new TextEncoder().encode(batch + "\n"));
      await w.close();
      await p.status;
      const evs = small.read();
      assert(evs.some((e) => e.kind === "lost"), `lost reported (got ${evs.length} events)`);
    } finally {
      small.close();
    }
  });
});

Deno.test("KernelMonitor maxBatch: a read() stops after that many events; the rest wait for the next", async () => {
  await withNamespaces(["b"], async (ns) => {
    ip(ns.b!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
    ip(ns.b!, "link", "set", "eth0", "up");
    ip(ns.b!, "addr", "add", "192.168.9.1/24", "dev", "eth0");
    const mon = KernelMonitor.open({ netns: ns.b, groups: ["route4"], maxBatch: 4 });
    try {
      for (let i = 0; i < 10; i++) {
        ip(ns.b!, "route", "add", `10.244.${i}.0/24`, "via", "192.168.9.3", "proto", "100");
      }
      const sizes: number[] = [];
      const dsts: string[] = [];
      for (let rounds = 0; rounds < 50 && dsts.length < 10; rounds++) {
        const batch = mon.read();
        if (batch.length === 0) {
          await mon.wait(100);
          continue;
        }
        sizes.push(batch.length);
        for (const e of batch) if (e.kind === "route") dsts.push(e.route.dst);
      }
      assertEquals(dsts, Array.from({ length: 10 }, (_, i) => `10.244.${i}.0/24`));
      assert(sizes.every((n) => n <= 4), `batches ${sizes}`);
    } finally {
      mon.close();
    }
  });
});
