/**
 * skein next to the reference bridge + host-local on the same unusual input: what the reference
 * takes, skein takes too (ADD, then DEL), and what the reference refuses, skein refuses with the
 * spec's error JSON, leaving the pod namespace and the IPAM directory as they were. Where skein
 * is deliberately stricter (stdin over 1 MiB), the case says so; it never accepts what the
 * reference refuses.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { type CallOptions, callPlugin, inNs, reservations } from "./_cni.ts";

type Conf = Record<string, unknown>;
type Expect = "both-ok" | "both-fail" | "skein-stricter";
interface Case {
  what: string;
  expect: Expect;
  /** Changes to the call (and the config, through `conf`). */
  o?: Partial<Omit<CallOptions, "conf">>;
  conf?: (c: Conf) => Conf | string;
}

const ipam = (o: Conf) => (c: Conf) => ({ ...c, ipam: { ...(c.ipam as Conf), ...o } });
const top = (o: Conf) => (c: Conf) => ({ ...c, ...o });

const CASES: Case[] = [
  {
    what: "container id of 128 characters",
    expect: "both-ok",
    o: { containerId: "c".repeat(128) },
  },
  { what: "ifname of 15 bytes", expect: "both-ok", o: { ifName: "e".repeat(15) } },
  { what: "mtu 0 (unset)", expect: "both-ok", conf: top({ mtu: 0 }) },
  { what: "ipMasq null", expect: "both-ok", conf: top({ ipMasq: null }) },
  { what: "unknown top-level field", expect: "both-ok", conf: top({ foo: { bar: [1] } }) },
  {
    what: "runtimeConfig.portMappings garbage",
    expect: "both-ok",
    conf: top({ runtimeConfig: { portMappings: "x" } }),
  },
  {
    what: "CNI_ARGS K8S_* with odd characters",
    expect: "both-ok",
    o: { cniArgs: "IgnoreUnknown=1;K8S_POD_NAME=a b$(x);K8S_POD_NAMESPACE=" },
  },
  {
    what: "CNI_PATH of colons only",
    expect: "both-fail",
    o: { env: { CNI_PATH: ":::" } },
    conf: ipam({ type: "host-local" }),
  },
  {
    what: "duplicate key (the later wins)",
    expect: "both-ok",
    conf: (c) => JSON.stringify(c).replace(/^\{/, '{"name":"other",'),
  },
  {
    what: "network name of 200 characters",
    expect: "both-ok",
    conf: top({ name: "n".repeat(200) }),
  },
  {
    what: "network name of 300 characters",
    expect: "both-fail",
    conf: top({ name: "n".repeat(300) }),
  },
  { what: "network name with a space", expect: "both-fail", conf: top({ name: "a b" }) },
  { what: "cniVersion 1.0", expect: "both-fail", conf: top({ cniVersion: "1.0" }) },
  { what: "mtu true", expect: "both-fail", conf: top({ mtu: true }) },
  { what: "isDefaultGateway 1", expect: "both-fail", conf: top({ isDefaultGateway: 1 }) },
  { what: "bridge is lo", expect: "both-fail", conf: top({ bridge: "lo" }) },
  { what: "bridge name ..", expect: "both-fail", conf: top({ bridge: ".." }) },
  { what: "container id with /", expect: "both-fail", o: { containerId: "a/b" } },
  { what: "container id with a newline", expect: "both-fail", o: { containerId: "a\nb" } },
  { what: "ifname with :", expect: "both-fail", o: { ifName: "a:b" } },
  { what: "ifname of 16 bytes (UTF-8)", expect: "both-fail", o: { ifName: "é".repeat(8) } },
  { what: "ifname lo (exists in the pod)", expect: "both-fail", o: { ifName: "lo" } },
  { what: "CNI_NETNS a regular file", expect: "both-fail", o: { netns: "/etc/hostname" } },
  { what: "CNI_NETNS with a trailing /", expect: "both-fail", o: { netns: "/proc/self/ns/net/" } },
  { what: "CNI_ARGS pair without =", expect: "both-fail", o: { cniArgs: "IgnoreUnknown=1;x" } },
  {
    what: "CNI_ARGS IgnoreUnknown=yes",
    expect: "both-fail",
    o: { cniArgs: "IgnoreUnknown=yes;a=b" },
  },
  {
    what: "CNI_ARGS IP outside the subnet",
    expect: "both-fail",
    o: { cniArgs: "IgnoreUnknown=1;IP=192.0.2.9" },
  },
  {
    what: "CNI_ARGS IP the gateway",
    expect: "both-fail",
    o: { cniArgs: "IgnoreUnknown=1;IP=10.251.50.1" },
  },
  {
    what: "runtimeConfig.ips not an IP",
    expect: "both-fail",
    conf: top({ runtimeConfig: { ips: ["10.251.50.5/99"] } }),
  },
  { what: "ipam subnet /32", expect: "both-fail", conf: ipam({ subnet: "10.251.50.5/32" }) },
  {
    what: "ipam rangeStart after rangeEnd",
    expect: "both-fail",
    conf: ipam({ rangeStart: "10.251.50.200", rangeEnd: "10.251.50.100" }),
  },
  {
    what: "ipam gateway outside the subnet",
    expect: "both-fail",
    conf: ipam({ gateway: "192.0.2.1" }),
  },
  {
    what: "ipam overlapping range sets",
    expect: "both-fail",
    conf: ipam({
      subnet: undefined,
      ranges: [[{ subnet: "10.251.50.0/24" }], [{ subnet: "10.251.50.0/25" }]],
    }),
  },
  {
    what: "ipam route gw of the other family",
    expect: "both-fail",
    conf: ipam({ routes: [{ dst: "0.0.0.0/0", gw: "fd00::1" }] }),
  },
  {
    what: "ipam dataDir a regular file",
    expect: "both-fail",
    conf: ipam({ dataDir: "/etc/hostname" }),
  },
  { what: "ipam type not in CNI_PATH", expect: "both-fail", conf: ipam({ type: "no-such-ipam" }) },
  { what: "not JSON", expect: "both-fail", conf: () => "hello" },
  { what: "byte order mark", expect: "both-fail", conf: (c) => "\uFEFF" + JSON.stringify(c) },
  {
    what: "runtimeConfig.mac multicast",
    expect: "both-fail",
    conf: top({ runtimeConfig: { mac: "01:00:5e:00:00:01" } }),
  },
  {
    what: "CNI_ARGS MAC all zero",
    expect: "both-fail",
    o: { cniArgs: "IgnoreUnknown=1;MAC=00:00:00:00:00:00" },
  },
  { what: "stdin over 1 MiB", expect: "skein-stricter", conf: top({ pad: "x".repeat(2 << 20) }) },
];

function podLinks(ns: string): string {
  return inNs(ns, ["ip", "-o", "link", "show"]).split("\n").map((l) => l.split(":")[1]?.trim())
    .filter((n) => n).join(",");
}

Deno.test("skein accepts what the reference bridge + host-local accept and refuses what they refuse", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-parity-" });
  try {
    await withNamespaces(["host", "pod"], async (ns) => {
      const base = (plugin: string): Conf => ({
        cniVersion: "1.0.0",
        name: "parity",
        type: plugin === "skein" ? "skein" : "bridge",
        bridge: plugin === "skein" ? "parbr0" : "parbr1",
        isGateway: true,
        ipam: {
          type: plugin === "skein" ? "skein" : "host-local",
          dataDir,
          subnet: "10.251.50.0/24",
        },
      });
      const failures: string[] = [];
      for (const c of CASES) {
        const got: Record<string, number> = {};
        for (const plugin of ["skein", "bridge"]) {
          const conf = c.conf ? c.conf(base(plugin)) : base(plugin);
          const call: CallOptions = {
            command: "ADD",
            conf,
            containerId: "p1",
            netns: ns.pod!,
            ifName: "eth1",
            hostNs: ns.host!,
            plugin,
            cniArgs: "IgnoreUnknown=1",
            ...c.o,
          };
          const before = podLinks(ns.pod!) + reservations(dataDir, "parity").join(",");
          const r = await callPlugin(call);
          got[plugin] = r.code;
          if (r.code === 0) {
            await callPlugin({ ...call, command: "DEL" });
          } else if (plugin === "skein") {
            if (typeof r.json?.code !== "number" || typeof r.json?.msg !== "string") {
              failures.push(`${c.what}: skein failed without error JSON: ${r.stdout}${r.stderr}`);
            }
            const after = podLinks(ns.pod!) + reservations(dataDir, "parity").join(",");
            if (after !== before) failures.push(`${c.what}: skein's failed ADD changed ${after}`);
          }
          // The reference may leave its pod side behind on a failure: start the next case clean.
          for (const l of podLinks(ns.pod!).split(",")) {
            const name = l.split("@")[0]!;
            if (name && name !== "lo") inNs(ns.pod!, ["ip", "link", "del", name]);
          }
        }
        const skeinOk = got.skein === 0, refOk = got.bridge === 0;
        const want = c.expect === "both-ok"
          ? skeinOk && refOk
          : c.expect === "both-fail"
          ? !skeinOk && !refOk
          : !skeinOk && refOk;
        if (!want) {
          failures.push(
            `${c.what}: skein exit ${got.skein}, reference exit ${got.bridge} (want ${c.expect})`,
          );
        }
      }
      assertEquals(failures, []);
      assert(CASES.length > 30);
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
