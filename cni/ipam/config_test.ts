import { assertEquals, assertRejects, assertStringIncludes } from "../../testing/assert.ts";
import { CniError } from "../errors.ts";
import { parseIpamConfig } from "./config.ts";

async function code(netconf: Record<string, unknown>, includes?: string): Promise<number> {
  const e = await assertRejects(() => parseIpamConfig(netconf), CniError, includes);
  return e.code;
}

Deno.test("parseIpamConfig() reads the legacy subnet form with defaults filled in", async () => {
  const c = await parseIpamConfig({
    name: "pods",
    ipam: {
      type: "skein",
      subnet: "10.1.0.0/24",
      rangeStart: "10.1.0.10",
      routes: [{ dst: "0.0.0.0/0" }, { dst: "10.9.0.5/16", gw: "10.1.0.1" }],
    },
  });
  assertEquals(c, {
    type: "skein",
    ranges: [[{
      subnet: "10.1.0.0/24",
      rangeStart: "10.1.0.10",
      rangeEnd: "10.1.0.254",
      gateway: "10.1.0.1",
    }]],
    routes: [{ dst: "0.0.0.0/0" }, { dst: "10.9.0.0/16", gw: "10.1.0.1" }],
    dataDir: "/var/lib/cni/networks",
    networkName: "pods",
    leaseFile: "/run/skein/subnet.json",
  });
});

Deno.test("parseIpamConfig() prepends runtimeConfig.ipRanges and the legacy subnet to ranges", async () => {
  const c = await parseIpamConfig({
    name: "pods",
    runtimeConfig: { ipRanges: [[{ subnet: "10.3.0.0/24" }]] },
    ipam: {
      type: "skein",
      subnet: "10.1.0.0/24",
      ranges: [[{ subnet: "fd00::/64" }]],
      dataDir: "/tmp/x",
      resolvConf: "/etc/resolv.conf",
    },
  });
  assertEquals(c.ranges.map((s) => s[0]!.subnet), ["10.3.0.0/24", "10.1.0.0/24", "fd00::/64"]);
  assertEquals(c.dataDir, "/tmp/x");
  assertEquals(c.resolvConf, "/etc/resolv.conf");
});

Deno.test("parseIpamConfig() names the bad field with code 7, unknown fields with code 2", async () => {
  const base = { name: "pods" };
  assertEquals(await code({ ...base }, "ipam: missing"), 7);
  assertEquals(await code({ name: "a/b", ipam: { subnet: "10.0.0.0/24" } }, "name"), 7);
  assertEquals(
    await code(
      { ...base, ipam: { subnet: "10.0.0.0/24", rangeStrat: "x" } },
      'ipam.rangeStrat (did you mean "rangeStart"?)',
    ),
    2,
  );
  assertEquals(
    await code(
      { ...base, ipam: { ranges: [[{ subnet: "10.0.0.0/24", foo: 1 }]] } },
      "ipam.ranges[0][0].foo",
    ),
    2,
  );
  assertEquals(await code({ ...base, ipam: { ranges: "10.0.0.0/24" } }, "ipam.ranges"), 7);
  assertEquals(
    await code({ ...base, ipam: { ranges: [{ subnet: "10.0.0.0/24" }] } }, "ipam.ranges[0]"),
    7,
  );
  assertEquals(
    await code({ ...base, ipam: { subnet: "10.0.0.0/24", gateway: "10.0.1.1" } }, "gateway"),
    7,
  );
  assertEquals(
    await code({ ...base, ipam: { subnet: "10.0.0.0/24", dataDir: 5 } }, "ipam.dataDir"),
    7,
  );
  assertEquals(
    await code(
      { ...base, ipam: { subnet: "10.0.0.0/24", routes: [{ dst: "x" }] } },
      "ipam.routes[0].dst",
    ),
    7,
  );
  assertEquals(
    await code({
      ...base,
      ipam: { subnet: "10.0.0.0/24", routes: [{ dst: "0.0.0.0/0", gw: "fd00::1" }] },
    }, "same family"),
    7,
  );
  assertEquals(
    await code({
      ...base,
      ipam: { ranges: [[{ subnet: "10.0.0.0/16" }], [{ subnet: "10.0.1.0/24" }]] },
    }, "overlaps"),
    7,
  );
  assertEquals(
    await code(
      { ...base, ipam: { rangeStart: "10.0.0.5", ranges: [[{ subnet: "10.0.0.0/24" }]] } },
      "legacy",
    ),
    7,
  );
});

Deno.test('parseIpamConfig() resolves "subnet": "auto" from the JSON lease file (dual-stack)', async () => {
  const dir = await Deno.makeTempDir();
  try {
    const leaseFile = `${dir}/subnet.json`;
    await Deno.writeTextFile(
      leaseFile,
      JSON.stringify({
        node: "n1",
        network: "10.244.0.0/16",
        subnet: "10.244.1.0/24",
        network6: "fd00:10:244::/56",
        subnet6: "fd00:10:244:1::/64",
        mtu: 1450,
        ipMasq: true,
        backend: "vxlan",
      }),
    );
    const c = await parseIpamConfig({
      name: "pods",
      ipam: { type: "skein", subnet: "auto", leaseFile },
    });
    assertEquals(c.ranges.map((s) => [s[0]!.subnet, s[0]!.gateway]), [
      ["10.244.1.0/24", "10.244.1.1"],
      ["fd00:10:244:1::/64", "fd00:10:244:1::1"],
    ]);
    assertEquals(c.routes, [
      { dst: "10.244.0.0/16", gw: "10.244.1.1" },
      { dst: "fd00:10:244::/56", gw: "fd00:10:244:1::1" },
    ]);
    assertEquals(c.nodeLease?.mtu, 1450);
    // No ranges at all means auto too.
    const c2 = await parseIpamConfig({ name: "pods", ipam: { type: "skein", leaseFile } });
    assertEquals(c2.ranges.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('parseIpamConfig() "auto": missing lease file is 11, corrupt is 6 (deferred unless strict), flannel subnet.env works', async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = { name: "pods", ipam: { subnet: "auto", leaseFile: `${dir}/none.json` } };
    const lenient = await parseIpamConfig(missing);
    assertEquals(lenient.ranges, []);
    assertEquals(lenient.leaseError?.code, 11);
    assertStringIncludes(lenient.leaseError?.message ?? "", "does not exist");
    const strict = (nc: Record<string, unknown>, includes: string) =>
      assertRejects(() => parseIpamConfig(nc, { strict: true }), CniError, includes).then((e) =>
        e.code
      );
    assertEquals(await strict(missing, "does not exist"), 11);
    await Deno.writeTextFile(`${dir}/bad.json`, '{"subnet": 42}');
    assertEquals(
      await strict({ name: "p", ipam: { leaseFile: `${dir}/bad.json` } }, '"subnet"'),
      6,
    );
    await Deno.writeTextFile(`${dir}/bad2.json`, '{"subnet": "10.0.0.0/24", "mtu": "big"}');
    assertEquals(await strict({ name: "p", ipam: { leaseFile: `${dir}/bad2.json` } }, '"mtu"'), 6);
    await Deno.writeTextFile(`${dir}/bad3.json`, "\u0000garbage");
    assertEquals(
      await strict({ name: "p", ipam: { leaseFile: `${dir}/bad3.json` } }, "not valid JSON"),
      6,
    );
    await Deno.writeTextFile(
      `${dir}/subnet.env`,
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    const c = await parseIpamConfig({
      name: "p",
      ipam: { subnet: "auto", leaseFile: `${dir}/subnet.env` },
    });
    assertEquals(c.ranges, [[{
      subnet: "10.244.7.0/24",
      rangeStart: "10.244.7.1",
      rangeEnd: "10.244.7.254",
      gateway: "10.244.7.1",
    }]]);
    assertEquals(c.routes, [{ dst: "10.244.0.0/16", gw: "10.244.7.1" }]);
    assertEquals(c.nodeLease, {
      network: "10.244.0.0/16",
      subnet: "10.244.7.0/24",
      mtu: 1450,
      ipMasq: true,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseIpamConfig() refuses an explicitly empty ranges list with code 7, as host-local", async () => {
  // host-local: "no IP ranges specified". Was code 11 (read as "subnet": "auto").
  for (const ranges of [[], null]) {
    const e = await assertRejects(
      () => parseIpamConfig({ name: "p", ipam: { ranges, leaseFile: "/nonexistent/l.json" } }),
      CniError,
      "ipam.ranges: no IP ranges specified",
    );
    assertEquals(e.code, 7);
  }
  // With a legacy subnet, runtimeConfig.ipRanges or "auto", an empty list adds nothing.
  const legacy = await parseIpamConfig({ name: "p", ipam: { subnet: "10.0.0.0/24", ranges: [] } });
  assertEquals(legacy.ranges.map((s) => s[0]!.subnet), ["10.0.0.0/24"]);
  const rc = await parseIpamConfig({
    name: "p",
    runtimeConfig: { ipRanges: [[{ subnet: "10.0.1.0/24" }]] },
    ipam: { ranges: [] },
  });
  assertEquals(rc.ranges.map((s) => s[0]!.subnet), ["10.0.1.0/24"]);
  const auto = await parseIpamConfig({
    name: "p",
    ipam: { subnet: "auto", ranges: [], leaseFile: "/nonexistent/l.json" },
  });
  assertEquals(auto.leaseError?.code, 11);
});

Deno.test('parseIpamConfig() reads "" in an optional field as unset (the default), as host-local', async () => {
  // host-local: dataDir "" is /var/lib/cni/networks, an empty gateway/rangeStart/rangeEnd is
  // the default, an empty route gw is none. Was code 7 "must be a non-empty string".
  const c = await parseIpamConfig({
    name: "p",
    ipam: {
      subnet: "10.0.0.0/24",
      rangeStart: "",
      rangeEnd: "",
      gateway: "",
      dataDir: "",
      resolvConf: "",
      leaseFile: "",
      routes: [{ dst: "0.0.0.0/0", gw: "" }],
    },
  });
  assertEquals(c, {
    type: "skein",
    ranges: [[{
      subnet: "10.0.0.0/24",
      rangeStart: "10.0.0.1",
      rangeEnd: "10.0.0.254",
      gateway: "10.0.0.1",
    }]],
    routes: [{ dst: "0.0.0.0/0" }],
    dataDir: "/var/lib/cni/networks",
    networkName: "p",
    leaseFile: "/run/skein/subnet.json",
  });
  assertEquals(
    await code({ name: "p", ipam: { subnet: "10.0.0.0/24", dataDir: 5 } }, "must be a string"),
    7,
  );
});

Deno.test("parseIpamConfig() takes the CNI 1.1 route fields mtu, advmss, priority, table, scope", async () => {
  // Was code 2 (unsupported field). host-local 1.1.1 drops them; newer plugins apply them.
  const c = await parseIpamConfig({
    name: "p",
    ipam: {
      subnet: "10.0.0.0/24",
      routes: [
        { dst: "10.9.0.0/16", mtu: 1400, advmss: 1360, priority: 50, table: 100, scope: 200 },
        { dst: "0.0.0.0/0", mtu: 0, advmss: 0, priority: 0, table: 0, scope: 0 },
      ],
    },
  });
  assertEquals(c.routes, [
    { dst: "10.9.0.0/16", mtu: 1400, advmss: 1360, priority: 50, table: 100, scope: 200 },
    // mtu/advmss 0 are unset (netlink sends no metric for 0); the others are kept as given.
    { dst: "0.0.0.0/0", priority: 0, table: 0, scope: 0 },
  ]);
  const bad: [Record<string, unknown>, string][] = [
    [{ mtu: "1400" }, "ipam.routes[0].mtu"],
    [{ mtu: 70000 }, "ipam.routes[0].mtu"],
    [{ advmss: 1.5 }, "ipam.routes[0].advmss"],
    [{ priority: -1 }, "ipam.routes[0].priority"],
    [{ table: 2 ** 32 }, "ipam.routes[0].table"],
    [{ scope: 256 }, "ipam.routes[0].scope"],
  ];
  for (const [fields, where] of bad) {
    const routes = [{ dst: "10.9.0.0/16", ...fields }];
    assertEquals(await code({ name: "p", ipam: { subnet: "10.0.0.0/24", routes } }, where), 7);
  }
});

Deno.test("parseIpamConfig() matches keys ignoring case, as host-local (Go's JSON) does", async () => {
  // host-local allocates 10.0.0.50 for "rangestart"; skein answered code 2.
  const c = await parseIpamConfig({
    name: "p",
    ipam: {
      Type: "skein",
      SUBNET: "10.0.0.0/24",
      rangestart: "10.0.0.50",
      Routes: [{ DST: "10.9.0.0/16", Gw: "10.0.0.1", MTU: 1400 }],
      RANGES: [[{ Subnet: "10.0.1.0/24", GATEWAY: "10.0.1.9" }]],
      DataDir: "/tmp/x",
    },
  });
  assertEquals(c.ranges.map((s) => [s[0]!.rangeStart, s[0]!.gateway]), [
    ["10.0.0.50", "10.0.0.1"],
    ["10.0.1.1", "10.0.1.9"],
  ]);
  assertEquals(c.routes, [{ dst: "10.9.0.0/16", gw: "10.0.0.1", mtu: 1400 }]);
  assertEquals(c.dataDir, "/tmp/x");
  // skein's own leaseFile is exact: the launcher looks for the daemon's socket by that name.
  assertEquals(
    await code(
      { name: "p", ipam: { subnet: "auto", LeaseFile: "/x.json" } },
      'ipam.LeaseFile (did you mean "leaseFile"?)',
    ),
    2,
  );
  // The same field twice is ambiguous (host-local takes the last one): code 7 naming both.
  assertEquals(
    await code(
      {
        name: "p",
        ipam: { subnet: "10.0.0.0/24", rangeStart: "10.0.0.5", rangestart: "10.0.0.6" },
      },
      '"rangeStart" and "rangestart" both set rangeStart',
    ),
    7,
  );
});

Deno.test("parseIpamConfig() refuses an unknown key with code 2, naming it and saying what to do", async () => {
  const e = await assertRejects(
    () => parseIpamConfig({ name: "p", ipam: { subnet: "10.0.0.0/24", _comment: "pods" } }),
    CniError,
    "Unsupported IPAM field ipam._comment",
  );
  assertEquals(e.code, 2);
  assertStringIncludes(e.details ?? "", 'remove "_comment" from the network config');
  assertStringIncludes(e.details ?? "", "ipam takes type, subnet, rangeStart");
  const r = await assertRejects(
    () =>
      parseIpamConfig({ name: "p", ipam: { ranges: [[{ subnet: "10.0.0.0/24", gatway: "x" }]] } }),
    CniError,
    'ipam.ranges[0][0].gatway (did you mean "gateway"?)',
  );
  assertStringIncludes(r.details ?? "", 'rename it to "gateway"');
  // No far-fetched guess: "id" is two edits from "gw" but no misspelling of it.
  const id = await assertRejects(
    () =>
      parseIpamConfig({
        name: "p",
        ipam: { subnet: "10.0.0.0/24", routes: [{ dst: "0.0.0.0/0", id: 1 }] },
      }),
    CniError,
  );
  assertEquals([id.code, id.message], [2, "Unsupported IPAM field ipam.routes[0].id"]);
});

Deno.test("parseIpamConfig() reads RuntimeConfig.IPRanges ignoring case, as host-local", async () => {
  // host-local (Go's JSON) allocates from "RuntimeConfig": {"IPRanges": ...}; skein ignored it.
  const c = await parseIpamConfig({
    name: "pods",
    RuntimeConfig: { IPRanges: [[{ subnet: "10.3.0.0/24" }]] },
    ipam: { type: "skein", ranges: [[{ subnet: "fd00::/64" }]] },
  });
  assertEquals(c.ranges.map((s) => s[0]!.subnet), ["10.3.0.0/24", "fd00::/64"]);
  const both = { ipRanges: [[{ subnet: "10.3.0.0/24" }]], iPRanges: [] };
  assertEquals(
    await code(
      { name: "p", runtimeConfig: both, ipam: { subnet: "10.0.0.0/24" } },
      '"ipRanges" and "iPRanges" both set ipRanges',
    ),
    7,
  );
});
