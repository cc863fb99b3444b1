/**
 * The `ipam` section read by skein and by Debian's reference host-local (/usr/lib/cni/host-local)
 * side by side: each case runs an ADD through both on separate temporary data directories and
 * compares what a runtime sees (the addresses, or a refusal and its reason). The differences
 * skein keeps on purpose are cases of their own, stated as such. No root, no namespace.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import {
  addresses,
  hasHostLocal,
  type ProcResult,
  runHostLocal,
  runSkein,
} from "./ipam_helpers.ts";

const ignore = !hasHostLocal();
if (ignore) console.log("skipping IPAM config parity tests: /usr/lib/cni/host-local is missing");

/** One ADD of `ipam` (plus a temporary dataDir) through host-local and through skein. */
async function both(ipam: Record<string, unknown>): Promise<{ hl: ProcResult; sk: ProcResult }> {
  const dirs = [0, 1].map(() => Deno.makeTempDirSync({ prefix: "skein-ipam-parity-" }));
  try {
    const hl = await runHostLocal({
      cmd: "ADD",
      id: "c1",
      netconf: {
        cniVersion: "1.0.0",
        name: "parity",
        type: "bridge",
        ipam: { dataDir: dirs[0], ...ipam, type: "host-local" },
      },
    });
    const sk = await runSkein({
      op: "add",
      id: "c1",
      input: {
        cniVersion: "1.1.0",
        name: "parity",
        type: "skein",
        ipam: { dataDir: dirs[1], ...ipam, type: "skein" },
      },
    });
    return { hl, sk };
  } finally {
    for (const d of dirs) Deno.removeSync(d, { recursive: true });
  }
}

/** Both allocated, the same addresses. */
function sameAddresses(r: { hl: ProcResult; sk: ProcResult }, want: string[]): void {
  assertEquals(r.hl.code, 0, r.hl.stdout + r.hl.stderr);
  assertEquals(r.sk.code, 0, r.sk.stdout + r.sk.stderr);
  assertEquals(addresses(r.hl.json), want);
  assertEquals(addresses(r.sk.json), want);
}

/** Both refused; skein with `code` and a message holding every one of `says`. */
function bothRefuse(
  r: { hl: ProcResult; sk: ProcResult },
  hlSays: string,
  code: number,
  says: string[],
): void {
  assert(r.hl.code !== 0, `host-local accepted: ${r.hl.stdout}`);
  assertStringIncludes(String(r.hl.json?.msg), hlSays);
  assertEquals([r.sk.code, r.sk.json?.code], [1, code], r.sk.stdout);
  for (const s of says) assertStringIncludes(String(r.sk.json?.msg), s);
}

Deno.test({
  name: "ipam parity: an empty ranges list is refused by both (skein code 7, not 11)",
  ignore,
  fn: async () => {
    bothRefuse(await both({ ranges: [] }), "no IP ranges specified", 7, [
      "no IP ranges specified",
    ]);
  },
});

Deno.test({
  name: "ipam parity: a subnet with host bits set is refused by both, naming the network",
  ignore,
  fn: async () => {
    bothRefuse(await both({ subnet: "10.66.2.3/24" }), "host bits set", 7, [
      "host bits set",
      "10.66.2.0/24",
    ]);
    bothRefuse(await both({ ranges: [[{ subnet: "fd00:66::5/64" }]] }), "host bits set", 7, [
      "fd00:66::/64",
    ]);
  },
});

Deno.test({
  name:
    'ipam parity: "" in gateway, rangeStart, rangeEnd, resolvConf and a route gw is the default',
  ignore,
  fn: async () => {
    const r = await both({
      subnet: "10.66.3.0/24",
      gateway: "",
      rangeStart: "",
      rangeEnd: "",
      resolvConf: "",
      routes: [{ dst: "0.0.0.0/0", gw: "" }],
    });
    sameAddresses(r, ["10.66.3.2"]);
    assertEquals(r.sk.json?.routes, [{ dst: "0.0.0.0/0" }]);
    assertEquals(r.hl.json?.routes, [{ dst: "0.0.0.0/0" }]);
  },
});

Deno.test({
  name: "ipam parity: keys match ignoring case (rangestart, Subnet, RANGES, Gateway)",
  ignore,
  fn: async () => {
    sameAddresses(await both({ Subnet: "10.66.4.0/24", rangestart: "10.66.4.50" }), [
      "10.66.4.50",
    ]);
    const r = await both({ RANGES: [[{ SUBNET: "10.66.5.0/24", Gateway: "10.66.5.9" }]] });
    sameAddresses(r, ["10.66.5.1"]);
    assertEquals((r.sk.json?.ips as { gateway: string }[])[0]?.gateway, "10.66.5.9");
  },
});

Deno.test({
  name:
    "ipam parity: CNI 1.1 route fields are accepted (host-local 1.1.1 drops them, skein keeps them)",
  ignore,
  fn: async () => {
    const route = { dst: "10.9.0.0/16", mtu: 1400, advmss: 1360, priority: 5, table: 9, scope: 0 };
    const r = await both({ subnet: "10.66.6.0/24", routes: [route] });
    sameAddresses(r, ["10.66.6.2"]);
    assertEquals(r.sk.json?.routes, [route]);
  },
});

Deno.test({
  name: "ipam parity, deliberate differences: unknown keys, the network address",
  ignore,
  fn: async () => {
    // host-local ignores an unknown key; skein refuses it (code 2) naming it and what to do.
    const typo = await both({ subnet: "10.66.7.0/24", rangeStrat: "10.66.7.50" });
    assertEquals(addresses(typo.hl.json), ["10.66.7.2"]); // the typo is lost silently
    assertEquals(typo.sk.json?.code, 2, typo.sk.stdout);
    assertStringIncludes(String(typo.sk.json?.msg), 'did you mean "rangeStart"?');
    // host-local hands out the network address when rangeStart names it; skein skips it.
    const net = await both({ subnet: "10.66.8.0/24", rangeStart: "10.66.8.0" });
    assertEquals([addresses(net.hl.json), addresses(net.sk.json)], [["10.66.8.0"], ["10.66.8.2"]]);
  },
});
