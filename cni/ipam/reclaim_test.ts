/**
 * Reservation files abandoned by dead writers (zero-length: killed between create and fill, as
 * host-local can be; corrupt: unreadable) are reclaimed by the next DEL, GC, and ADD that finds
 * its range full or its requested address held by one; complete records never are.
 */
import { assertEquals, assertRejects } from "../../testing/assert.ts";
import { CniError } from "../errors.ts";
import { ipamAdd, ipamDel, ipamGc, ipamStatus } from "./allocator.ts";
import { parseIpamConfig } from "./config.ts";
import type { IpamConfig } from "./types.ts";

async function withNet(fn: (c: IpamConfig, dir: string) => Promise<void>): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "skein-ipam-reclaim-" });
  try {
    // 10.9.0.2 - 10.9.0.6: five addresses.
    const c = await parseIpamConfig({
      name: "net1",
      ipam: { type: "skein", dataDir, subnet: "10.9.0.0/29" },
    });
    await fn(c, `${dataDir}/net1`);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

const add = (c: IpamConfig, id: string, requestedIps?: string[]) =>
  ipamAdd({ config: c, containerId: id, ifName: "eth0", requestedIps });

function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of Deno.readDirSync(dir)) {
    if (e.name === "lock" || e.name.startsWith("last_reserved")) continue;
    out[e.name] = Deno.readTextFileSync(`${dir}/${e.name}`);
  }
  return out;
}

/** Fills every free address of 10.9.0.2-6 with an empty or corrupt (alternating) file. */
function abandonAllFree(dir: string): void {
  for (let i = 2; i <= 6; i++) {
    try {
      Deno.writeTextFileSync(`${dir}/10.9.0.${i}`, i % 2 ? "" : "not a\nrecord at all\n!", {
        createNew: true,
      });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

Deno.test("ipamAdd() on a range full of abandoned files reclaims them, keeps live ones", async () => {
  await withNet(async (c, dir) => {
    await add(c, "live1");
    await add(c, "live2");
    abandonAllFree(dir);
    const r = await add(c, "new");
    assertEquals(r.ips[0]!.address, "10.9.0.4/29");
    assertEquals(files(dir), {
      "10.9.0.2": "live1\r\neth0",
      "10.9.0.3": "live2\r\neth0",
      "10.9.0.4": "new\r\neth0",
    });
  });
});

Deno.test("ipamAdd() of a requested address held by an empty file reclaims it", async () => {
  await withNet(async (c, dir) => {
    await add(c, "first"); // creates the network directory
    Deno.writeTextFileSync(`${dir}/10.9.0.5`, "");
    const r = await add(c, "want5", ["10.9.0.5"]);
    assertEquals(r.ips[0]!.address, "10.9.0.5/29");
    // A complete record is never reclaimed: the requested address stays refused.
    const e = await assertRejects(() => add(c, "other", ["10.9.0.5"]), CniError);
    assertEquals(e.code, 100);
    assertEquals(files(dir)["10.9.0.5"], "want5\r\neth0");
  });
});

Deno.test("ipamDel() of any container reclaims empty and corrupt files, keeps live ones", async () => {
  await withNet(async (c, dir) => {
    await add(c, "live1");
    abandonAllFree(dir);
    await ipamDel({ config: c, containerId: "unknown", ifName: "eth0" });
    assertEquals(files(dir), { "10.9.0.2": "live1\r\neth0" });
  });
});

Deno.test("ipamGc() reclaims abandoned files; ipamStatus() counts them as free", async () => {
  await withNet(async (c, dir) => {
    await add(c, "live1");
    abandonAllFree(dir);
    // Full of abandoned files, yet an ADD would succeed: STATUS says ready.
    await ipamStatus(c);
    const { released } = await ipamGc({
      config: c,
      validAttachments: [{ containerID: "live1", ifname: "eth0" }],
    });
    assertEquals(released.sort(), ["10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]);
    assertEquals(files(dir), { "10.9.0.2": "live1\r\neth0" });
  });
});

Deno.test("ipamAdd() with a range full of complete records still fails with code 11", async () => {
  await withNet(async (c) => {
    for (let i = 0; i < 5; i++) await add(c, `c${i}`);
    const e = await assertRejects(() => add(c, "late"), CniError);
    assertEquals(e.code, 11);
  });
});
