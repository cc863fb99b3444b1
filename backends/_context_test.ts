import { assertEquals, assertThrows } from "../testing/assert.ts";
import { BackendConfigError, validateOptions } from "./_context.ts";
import { backendNames } from "./registry.ts";
import { FakeHandle } from "../testing/fake_handle.ts";
import type { BackendOptions } from "./types.ts";

const sysctl = { get: () => "1", set: () => {} };
const base: BackendOptions = {
  type: "vxlan",
  handle: new FakeHandle(),
  uplink: { name: "eth0", index: 2, mtu: 1500 },
  publicIP: "192.168.1.11",
  node: "n1",
};

Deno.test("validateOptions() fills flannel's defaults and the MTU per backend", () => {
  const v = validateOptions(base, sysctl);
  assertEquals([v.settings.vni, v.settings.port, v.deviceName, v.mtu], [1, 8472, "skein.1", 1450]);
  assertEquals(validateOptions({ ...base, publicIP: "fd00::1" }, sysctl).mtu, 1430);
  assertEquals(validateOptions({ ...base, type: "ipip" }, sysctl).mtu, 1480);
  assertEquals(validateOptions({ ...base, type: "ipip" }, sysctl).deviceName, "skein-ipip");
  assertEquals(validateOptions({ ...base, type: "host-gw" }, sysctl).mtu, 1500);
  assertEquals(validateOptions({ ...base, mtu: 1400 }, sysctl).mtu, 1400);
});

Deno.test("validateOptions() names the field and the problem", () => {
  const bad: [Partial<BackendOptions>, string][] = [
    [
      { type: "vxlam" as "vxlan" },
      `type: must be one of ${backendNames().join(", ")}, got "vxlam"`,
    ],
    [
      { mtu: 1500 },
      "mtu: 1500 is larger than the uplink eth0 MTU 1500 minus the vxlan overhead 50",
    ],
    [{ settings: { vni: 1 << 24 } }, "vni"],
    [{ settings: { port: 0 } }, "port"],
    [{ settings: { vnid: 3 } }, "vnid: not a setting of the vxlan backend"],
    [{ publicIP: "1.2.3" }, "publicIP"],
    [{ publicIP6: "10.0.0.1" }, "publicIP6"],
    [{ type: "ipip", publicIP: "fd00::1" }, "ipip needs an IPv4 underlay"],
    [{ deviceName: "a-very-long-device-name" }, "deviceName"],
    [{ deviceName: "eth0" }, "must differ from the uplink"],
    [{ uplink: { name: "eth0", index: 0, mtu: 1500 } }, "uplink.index"],
    [{ node: "" }, "node"],
  ];
  for (const [patch, msg] of bad) {
    assertThrows(() => validateOptions({ ...base, ...patch }, sysctl), BackendConfigError, msg);
  }
});
