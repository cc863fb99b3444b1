import { assertEquals, assertThrows } from "../testing/assert.ts";
import { chooseUplink, UplinkError } from "./uplink.ts";
import { fakeHandle, nodeHandle } from "../testing/fake_daemon_deps.ts";

Deno.test("chooseUplink(): default route's interface and its first global IPv4", () => {
  const u = chooseUplink(nodeHandle(), {});
  assertEquals([u.name, u.index, u.mtu, u.publicIP, u.reason], [
    "eth0",
    2,
    1500,
    "192.168.1.10",
    "default route",
  ]);
});

Deno.test("chooseUplink(): by name, by regex (name or address), by publicIP, IPv6 found", () => {
  const h = nodeHandle();
  assertEquals(chooseUplink(h, { iface: "eth1" }).publicIP, "10.10.0.5");
  assertEquals(chooseUplink(h, { iface: "eth1" }).publicIP6, "fd00::5");
  assertEquals(chooseUplink(h, { ifaceRegex: "^eth1$" }).name, "eth1");
  assertEquals(chooseUplink(h, { ifaceRegex: "^10\\.10\\." }).name, "eth1");
  assertEquals(chooseUplink(h, { publicIP: "10.10.0.5" }).name, "eth1");
  assertEquals(chooseUplink(h, { iface: "eth0", publicIP: "203.0.113.9" }).publicIP, "203.0.113.9");
  assertEquals(chooseUplink(h, { ifaceCanReach: "8.8.8.8" }).name, "eth0");
});

Deno.test("chooseUplink(): clear errors", () => {
  assertThrows(() => chooseUplink(nodeHandle(), { iface: "wlan0" }), UplinkError, "wlan0");
  assertThrows(
    () => chooseUplink(nodeHandle(), { ifaceRegex: "^zz" }),
    UplinkError,
    "ifaceRegex ^zz",
  );
  const bare = fakeHandle({ links: [], addrs: [], routes: [] });
  assertThrows(() => chooseUplink(bare, {}), UplinkError, "no IPv4 default route");
});
