/**
 * Integration (root): openTun() makes a TUN device inside the namespace it is given (not in the
 * caller's), packets routed into it come out of the fd as bare IPv4 (no packet-information
 * header), closing the fd removes the device; openUdpSocket() binds inside its namespace.
 */
import { assert, assertEquals, assertThrows } from "../testing/assert.ts";
import { NetlinkError } from "../net/mod.ts";
import { closeTunFd, openTun, openUdpSocket } from "../net/tun.ts";
import { PacketIo, READY_TUN } from "../net/packet_io.ts";
import * as L from "../net/libc.ts";
import { withNamespaces } from "./_netns.ts";
import { ip, ipj } from "./net_oracle.ts";

function rootHasLink(name: string): boolean {
  const out = new Deno.Command("ip", { args: ["-j", "link", "show", name], stderr: "null" })
    .outputSync();
  return out.success;
}

Deno.test("openTun() creates skein-udp in the node's namespace; routed packets come out bare", async () => {
  await withNamespaces(["tun"], async (paths) => {
    const ns = paths.tun!;
    const dev = openTun({ name: "skein-udp", netns: ns });
    let open = true;
    const wake = L.libcPoll().eventfd(0, L.EFD_CLOEXEC | L.EFD_NONBLOCK);
    const sock = openUdpSocket({ address: "127.0.0.1", port: 0, netns: ns });
    try {
      const [link] = ipj(ns, "-d", "link", "show", "skein-udp");
      assertEquals(link.linkinfo?.info_kind, "tun");
      assert(!rootHasLink("skein-udp"), "not in the caller's namespace");
      // A second opener of the same non-persistent device is refused.
      assertEquals(
        assertThrows(() => openTun({ name: "skein-udp", netns: ns }), NetlinkError).code,
        "EBUSY",
      );
      ip(ns, "link", "set", "lo", "up");
      ip(ns, "link", "set", "skein-udp", "up", "mtu", "1472");
      ip(ns, "addr", "add", "10.99.1.0/32", "dev", "skein-udp");
      ip(ns, "route", "add", "10.99.0.0/16", "dev", "skein-udp");
      const ping = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          ns.replace("/run/netns/", ""),
          "ping",
          "-c",
          "3",
          "-i",
          "0.2",
          "-W",
          "1",
          "10.99.2.7",
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const io = new PacketIo({
        tunFd: dev.fd,
        sockFd: sock,
        wakeFd: wake,
        slots: 4,
        slotSize: 2048,
      });
      let len = -1;
      const deadline = Date.now() + 5000;
      while (len <= 0 && Date.now() < deadline) {
        if (!(io.wait(200) & READY_TUN)) continue;
        len = io.readTun(0);
        if (len > 0 && io.tx[0]! >> 4 !== 4) len = -1; // IPv6 router solicitations: not ours
      }
      await ping.status;
      assert(len >= 28, `a packet came out of the TUN fd (got ${len})`);
      const p = io.tx.subarray(0, len);
      assertEquals(p[0], 0x45, "bare IPv4, no packet-information prefix");
      assertEquals(p[9], 1, "ICMP");
      assertEquals([...p.subarray(16, 20)], [10, 99, 2, 7]);
      assertEquals([...p.subarray(12, 16)], [10, 99, 1, 0], "source: the device's address");
      closeTunFd(dev.fd);
      open = false;
      assertEquals(ipj(ns, "link", "show").map((l: { ifname: string }) => l.ifname), ["lo"]);
      assertEquals(ip(ns, "route", "show", "10.99.0.0/16").trim(), "", "its route went with it");
    } finally {
      if (open) closeTunFd(dev.fd);
      L.libc().close(sock);
      L.libc().close(wake);
    }
  });
});

Deno.test("openUdpSocket() binds inside its namespace: the port is taken there, free elsewhere", async () => {
  await withNamespaces(["ua", "ub"], (paths) => {
    const ua = paths.ua!, ub = paths.ub!;
    const port = 20000 + Math.floor(Math.random() * 30000);
    for (const ns of [ua, ub]) ip(ns, "link", "set", "lo", "up");
    const a = openUdpSocket({ address: "127.0.0.1", port, netns: ua, bufferBytes: 1 << 20 });
    const b = openUdpSocket({ address: "127.0.0.1", port, netns: ub });
    try {
      const again = assertThrows(
        () => openUdpSocket({ address: "127.0.0.1", port, netns: ua }),
        NetlinkError,
      );
      assertEquals(again.code, "EADDRINUSE");
      const ss = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          ua.replace("/run/netns/", ""),
          "ss",
          "-H",
          "-uln",
          `sport = :${port}`,
        ],
        stdout: "piped",
      }).outputSync();
      assert(new TextDecoder().decode(ss.stdout).includes(`127.0.0.1:${port}`));
      assertThrows(() => openUdpSocket({ address: "10.1.2.3", port, netns: ua }), NetlinkError);
    } finally {
      L.libc().close(a);
      L.libc().close(b);
    }
  });
});
