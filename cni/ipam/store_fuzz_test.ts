/**
 * Hostile IPAM state on disk: corrupt and huge reservation files, wrong line endings,
 * directories and symlinks where files should be, corrupt cursors, a bad lock, leftover
 * temporary files. ADD/DEL/GC give a clear CniError or skip safely; they never follow a symlink
 * to write elsewhere, never hand out an address whose name is taken, and never free an address
 * that a valid attachment holds.
 */
import { assert, assertEquals, assertNotEquals, assertRejects } from "../../testing/assert.ts";
import { CniError } from "../errors.ts";
import { ipamAdd, ipamDel, ipamGc } from "./allocator.ts";
import { parseIpamConfig } from "./config.ts";
import type { IpamConfig } from "./types.ts";

async function withDir(fn: (dir: string, net: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "skein-ipam-hostile-" });
  try {
    Deno.mkdirSync(`${dir}/net1`);
    await fn(dir, `${dir}/net1`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function config(dir: string, subnet = "10.9.0.0/29"): Promise<IpamConfig> {
  return parseIpamConfig({ name: "net1", ipam: { type: "skein", dataDir: dir, subnet } });
}

const add = async (c: IpamConfig, id: string, ifName = "eth0") =>
  (await ipamAdd({ config: c, containerId: id, ifName })).ips[0]!.address.split("/")[0]!;

Deno.test("IPAM: odd reservation files are skipped; a full range reclaims only unreadable ones", async () => {
  await withDir(async (dir, net) => {
    const c = await config(dir); // 10.9.0.2 .. 10.9.0.6 usable
    const binary = crypto.getRandomValues(new Uint8Array(4096));
    binary[0] = 0xff; // never UTF-8
    Deno.writeFileSync(`${net}/10.9.0.2`, binary);
    Deno.writeFileSync(`${net}/10.9.0.3`, new Uint8Array(20 << 20).fill(0x41)); // 20 MB legacy ID
    Deno.writeTextFileSync(`${net}/10.9.0.4`, "live1\neth0"); // LF only: a live attachment
    Deno.mkdirSync(`${net}/10.9.0.5`); // a directory named like an address
    const got = await add(c, "new1");
    assertEquals(got, "10.9.0.6");
    // The range is full: the unreadable file (no attachment can own it) is reclaimed.
    assertEquals(await add(c, "new2"), "10.9.0.2");
    await assertRejects(() => add(c, "new3"), CniError, "no IP addresses available");
    // DEL of the LF-written attachment frees exactly its address.
    await ipamDel({ config: c, containerId: "live1", ifName: "eth0" });
    assert(!exists(`${net}/10.9.0.4`));
    assert(exists(`${net}/10.9.0.2`) && exists(`${net}/10.9.0.3`) && exists(`${net}/10.9.0.5`));
  });
});

Deno.test("IPAM: GC keeps valid attachments whatever the line endings, removes garbage", async () => {
  await withDir(async (dir, net) => {
    const c = await config(dir);
    Deno.writeTextFileSync(`${net}/10.9.0.2`, "keep1\neth0");
    Deno.writeTextFileSync(`${net}/10.9.0.3`, "keep2\r\neth0\r\n");
    Deno.writeTextFileSync(`${net}/10.9.0.4`, "keep3\reth0");
    Deno.writeFileSync(`${net}/10.9.0.5`, new Uint8Array([0xff, 0xfe, 0, 1]));
    Deno.writeTextFileSync(`${net}/.skein-tmp.1.x`, "dead\r\neth0");
    const { released } = await ipamGc({
      config: c,
      validAttachments: ["keep1", "keep2", "keep3"].map((id) => ({
        containerID: id,
        ifname: "eth0",
      })),
    });
    assertEquals(released, ["10.9.0.5"]);
    assert(exists(`${net}/10.9.0.2`) && exists(`${net}/10.9.0.3`) && exists(`${net}/10.9.0.4`));
    assert(!exists(`${net}/.skein-tmp.1.x`));
  });
});

Deno.test("IPAM: a symlinked cursor or reservation is never followed to write elsewhere", async () => {
  await withDir(async (dir, net) => {
    const c = await config(dir);
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "precious");
    Deno.symlinkSync(victim, `${net}/last_reserved_ip.0`);
    Deno.symlinkSync(victim, `${net}/10.9.0.2`);
    const got = await add(c, "c1");
    assertNotEquals(got, "10.9.0.2", "an address whose name is taken (by a symlink) is skipped");
    assertEquals(Deno.readTextFileSync(victim), "precious");
    await ipamDel({ config: c, containerId: "c1", ifName: "eth0" });
    await ipamGc({ config: c, validAttachments: [] });
    assertEquals(Deno.readTextFileSync(victim), "precious");
    // The cursor now is a regular file of skein's; the reservation symlink was left alone.
    assert(Deno.lstatSync(`${net}/10.9.0.2`).isSymlink);
  });
});

Deno.test("IPAM: the cursor is rewritten in place; a hard-linked one is replaced, not written through", async () => {
  await withDir(async (dir, net) => {
    const c = await config(dir);
    const cursor = `${net}/last_reserved_ip.0`;
    assertEquals(await add(c, "c1"), "10.9.0.2");
    const ino = Deno.lstatSync(cursor).ino;
    assertEquals(await add(c, "c2"), "10.9.0.3");
    assertEquals(Deno.readTextFileSync(cursor), "10.9.0.3");
    assertEquals(Deno.lstatSync(cursor).ino, ino, "a plain cursor file is rewritten in place");
    // A longer address, then a shorter one: the file holds exactly the last one.
    Deno.writeTextFileSync(cursor, "10.9.0.4");
    assertEquals(await add(c, "c3"), "10.9.0.5");
    assertEquals(Deno.readTextFileSync(cursor), "10.9.0.5");
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "10.9.0.5");
    Deno.removeSync(cursor);
    Deno.linkSync(victim, cursor);
    assertEquals(await add(c, "c4"), "10.9.0.6");
    assertEquals(Deno.readTextFileSync(victim), "10.9.0.5", "a hard link is never written through");
    assertEquals(Deno.readTextFileSync(cursor), "10.9.0.6");
    assertEquals(Deno.lstatSync(cursor).nlink, 1);
  });
});

Deno.test("IPAM: a symlinked lock file is refused with code 5", async () => {
  await withDir(async (dir, net) => {
    const c = await config(dir);
    Deno.symlinkSync(`${dir}/elsewhere-lock`, `${net}/lock`);
    const e = await assertRejects(() => add(c, "c1"), CniError);
    assertEquals(e.code, 5);
    assert(!exists(`${dir}/elsewhere-lock`), "the symlink's target was not created");
    assertEquals(reservations(net), []);
  });
});

Deno.test("IPAM: a directory as lock or cursor gives code 5 and reserves nothing", async () => {
  await withDir(async (dir, net) => {
    const c = await config(dir);
    Deno.mkdirSync(`${net}/lock`);
    assertEquals((await assertRejects(() => add(c, "c1"), CniError)).code, 5);
    Deno.removeSync(`${net}/lock`);
    Deno.mkdirSync(`${net}/last_reserved_ip.0`);
    const e = await assertRejects(() => add(c, "c1"), CniError);
    assertEquals(e.code, 5);
    assertEquals(reservations(net), [], "the failed ADD rolled its reservation back");
  });
});

Deno.test("IPAM: garbage cursors restart round-robin; the network dir as a file is code 5", async () => {
  await withDir(async (dir, net) => {
    const c = await config(dir);
    for (const junk of ["", "garbage", "10.9.0.99", "::1", "\x00\x01", "10.9.0.4\r\n\r\n"]) {
      Deno.writeTextFileSync(`${net}/last_reserved_ip.0`, junk);
      const ip = await add(c, "c1");
      assert(/^10\.9\.0\.[2-6]$/.test(ip), `${JSON.stringify(junk)} gave ${ip}`);
      await ipamDel({ config: c, containerId: "c1", ifName: "eth0" });
    }
    Deno.removeSync(net, { recursive: true });
    Deno.writeTextFileSync(net, "not a directory");
    assertEquals((await assertRejects(() => add(c, "c1"), CniError)).code, 5);
    assertEquals(Deno.readTextFileSync(net), "not a directory");
  });
});

function exists(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function reservations(net: string): string[] {
  return [...Deno.readDirSync(net)].map((e) => e.name).filter((n) => /^[0-9.:a-f]+$/.test(n))
    .sort();
}

Deno.test("IPAM config: a range wider than /8 (v6 /16) is refused before anything is written", async () => {
  await withDir(async (dir, net) => {
    for (const subnet of ["0.0.0.0/0", "10.0.0.0/7", "::/0", "fd00::/15"]) {
      const e = await assertRejects(() => config(dir, subnet), CniError, "too large");
      assertEquals(e.code, 7);
    }
    await config(dir, "10.0.0.0/8");
    await config(dir, "fd00::/16");
    assertEquals(reservations(net), []);
  });
});
