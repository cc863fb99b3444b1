import { assertEquals, assertThrows } from "../testing/assert.ts";
import { decodeConfig, parseNetConf } from "./netconf.ts";
import { CniError } from "./errors.ts";

const enc = (o: unknown) => new TextEncoder().encode(typeof o === "string" ? o : JSON.stringify(o));
const conf = (over: Record<string, unknown> = {}) => ({
  cniVersion: "1.0.0",
  name: "pods",
  type: "skein",
  ipam: { type: "skein", subnet: "10.244.1.0/24" },
  ...over,
});

Deno.test("parseNetConf() fills defaults like the reference bridge", () => {
  const c = parseNetConf(enc(conf()));
  assertEquals(
    [
      c.mode,
      c.bridge,
      c.isGateway,
      c.isDefaultGateway,
      c.ipMasq,
      c.mtu,
      c.hairpinMode,
      c.promiscMode,
    ],
    ["bridge", "cni0", false, false, false, undefined, false, false],
  );
});

Deno.test("parseNetConf() ignores unknown keys and accepts conflist-injected fields", () => {
  const c = parseNetConf(enc(conf({
    somethingNew: { x: 1 },
    isDefaultGateway: true,
    runtimeConfig: { ips: ["10.244.1.9/24"], mac: "0A-58-0A-F4-01-09", portMappings: [] },
    args: { cni: { ips: ["fd00::9"] } },
    prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.244.1.9/24" }] },
  })));
  assertEquals(c.isGateway, true); // implied by isDefaultGateway
  assertEquals(c.requestedIps, ["fd00::9", "10.244.1.9/24"]); // args.cni.ips first, as host-local
  assertEquals(c.mac, "0a:58:0a:f4:01:09");
  assertEquals(c.prevResult?.ips?.[0]?.address, "10.244.1.9/24");
});

Deno.test("parseNetConf(): the pod MAC comes from runtimeConfig.mac, else args.cni.mac (the reference bridge's order)", () => {
  const args = { cni: { mac: "02:11:22:33:44:55" } };
  assertEquals(parseNetConf(enc(conf({ args }))).mac, "02:11:22:33:44:55");
  const both = conf({ args, runtimeConfig: { mac: "02:aa:bb:cc:dd:ee" } });
  assertEquals(parseNetConf(enc(both)).mac, "02:aa:bb:cc:dd:ee");
  assertEquals(parseNetConf(enc(conf({ args: { cni: { mac: "" } } }))).mac, undefined);
});

Deno.test("decodeConfig(): malformed JSON is code 6, unsupported version code 1, missing name code 7", () => {
  assertEquals(assertThrows(() => decodeConfig(enc('{"cniVersion":')), CniError).code, 6);
  assertEquals(assertThrows(() => decodeConfig(enc("[]")), CniError).code, 6);
  assertEquals(
    assertThrows(() => decodeConfig(enc(conf({ cniVersion: "0.2.0" }))), CniError).code,
    1,
  );
  assertEquals(
    assertThrows(() => decodeConfig(enc(conf({ cniVersion: "2.0.0" }))), CniError).code,
    1,
  );
  const noVersion = conf();
  delete (noVersion as Record<string, unknown>).cniVersion;
  assertEquals(assertThrows(() => decodeConfig(enc(noVersion)), CniError).code, 1);
  assertEquals(assertThrows(() => decodeConfig(enc(conf({ name: "" }))), CniError).code, 7);
  for (const v of ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
    assertEquals(decodeConfig(enc(conf({ cniVersion: v }))).cniVersion, v);
  }
});

Deno.test("decodeConfig(): a byte order mark before the JSON is code 6, as in the reference plugins", () => {
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...enc(conf())]);
  const e = assertThrows(() => decodeConfig(bom), CniError, "unmarshalling");
  assertEquals(e.code, 6);
  assertEquals(e.details?.includes("byte order mark"), true);
});

Deno.test("parseNetConf() rejects bad values with code 7 naming the field", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ mtu: "abc" }, "mtu"],
    [{ mtu: 20 }, "mtu"],
    [{ mode: "macvlan" }, "mode"],
    [{ bridge: "a/b" }, "bridge"],
    [{ bridge: "br%d" }, "bridge"],
    [{ isGateway: "yes" }, "isGateway"],
    [{ ipMasq: 1 }, "ipMasq"],
    [{ ipam: undefined }, "ipam"],
    [{ ipam: { subnet: "x" } }, "ipam.type"],
    [{ type: 5 }, "type"],
    [{ runtimeConfig: { ips: ["nope"] } }, "runtimeConfig.ips"],
    [{ runtimeConfig: { mac: "xx" } }, "runtimeConfig.mac"],
    [{ runtimeConfig: { mac: "01:00:5e:00:00:01" } }, "runtimeConfig.mac"],
    [{ runtimeConfig: { mac: "00:00:00:00:00:00" } }, "runtimeConfig.mac"],
    [{ runtimeConfig: { mac: 5 } }, "runtimeConfig.mac"],
    [{ args: { cni: { mac: "ff:ff:ff:ff:ff:ff" } } }, "args.cni.mac"],
    [{ args: { cni: { mac: ["02:00:00:00:00:01"] } } }, "args.cni.mac"],
    [{ "cni.dev/valid-attachments": [{ containerID: 1 }] }, "cni.dev/valid-attachments"],
  ];
  for (const [over, field] of cases) {
    const e = assertThrows(() => parseNetConf(enc(conf(over))), CniError, field);
    assertEquals(e.code, 7, field);
  }
});

Deno.test("parseNetConf() refuses reference-bridge features skein lacks with code 2", () => {
  const e = assertThrows(() => parseNetConf(enc(conf({ vlan: 100 }))), CniError, "vlan");
  assertEquals(e.code, 2);
  parseNetConf(enc(conf({ vlan: 0, macspoofchk: false })));
});

Deno.test("parseNetConf(): loopback needs no ipam, other types mean IPAM mode", () => {
  assertEquals(parseNetConf(enc(conf({ mode: "loopback", ipam: undefined }))).mode, "loopback");
  assertEquals(parseNetConf(enc(conf({ type: "bridge" }))).type, "bridge");
  const c = parseNetConf(enc(conf({
    cniVersion: "1.1.0",
    "cni.dev/valid-attachments": [{ containerID: "a", ifname: "eth0" }],
  })));
  assertEquals(c.validAttachments, [{ containerId: "a", ifName: "eth0" }]);
});

Deno.test("parseNetConf(): as another plugin's IPAM, that plugin's own fields are not judged", () => {
  for (
    const over of [
      { type: "macvlan", mode: "vepa", mtu: 9000, runtimeConfig: { mac: "01:00:5e:00:00:01" } },
      { type: "ipvlan", mode: "l3", master: "eth0" },
      { type: "bridge", vlan: 100, macspoofchk: true, isGateway: "yes", bridge: "x".repeat(20) },
    ]
  ) {
    const c = parseNetConf(enc(conf(over)));
    assertEquals([c.type, c.mode, c.ipam?.type], [over.type, "bridge", "skein"]);
  }
  // What the IPAM reads is still checked.
  const e = assertThrows(
    () => parseNetConf(enc(conf({ type: "macvlan", runtimeConfig: { ips: ["x"] } }))),
    CniError,
    "runtimeConfig.ips",
  );
  assertEquals(e.code, 7);
});

Deno.test("parseNetConf() reads ipam.type and ipam.dataDir ignoring case, as libcni", () => {
  // libcni and the reference bridge (Go's JSON) run host-local for "Type"; skein said code 7.
  const c = parseNetConf(enc(conf({ ipam: { Type: "host-local", DataDir: "/var/lib/x" } })));
  assertEquals([c.ipam?.type, c.ipam?.dataDir], ["host-local", "/var/lib/x"]);
  const e = assertThrows(
    () => parseNetConf(enc(conf({ ipam: { type: "skein", TYPE: "host-local" } }))),
    CniError,
    '"type" and "TYPE" both set type',
  );
  assertEquals(e.code, 7);
});

Deno.test("parseNetConf() reads RuntimeConfig.IPs/MAC and Args.CNI.IPs ignoring case, as bridge and host-local", () => {
  const c = parseNetConf(enc(conf({
    Args: { CNI: { IPs: ["10.244.1.7"] } },
    RuntimeConfig: { IPs: ["10.244.1.8/24"], MAC: "02:00:00:00:00:09" },
  })));
  assertEquals(c.requestedIps, ["10.244.1.7", "10.244.1.8/24"]);
  assertEquals(c.mac, "02:00:00:00:00:09");
});
