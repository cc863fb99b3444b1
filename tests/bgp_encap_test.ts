/**
 * Integration (root): the bgp backend with `encapsulation: vxlan` on two nodes of one segment.
 * The routes BGP learned go over skein.1 (VTEP neighbour, FDB entry, onlink route, proto bgp)
 * and carry traffic; with `crossSubnet: true` the same on-link peer gets a plain route on the
 * uplink instead.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { createBackend } from "../backends/mod.ts";
import type { BgpBackend } from "../backends/bgp/mod.ts";
import { openHandle } from "../net/mod.ts";
import type { Lease } from "../store/types.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);

function lease(n: number, data: Record<string, unknown>): Lease {
  return {
    subnet: `10.244.${n}.0/24`,
    publicIP: `192.168.77.${10 + n}`,
    node: `n${n}`,
    backendType: "bgp",
    backendData: data,
    expiration: "2099-01-01T00:00:00Z",
  };
}

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 15000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function pair(
  crossSubnet: boolean,
  check: (ns: Record<string, string>) => Promise<void>,
): Promise<void> {
  await withNamespaces(["lan", "a", "b"], async (ns) => {
    ip(ns.lan!, "link", "add", "br0", "type", "bridge");
    ip(ns.lan!, "link", "set", "br0", "up");
    for (const [name, n] of [["a", 1], ["b", 2]] as const) {
      ip(ns[name]!, "link", "set", "lo", "up");
      ip(
        ns[name]!,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        `p${n}`,
        "netns",
        ns.lan!,
      );
      ip(ns[name]!, "addr", "add", `192.168.77.${10 + n}/24`, "dev", "eth0");
      ip(ns[name]!, "link", "set", "eth0", "up");
      ip(ns.lan!, "link", "set", `p${n}`, "master", "br0", "up");
    }
    const nodes = (["a", "b"] as const).map((name, i) => {
      const handle = openHandle({ netns: ns[name]! });
      const eth0 = handle.linkFind("eth0")!;
      const b = createBackend({
        type: "bgp",
        handle,
        netns: ns[name]!,
        uplink: { name: "eth0", index: eth0.index, mtu: 1500 },
        publicIP: `192.168.77.${11 + i}`,
        node: `n${i + 1}`,
        settings: { encapsulation: "vxlan", crossSubnet, port: PORT, holdTime: 9 },
        sysctl: { get: () => "1", set: () => {} },
      }) as BgpBackend;
      return { b, handle, data: b.setup().backendData, abort: new AbortController() };
    });
    const leases = nodes.map((x, i) => lease(i + 1, x.data));
    const reconcile = (i: number) => setTimeout(() => nodes[i]!.b.reconcile(leases, leases[i]!), 0);
    try {
      for (const [i, x] of nodes.entries()) {
        await x.b.start({ requestReconcile: () => reconcile(i), signal: x.abort.signal });
        reconcile(i);
      }
      await check(ns);
    } finally {
      for (const x of nodes) {
        x.abort.abort();
        await x.b.close();
        x.handle.close();
      }
    }
  });
}

function bgpRoutes(
  ns: string,
): { dst: string; gateway?: string; dev?: string; flags?: string[] }[] {
  return JSON.parse(ip(ns, "-j", "route", "show", "proto", "bgp") || "[]");
}

Deno.test("bgp encapsulation vxlan: learned routes go over skein.1 with neighbour and FDB, and carry pings", async () => {
  await pair(false, async (ns) => {
    const r = await until(
      "a's route to b over skein.1",
      () => bgpRoutes(ns.a!).find((x) => x.dst === "10.244.2.0/24"),
    );
    assertEquals([r.gateway, r.dev, r.flags?.includes("onlink")], ["10.244.2.0", "skein.1", true]);
    const neigh = ip(ns.a!, "neigh", "show", "dev", "skein.1");
    assert(neigh.includes("10.244.2.0") && neigh.includes("PERMANENT"), neigh);
    const fdb = new TextDecoder().decode(
      new Deno.Command("bridge", {
        args: ["-n", ns.a!.replace("/run/netns/", ""), "fdb", "show", "dev", "skein.1"],
        stdout: "piped",
      }).outputSync().stdout,
    );
    assert(fdb.includes("dst 192.168.77.12"), fdb);
    await until("b's route to a", () => bgpRoutes(ns.b!).find((x) => x.dst === "10.244.1.0/24"));
    const ping = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns.a!.replace("/run/netns/", ""),
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "-I",
        "10.244.1.0",
        "10.244.2.0",
      ],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    assert(
      ping.success,
      new TextDecoder().decode(ping.stdout) + new TextDecoder().decode(ping.stderr),
    );
  });
});

Deno.test("bgp encapsulation vxlan + crossSubnet: an on-link peer gets a plain route on the uplink", async () => {
  await pair(true, async (ns) => {
    const r = await until(
      "a's route to b",
      () => bgpRoutes(ns.a!).find((x) => x.dst === "10.244.2.0/24"),
    );
    assertEquals([r.gateway, r.dev], ["192.168.77.12", "eth0"]);
  });
});
