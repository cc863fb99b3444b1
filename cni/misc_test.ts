import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { masqAddScript, masqComment, parseMapElements } from "./masq.ts";
import { routedPlan, withDefaultRoutes } from "./_pod_routes.ts";
import { versionAnswer } from "./version_cmd.ts";
import { versionAtLeast } from "./versions.ts";

Deno.test("masqAddScript() is one transaction that excludes the subnet and multicast", () => {
  const s = masqAddScript({ network: "pods", containerId: "c1", ifName: "eth0" }, [
    { address: "10.244.1.5/24" },
    { address: "fd00::5/64" },
  ]);
  assertStringIncludes(s, "ip daddr 10.244.1.0/24 return");
  assertStringIncludes(s, "ip daddr 224.0.0.0/4 return");
  assertStringIncludes(s, "ip6 daddr fd00::/64 return");
  assertStringIncludes(
    s,
    'add element inet skein masq4 { 10.244.1.5 comment "skein pods c1 eth0" : jump m4-',
  );
  assertStringIncludes(s, "flush chain inet skein postrouting");
});

Deno.test("masqComment() fits nftables' 128 bytes and a quoted string whatever the owner", () => {
  assertEquals(
    masqComment({ network: "pods", containerId: "c1", ifName: "eth0" }),
    "skein pods c1 eth0",
  );
  const long = { network: "pods", containerId: "c".repeat(128), ifName: "eth0" };
  const quoted = { network: "pods", containerId: "c1", ifName: 'a"b\\c' };
  const longNet = { network: "n".repeat(200), containerId: "c1", ifName: "eth0" };
  for (const o of [long, quoted, longNet]) {
    const c = masqComment(o);
    assertEquals(c.length <= 128 && /^skein #[0-9a-f]{16} #[0-9a-f]{32}$/.test(c), true, c);
    assertStringIncludes(masqAddScript(o, [{ address: "10.244.1.5/24" }]), `comment "${c}"`);
  }
  // One network, one prefix; attachments differ.
  assertEquals(masqComment(long).slice(0, 24), masqComment(quoted).slice(0, 24));
  assertEquals(masqComment(long) === masqComment({ ...long, ifName: "eth1" }), false);
});

Deno.test("parseMapElements() reads nft -j map output", () => {
  const json = JSON.stringify({
    nftables: [{ metainfo: {} }, {
      map: {
        elem: [[{ elem: { val: "10.244.1.5", comment: "skein pods c1 eth0" } }, {
          jump: { target: "m4-x" },
        }]],
      },
    }],
  });
  assertEquals(parseMapElements(json, 4), [{
    family: 4,
    address: "10.244.1.5",
    comment: "skein pods c1 eth0",
  }]);
});

Deno.test("routedPlan() turns addresses into host addresses behind the link-local gateways", () => {
  const p = routedPlan(
    [{ address: "10.244.1.5/24", gateway: "10.244.1.1" }, { address: "fd00::5/64" }],
    [{ dst: "10.96.0.0/12", gw: "10.244.1.1" }],
  );
  assertEquals(p.ips.map((i) => [i.address, i.gateway]), [["10.244.1.5/32", "169.254.1.1"], [
    "fd00::5/128",
    "fe80::1",
  ]]);
  assertEquals(p.routes, [
    { dst: "10.96.0.0/12", gw: "169.254.1.1" },
    { dst: "0.0.0.0/0", gw: "169.254.1.1" },
    { dst: "::/0", gw: "fe80::1" },
  ]);
});

Deno.test("withDefaultRoutes() adds a default per family only once", () => {
  assertEquals(
    withDefaultRoutes([{ dst: "0.0.0.0/0", gw: "10.0.0.254" }], { 4: "10.0.0.1", 6: "fd00::1" }),
    [
      { dst: "0.0.0.0/0", gw: "10.0.0.254" },
      { dst: "::/0", gw: "fd00::1" },
    ],
  );
});

Deno.test("versionAnswer() echoes a supported config version", () => {
  assertEquals(versionAnswer('{"cniVersion":"0.4.0"}').cniVersion, "0.4.0");
  assertEquals(versionAnswer('{"cniVersion":"9.0.0"}').cniVersion, "1.1.0");
  assertEquals(versionAnswer("garbage").supportedVersions, [
    "0.3.0",
    "0.3.1",
    "0.4.0",
    "1.0.0",
    "1.1.0",
  ]);
  assertEquals(versionAtLeast("1.0.0", "0.4.0"), true);
  assertEquals(versionAtLeast("0.3.1", "0.4.0"), false);
});
