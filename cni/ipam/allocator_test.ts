import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../testing/assert.ts";
import { CniError } from "../errors.ts";
import {
  ipamAdd,
  ipamCheck,
  ipamDel,
  ipamGc,
  ipamStatus,
  ipamStatusOfNetconf,
  validateAttachment,
} from "./allocator.ts";
import { parseIpamConfig } from "./config.ts";
import type { IpamConfig } from "./types.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "skein-ipam-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function config(dir: string, ipam: Record<string, unknown>): Promise<IpamConfig> {
  return parseIpamConfig({ name: "net1", ipam: { type: "skein", dataDir: dir, ...ipam } });
}

/** Name → content of every file in the network directory. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of Deno.readDirSync(`${dir}/net1`)) {
    out[e.name] = Deno.readTextFileSync(`${dir}/net1/${e.name}`);
  }
  return out;
}

const add = (c: IpamConfig, id: string, more: { ifName?: string; requestedIps?: string[] } = {}) =>
  ipamAdd({
    config: c,
    containerId: id,
    ifName: more.ifName ?? "eth0",
    requestedIps: more.requestedIps,
  });

async function code(p: () => Promise<unknown>, includes?: string): Promise<number> {
  return (await assertRejects(p, CniError, includes)).code;
}

Deno.test("ipamAdd() dual-stack writes host-local's layout byte for byte", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, {
      ranges: [[{ subnet: "10.9.0.0/29" }], [{ subnet: "fd00:9::/125" }]],
      routes: [{ dst: "0.0.0.0/0" }],
    });
    const r = await add(c, "cid1");
    assertEquals(r, {
      ips: [
        { address: "10.9.0.2/29", gateway: "10.9.0.1" },
        { address: "fd00:9::2/125", gateway: "fd00:9::1" },
      ],
      routes: [{ dst: "0.0.0.0/0" }],
    });
    assertEquals(snapshot(dir), {
      "10.9.0.2": "cid1\r\neth0",
      "fd00:9::2": "cid1\r\neth0",
      "last_reserved_ip.0": "10.9.0.2",
      "last_reserved_ip.1": "fd00:9::2",
      "lock": "",
    });
  });
});

Deno.test("ipamAdd() is round-robin: a released address is not reused right away", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    assertEquals((await add(c, "a")).ips[0]!.address, "10.9.0.2/24");
    assertEquals((await add(c, "b")).ips[0]!.address, "10.9.0.3/24");
    await ipamDel({ config: c, containerId: "a", ifName: "eth0" });
    assertEquals((await add(c, "c")).ips[0]!.address, "10.9.0.4/24");
  });
});

Deno.test("ipamAdd() on an exhausted range fails with code 11 and changes nothing", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/29" });
    for (let i = 0; i < 5; i++) await add(c, `c${i}`);
    const before = snapshot(dir);
    assertEquals(
      await code(() => add(c, "late"), "no IP addresses available in range set: 10.9.0.1-10.9.0.6"),
      11,
    );
    assertEquals(snapshot(dir), before);
  });
});

Deno.test("ipamAdd() rolls back the first range set when the second one fails", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, {
      ranges: [[{ subnet: "10.9.0.0/24" }], [{ subnet: "fd00::/126" }]],
    });
    await add(c, "a"); // takes fd00::2
    await add(c, "b"); // takes fd00::3, the last one
    const before = snapshot(dir);
    assertEquals(await code(() => add(c, "c"), "fd00::"), 11);
    assertEquals(snapshot(dir), before);
  });
});

Deno.test("ipamAdd() gives exactly the requested IPs or a clear error", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, {
      ranges: [[{ subnet: "10.9.0.0/24" }], [{ subnet: "fd00::/64" }]],
    });
    const r = await add(c, "a", { requestedIps: ["10.9.0.77", "fd00::77"] });
    assertEquals(r.ips.map((i) => i.address), ["10.9.0.77/24", "fd00::77/64"]);
    const before = snapshot(dir);
    assertEquals(
      await code(() => add(c, "b", { requestedIps: ["10.9.0.77"] }), "10.9.0.77 is not available"),
      100,
    );
    const e = await assertRejects(() => add(c, "b", { requestedIps: ["10.9.0.77"] }), CniError);
    assertStringIncludes(e.details ?? "", "container a interface eth0");
    assertEquals(
      await code(
        () => add(c, "b", { requestedIps: ["10.10.0.1"] }),
        "failed to allocate all requested IPs: 10.10.0.1",
      ),
      100,
    );
    assertEquals(await code(() => add(c, "b", { requestedIps: ["10.9.0.1"] }), "gateway"), 100);
    const bc = await assertRejects(() => add(c, "b", { requestedIps: ["10.9.0.255"] }), CniError);
    assertStringIncludes(bc.details ?? "", "10.9.0.255 is the subnet's broadcast address");
    assertEquals(await code(() => add(c, "b", { requestedIps: ["nonsense"] })), 7);
    assertEquals(snapshot(dir), before);
  });
});

Deno.test("ipamAdd(): requested IPs no range set can take fail naming why, and change nothing", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    await add(c, "a");
    const before = snapshot(dir);
    const e = await assertRejects(
      () => add(c, "b", { requestedIps: ["10.9.0.5", "10.9.0.6"] }),
      CniError,
      "failed to allocate all requested IPs: 10.9.0.6",
    );
    assertStringIncludes(e.details ?? "", "10.9.0.6 is in range set 0 (");
    await assertRejects(() => add(c, "b", { requestedIps: ["fd00::5"] }), CniError, "fd00::5");
    assertEquals(snapshot(dir), before);
  });
});

Deno.test("ipamAdd() refuses a second ADD of the same attachment; other interfaces are fine", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    await add(c, "a");
    assertEquals(await code(() => add(c, "a"), "duplicate allocation is not allowed"), 100);
    assertEquals((await add(c, "a", { ifName: "net1" })).ips[0]!.address, "10.9.0.3/24");
  });
});

Deno.test("ipamDel() is idempotent and releases only that attachment", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    // Before anything exists: success, and no directory is created.
    await ipamDel({ config: c, containerId: "x", ifName: "eth0" });
    assertEquals([...Deno.readDirSync(dir)].length, 0);
    await add(c, "a");
    await add(c, "a", { ifName: "net1" });
    await add(c, "b");
    await ipamDel({ config: c, containerId: "a", ifName: "eth0" });
    await ipamDel({ config: c, containerId: "a", ifName: "eth0" });
    await ipamDel({ config: c, containerId: "unknown", ifName: "eth0" });
    const s = snapshot(dir);
    assertEquals(s["10.9.0.2"], undefined);
    assertEquals(s["10.9.0.3"], "a\r\nnet1");
    assertEquals(s["10.9.0.4"], "b\r\neth0");
  });
});

Deno.test("ipamDel() prefers current records over legacy ones, as host-local", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    await add(c, "both");
    Deno.writeTextFileSync(`${dir}/net1/10.9.0.40`, "both");
    await ipamDel({ config: c, containerId: "both", ifName: "eth0" });
    assertEquals(Object.keys(snapshot(dir)).sort(), ["10.9.0.40", "last_reserved_ip.0", "lock"]);
    await ipamDel({ config: c, containerId: "both", ifName: "eth0" });
    assertEquals(Object.keys(snapshot(dir)).sort(), ["last_reserved_ip.0", "lock"]);
  });
});

Deno.test("ipamDel() frees legacy records, empty files of crashed writers and temp files", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    await add(c, "keep");
    Deno.writeTextFileSync(`${dir}/net1/10.9.0.50`, "old"); // pre-0.7 host-local: ID only
    Deno.writeTextFileSync(`${dir}/net1/10.9.0.51`, ""); // crash between create and write
    Deno.writeTextFileSync(`${dir}/net1/10.9.0.52`, "");
    Deno.writeTextFileSync(`${dir}/net1/.skein-tmp.1.x`, "dead\r\neth0");
    // Round-robin skips empty files while the range has room; a requested one is reclaimed.
    assertEquals((await add(c, "y")).ips[0]!.address, "10.9.0.3/24");
    assertEquals(
      (await add(c, "x", { requestedIps: ["10.9.0.51"] })).ips[0]!.address,
      "10.9.0.51/24",
    );
    await ipamDel({ config: c, containerId: "old", ifName: "eth0" });
    assertEquals(Object.keys(snapshot(dir)).sort(), [
      "10.9.0.2",
      "10.9.0.3",
      "10.9.0.51",
      "last_reserved_ip.0",
      "lock",
    ]);
  });
});

Deno.test("ipamCheck() passes for a holder and fails with code 3 after DEL", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    assertEquals(await code(() => ipamCheck({ config: c, containerId: "a", ifName: "eth0" })), 3);
    await add(c, "a");
    await ipamCheck({ config: c, containerId: "a", ifName: "eth0", expectedIps: ["10.9.0.2/24"] });
    assertEquals(
      await code(() =>
        ipamCheck({ config: c, containerId: "a", ifName: "eth0", expectedIps: ["10.9.0.9"] })
      ),
      100,
    );
    await ipamDel({ config: c, containerId: "a", ifName: "eth0" });
    assertEquals(
      await code(() => ipamCheck({ config: c, containerId: "a", ifName: "eth0" }), "No IP"),
      3,
    );
  });
});

Deno.test("ipamGc() releases everything not valid, keeps bookkeeping files", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    await add(c, "keep");
    await add(c, "twoif", { ifName: "eth0" });
    await add(c, "twoif", { ifName: "eth1" });
    await add(c, "gone");
    Deno.writeTextFileSync(`${dir}/net1/10.9.0.60`, "legacy-live");
    Deno.writeTextFileSync(`${dir}/net1/10.9.0.61`, "");
    Deno.writeFileSync(`${dir}/net1/10.9.0.62`, new Uint8Array([0, 1, 2, 0xff]));
    Deno.writeTextFileSync(`${dir}/net1/not-an-ip`, "x");
    const { released } = await ipamGc({
      config: c,
      validAttachments: [
        { containerID: "keep", ifname: "eth0" },
        { containerID: "twoif", ifname: "eth0" },
        { containerID: "legacy-live", ifname: "eth0" },
      ],
    });
    assertEquals(released.sort(), ["10.9.0.4", "10.9.0.5", "10.9.0.61", "10.9.0.62"]);
    assertEquals(Object.keys(snapshot(dir)).sort(), [
      "10.9.0.2",
      "10.9.0.3",
      "10.9.0.60",
      "last_reserved_ip.0",
      "lock",
      "not-an-ip",
    ]);
    assertEquals((await ipamGc({ config: c, validAttachments: [] })).released.length, 3);
    assertEquals(
      await code(() => ipamGc({ config: c, validAttachments: [{ containerID: 1 } as never] })),
      7,
    );
  });
});

Deno.test("a corrupt reservation file is skipped, then reclaimed by DEL; no other allocation lost", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    await add(c, "a"); // .2
    Deno.writeFileSync(`${dir}/net1/10.9.0.3`, new Uint8Array([0xde, 0xad, 0, 0xbe, 0xef]));
    Deno.writeTextFileSync(`${dir}/net1/last_reserved_ip.0`, "\u0000garbage");
    // Round-robin restarts at the range start, skips .2 (taken) and .3 (corrupt).
    assertEquals((await add(c, "b")).ips[0]!.address, "10.9.0.4/24");
    const ce = await assertRejects(
      () => ipamCheck({ config: c, containerId: "x", ifName: "eth0" }),
      CniError,
    );
    assertStringIncludes(ce.details ?? "", "10.9.0.3: a corrupt reservation file (not UTF-8 text");
    // DEL of any container reclaims it (no attachment can own it), and only it.
    await ipamDel({ config: c, containerId: "b", ifName: "eth0" });
    const s = snapshot(dir);
    assertEquals(s["10.9.0.2"], "a\r\neth0");
    assert(s["10.9.0.3"] === undefined, "DEL reclaims the corrupt file");
  });
});

Deno.test("ipamAdd() ignores leftover temp files and tolerates a missing or garbage cursor", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    Deno.mkdirSync(`${dir}/net1`);
    Deno.writeTextFileSync(`${dir}/net1/.skein-tmp.99.y`, "dead\r\neth0");
    assertEquals((await add(c, "a")).ips[0]!.address, "10.9.0.2/24");
    assertEquals(Object.keys(snapshot(dir)).sort(), ["10.9.0.2", "last_reserved_ip.0", "lock"]);
  });
});

Deno.test("ipamAdd() is not blocked by a FIFO or /dev/zero planted as the cursor; it replaces it", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, {
      ranges: [[{ subnet: "10.9.0.0/24" }], [{ subnet: "fd00:9::/120" }]],
    });
    Deno.mkdirSync(`${dir}/net1`);
    // Before: the read opened the FIFO and waited for a writer, holding the lock: every later
    // ADD and DEL of the node waited behind it.
    const r = new Deno.Command("mkfifo", { args: [`${dir}/net1/last_reserved_ip.0`] }).outputSync();
    assert(r.success, "mkfifo");
    Deno.symlinkSync("/dev/zero", `${dir}/net1/last_reserved_ip.1`);
    const got = (await add(c, "a")).ips.map((i) => i.address);
    assertEquals(got, ["10.9.0.2/24", "fd00:9::2/120"]);
    for (const n of [0, 1]) {
      const st = Deno.lstatSync(`${dir}/net1/last_reserved_ip.${n}`);
      assert(st.isFile, `cursor ${n} is a regular file again`);
    }
  });
});

Deno.test("ipamAdd() returns resolvConf settings as dns", async () => {
  await withDir(async (dir) => {
    Deno.writeTextFileSync(
      `${dir}/resolv.conf`,
      "# c\nnameserver 10.96.0.10\nnameserver fd00::a\ndomain cluster.local\nsearch a.svc b.svc\noptions ndots:5\n",
    );
    const c = await config(dir, { subnet: "10.9.0.0/24", resolvConf: `${dir}/resolv.conf` });
    assertEquals((await add(c, "a")).dns, {
      nameservers: ["10.96.0.10", "fd00::a"],
      domain: "cluster.local",
      search: ["a.svc", "b.svc"],
      options: ["ndots:5"],
    });
    const bad = await config(dir, { subnet: "10.9.0.0/24", resolvConf: `${dir}/missing` });
    assertEquals(await code(() => add(bad, "b"), "ipam.resolvConf"), 7);
  });
});

Deno.test("ipamStatus() is quiet while addresses are free and says 50 when exhausted", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/30" }); // one address: .2
    await ipamStatus(c);
    await add(c, "a");
    assertEquals(await code(() => ipamStatus(c), "no IP addresses available"), 50);
    assertEquals(
      await code(
        () => ipamStatusOfNetconf({ name: "n", ipam: { leaseFile: `${dir}/none.json` } }),
        "lease file",
      ),
      50,
    );
  });
});

Deno.test("parallel ipamAdd() calls in one process get distinct addresses", async () => {
  await withDir(async (dir) => {
    const c = await config(dir, { subnet: "10.9.0.0/24" });
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => add(c, `p${i}`)));
    const ips = rs.map((r) => r.ips[0]!.address);
    assertEquals(new Set(ips).size, 30);
  });
});

Deno.test('"subnet": "auto" without a lease file: ADD says 11, STATUS 50, DEL/CHECK/GC still work', async () => {
  await withDir(async (dir) => {
    const leaseFile = `${dir}/subnet.json`;
    const nc = { name: "net1", ipam: { type: "skein", dataDir: dir, subnet: "auto", leaseFile } };
    Deno.writeTextFileSync(
      leaseFile,
      JSON.stringify({ network: "10.244.0.0/16", subnet: "10.244.3.0/24" }),
    );
    const c = await parseIpamConfig(nc);
    assertEquals((await add(c, "a")).ips[0]!.address, "10.244.3.2/24");
    Deno.removeSync(leaseFile); // the daemon went away
    const down = await parseIpamConfig(nc);
    assertEquals(await code(() => add(down, "b"), "does not exist"), 11);
    assertEquals(await code(() => ipamStatus(down), "does not exist"), 50);
    await ipamCheck({ config: down, containerId: "a", ifName: "eth0" });
    await ipamDel({ config: down, containerId: "a", ifName: "eth0" });
    assertEquals(Object.keys(snapshot(dir)).sort(), ["last_reserved_ip.0", "lock"]);
    assertEquals((await ipamGc({ config: down, validAttachments: [] })).released, []);
  });
});

Deno.test("validateAttachment() refuses IDs the file format cannot hold (code 4)", () => {
  for (
    const a of [
      { containerId: "", ifName: "eth0" },
      { containerId: "a\r\nb", ifName: "eth0" },
      { containerId: "ok", ifName: "" },
      { containerId: "ok", ifName: "a/b" },
      { containerId: "ok", ifName: "sixteen-chars-xx" },
    ]
  ) {
    assertEquals(assertThrows(() => validateAttachment(a), CniError).code, 4);
  }
  validateAttachment({ containerId: "abc-1_2.3", ifName: "eth0" });
});
