/**
 * net/ verbs diagnose relies on (root): routeGet() with an input device (the forwarding path,
 * compared with `ip route get ... iif`) and a firewall mark (`ip route get ... mark`) and linkStats() (compared with `ip -s -j link`).
 *
 * @module
 */
import { assertEquals, assertThrows } from "../testing/assert.ts";
import { NetlinkError, openHandle, sysctlSet, txChecksumOffload } from "../net/mod.ts";
import { withNamespaces } from "./_netns.ts";

function ip(ns: string, ...args: string[]): string {
  const o = new Deno.Command("ip", { args: ["-n", ns.split("/").pop()!, ...args] }).outputSync();
  return new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
}

function errCode(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    return e instanceof NetlinkError ? e.code : String(e);
  }
}

Deno.test("routeGet() with iif answers for a forwarded packet, errors as ip route get ... iif; with mark as ... mark", async () => {
  await withNamespaces(["f"], (ns) => {
    using h = openHandle({ netns: ns.f });
    h.linkAdd({ kind: "veth", name: "d0", peer: { name: "e0" } });
    h.linkAdd({ kind: "veth", name: "d1", peer: { name: "e1" } });
    h.addrAdd({ dev: "d0", cidr: "10.1.0.1/24" });
    h.addrAdd({ dev: "d1", cidr: "10.2.0.1/24" });
    for (const d of ["d0", "d1", "e0", "e1"]) h.linkSet(d, { up: true });
    sysctlSet("net.ipv4.ip_forward", "0", { netns: ns.f });
    // Forwarding off: the kernel refuses a forwarded packet but still routes a local one.
    assertEquals(
      errCode(() => h.routeGet("10.2.0.5", { src: "10.1.0.9", iif: "d0" })),
      "EHOSTUNREACH",
    );
    assertEquals(h.routeGet("10.2.0.5").devName, "d1");
    sysctlSet("net.ipv4.ip_forward", "1", { netns: ns.f });
    const r = h.routeGet("10.2.0.5", { src: "10.1.0.9", iif: "d0" });
    assertEquals(r.devName, "d1");
    // With the caller's link list: the same answer, the devices named from it.
    const links = h.linkList();
    assertEquals(h.routeGet("10.2.0.5", { src: "10.1.0.9", iif: "d0", links }), r);
    assertEquals(
      /dev (\S+)/.exec(ip(ns.f!, "route", "get", "10.2.0.5", "from", "10.1.0.9", "iif", "d0"))?.[1],
      "d1",
    );
    // Strict rp_filter: a source that routes back by another device is refused (EINVAL).
    sysctlSet("net.ipv4.conf.all.rp_filter", "1", { netns: ns.f });
    assertEquals(errCode(() => h.routeGet("10.2.0.5", { src: "10.2.0.9", iif: "d0" })), "EINVAL");
    assertThrows(
      () => h.routeGet("10.2.0.5", { src: "10.2.0.9", iif: "d0", links: h.linkList() }),
      NetlinkError,
      "Cannot get route to 10.2.0.5 from 10.2.0.9 iif d0",
    );
    assertEquals(
      errCode(() => h.routeGet("10.9.0.5", { src: "10.1.0.9", iif: "d0" })),
      "ENETUNREACH",
    );
    // A firewall mark (`ip route get ... mark 0x10`): the policy rule on that fwmark decides.
    ip(ns.f!, "route", "add", "10.2.0.0/24", "dev", "d0", "table", "42");
    ip(ns.f!, "rule", "add", "fwmark", "0x10", "lookup", "42");
    const marked = h.routeGet("10.2.0.5", { mark: 0x10 });
    assertEquals([marked.devName, marked.table], ["d0", 42]);
    assertEquals(
      /dev (\S+)/.exec(ip(ns.f!, "route", "get", "10.2.0.5", "mark", "0x10"))?.[1],
      "d0",
    );
    assertEquals(h.routeGet("10.2.0.5", { mark: 0x20 }).devName, "d1");
    // An IP protocol (`ip route get ... ipproto icmp`): a rule on ipproto refuses only ICMP.
    ip(ns.f!, "rule", "add", "pref", "50", "ipproto", "icmp", "prohibit");
    assertEquals(errCode(() => h.routeGet("10.2.0.5", { ipProto: 1 })), "EACCES");
    assertEquals(h.routeGet("10.2.0.5", { ipProto: 6 }).devName, "d1");
    assertEquals(h.routeGet("10.2.0.5").devName, "d1");
  });
});

Deno.test("linkStats() reads the counters ip -s link shows", async () => {
  await withNamespaces(["s"], (ns) => {
    using h = openHandle({ netns: ns.s });
    h.linkSet("lo", { up: true });
    new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns.s!.split("/").pop()!,
        "ping",
        "-c",
        "2",
        "-i",
        "0.2",
        "-q",
        "127.0.0.1",
      ],
    }).outputSync();
    const s = h.linkStats().get(h.linkGet("lo").index)!;
    const [o] = JSON.parse(ip(ns.s!, "-s", "-j", "link", "show", "lo")) as {
      stats64: { rx: { packets: number; bytes: number }; tx: { packets: number } };
    }[];
    assertEquals([s.rxPackets, s.rxBytes, s.txPackets], [
      o!.stats64.rx.packets,
      o!.stats64.rx.bytes,
      o!.stats64.tx.packets,
    ]);
    assertEquals(s.rxPackets >= 4, true);
  });
});

Deno.test("txChecksumOffload() reads a veth's TX checksum setting; a missing device is ENODEV", async () => {
  await withNamespaces(["o"], (ns) => {
    using h = openHandle({ netns: ns.o });
    h.linkAdd({ kind: "veth", name: "v0", peer: { name: "v1" } });
    assertEquals(txChecksumOffload("v0", { netns: ns.o }), true); // veth default: on
    assertEquals(errCode(() => txChecksumOffload("nope0", { netns: ns.o })), "ENODEV");
  });
});
