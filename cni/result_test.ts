import { assertEquals, assertThrows } from "../testing/assert.ts";
import { formatResult, parseResult } from "./result.ts";
import { CniError } from "./errors.ts";

const r = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "cni0", mac: "aa:bb:cc:dd:ee:ff" }, {
    name: "eth0",
    mac: "0a:00:00:00:00:01",
    sandbox: "/run/netns/p",
    mtu: 1450,
  }],
  ips: [
    { address: "10.244.1.5/24", gateway: "10.244.1.1", interface: 1 },
    { address: "fd00::5/64", gateway: "fd00::1", interface: 1 },
  ],
  routes: [{ dst: "0.0.0.0/0", gw: "10.244.1.1", mtu: 1400 }],
};

Deno.test("formatResult() adds the IP version for 0.3.x/0.4.0", () => {
  const o = formatResult(parseResult(r), "0.4.0") as {
    ips: { version: string }[];
    interfaces: { mtu?: number }[];
    routes: unknown[];
  };
  assertEquals(o.ips.map((ip) => ip.version), ["4", "6"]);
  assertEquals(o.interfaces[1]!.mtu, undefined);
  assertEquals((o as Record<string, unknown>).cniVersion, "0.4.0");
  assertEquals(o.routes, [{ dst: "0.0.0.0/0", gw: "10.244.1.1" }]);
});

Deno.test("formatResult() drops the IP version for 1.x and keeps 1.1 route fields only in 1.1", () => {
  const v100 = formatResult(parseResult(r), "1.0.0") as Record<string, unknown>;
  assertEquals((v100.ips as Record<string, unknown>[])[0], {
    interface: 1,
    address: "10.244.1.5/24",
    gateway: "10.244.1.1",
  });
  assertEquals(v100.routes, [{ dst: "0.0.0.0/0", gw: "10.244.1.1" }]);
  assertEquals(v100.dns, {});
  const v110 = formatResult(parseResult(r), "1.1.0") as Record<string, unknown>;
  assertEquals(v110.routes, [{ dst: "0.0.0.0/0", gw: "10.244.1.1", mtu: 1400 }]);
});

Deno.test("parseResult() reads 0.4.0 results (with version) back", () => {
  const old = formatResult(parseResult(r), "0.3.1");
  const back = parseResult(old);
  assertEquals(back.ips, r.ips);
  assertEquals(back.cniVersion, "0.3.1");
});

Deno.test("parseResult() rejects shapes that are not results with code 6", () => {
  assertEquals(assertThrows(() => parseResult("x"), CniError).code, 6);
  assertThrows(() => parseResult({ ips: [{ address: "10.0.0.1" }] }), CniError, "ips[0].address");
  assertThrows(() => parseResult({ routes: [{ dst: "nope" }] }), CniError, "routes[0].dst");
  assertThrows(() => parseResult({ interfaces: [{}] }), CniError, "interfaces[0].name");
});

Deno.test("parseResult() refuses an ips[].interface that indexes no interface (code 6)", () => {
  for (const interfaceIndex of [2, 7, -1]) {
    const e = assertThrows(
      () => parseResult({ ...r, ips: [{ address: "10.244.1.5/24", interface: interfaceIndex }] }),
      CniError,
      "ips[0].interface",
    );
    assertEquals(e.code, 6);
  }
  // Without an interfaces list (an IPAM result) only a negative index is wrong.
  assertEquals(parseResult({ ips: [{ address: "10.244.1.5/24", interface: 3 }] }).ips?.length, 1);
});
