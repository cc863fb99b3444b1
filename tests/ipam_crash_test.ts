/**
 * Crash injection: an IPAM ADD process SIGKILLed at every named point of ADD
 * (SKEIN_TEST_CRASH_AT, see cni/ipam/_crash.ts) and at random moments leaves only state that
 * a later DEL or GC frees, and never lets one address be handed to two attachments.
 * No root needed (temp dataDir only).
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { CRASH_POINTS } from "../cni/ipam/_crash.ts";
import {
  addresses,
  readNetworkDir,
  reservations,
  runSkein,
  spawnSkein,
  wait,
} from "./ipam_helpers.ts";

const BOOKKEEPING = ["last_reserved_ip.0", "last_reserved_ip.1", "lock"];

function netconf(dataDir: string, name: string) {
  return {
    cniVersion: "1.1.0",
    name,
    type: "skein",
    ipam: {
      type: "skein",
      dataDir,
      ranges: [[{ subnet: "10.88.0.0/27" }], [{ subnet: "fd00:88::/123" }]],
    },
  };
}

/** Every reservation file is complete and names a known owner; no address has two. */
function assertConsistent(dataDir: string, name: string): Record<string, string> {
  const files = reservations(dataDir, name);
  for (const [ip, content] of Object.entries(files)) {
    assert(
      /^[a-z0-9-]+\r\neth0$/.test(content),
      `reservation ${ip} is incomplete: ${JSON.stringify(content)}`,
    );
  }
  return files;
}

for (const freeWith of ["DEL", "GC"] as const) {
  Deno.test(`ADD killed at each crash point leaves nothing a later ${freeWith} cannot free`, async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "skein-ipam-crash-" });
    try {
      const conf = netconf(dataDir, "crash");
      const live = await runSkein({ op: "add", id: "live", input: conf });
      assertEquals(live.code, 0, live.stdout + live.stderr);
      const liveIps = addresses(live.json);
      for (const point of CRASH_POINTS) {
        const id = `crash-${point}`;
        const r = await runSkein({ op: "add", id, input: conf, crashAt: point });
        assertEquals(
          r.signal,
          "SIGKILL",
          `${point}: expected SIGKILL, got code ${r.code} ${r.stderr}`,
        );
        const files = assertConsistent(dataDir, "crash");
        // The crash really happened mid-ADD: from after-link on, the dead process holds addresses;
        // at after-temp-write it left a temporary file (not a reservation).
        const held = Object.values(files).filter((c) => c === `${id}\r\neth0`).length;
        const expectHeld: Record<string, number> = {
          "after-lock": 0,
          "after-temp-write": 0,
          "after-link": 1,
          "after-reserve": 1,
          "before-unlock": 2,
          "after-unlock": 2,
        };
        assertEquals(held, expectHeld[point], `${point}: addresses held by the dead process`);
        const temps = Object.keys(readNetworkDir(dataDir, "crash")).filter((f) =>
          f.startsWith(".")
        );
        assertEquals(temps.length, point === "after-temp-write" || point === "after-link" ? 1 : 0);
        // Whatever the crashed process holds is not an address anyone else holds.
        for (const ip of liveIps) assertEquals(files[ip], "live\r\neth0", `${point} touched ${ip}`);
        // A new pod never gets an address the crashed process may have been about to use.
        const next = await runSkein({ op: "add", id: `after-${point}`, input: conf });
        assertEquals(next.code, 0, next.stdout);
        for (const ip of addresses(next.json)) {
          assertEquals(reservations(dataDir, "crash")[ip], `after-${point}\r\neth0`);
        }
        if (freeWith === "DEL") {
          const d = await runSkein({ op: "del", id, input: conf });
          assertEquals(d.code, 0, d.stdout + d.stderr);
        }
      }
      if (freeWith === "GC") {
        const valid = [
          { containerID: "live", ifname: "eth0" },
          ...CRASH_POINTS.map((p) => ({
            containerID: `after-${p}`,
            ifname: "eth0",
          })),
        ];
        const g = await runSkein({ op: "gc", input: { netconf: conf, valid } });
        assertEquals(g.code, 0, g.stdout + g.stderr);
      }
      // Only live attachments remain, and no temporary or partial file anywhere.
      const owners = Object.values(readNetworkDir(dataDir, "crash")).filter((c) =>
        c.includes("\r\n")
      );
      assertEquals(owners.filter((c) => c.startsWith("crash-")), []);
      const names = Object.keys(readNetworkDir(dataDir, "crash"));
      assertEquals(names.filter((n) => n.startsWith(".")), []);
      assertEquals(
        Object.keys(reservations(dataDir, "crash")).length,
        2 * (1 + CRASH_POINTS.length),
      );
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}

Deno.test("ADD processes SIGKILLed at random moments: no address twice, GC and DEL free all", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "skein-ipam-rand-" });
  try {
    const conf = netconf(dataDir, "rand");
    const n = 24;
    const children = Array.from({ length: n }, (_, i) => {
      const child = spawnSkein({ op: "add", id: `r${i}`, input: conf });
      // Kill about two thirds of them somewhere between start-up and well after ADD.
      const killAt = i % 3 === 0 ? undefined : Math.random() * 1500;
      const timer = killAt === undefined ? undefined : setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already exited
        }
      }, killAt);
      return { id: `r${i}`, child, timer };
    });
    const done = await Promise.all(children.map(async (c) => {
      const r = await wait(c.child);
      clearTimeout(c.timer);
      return { id: c.id, r };
    }));
    const ok = done.filter((d) => d.r.code === 0 && d.r.signal === null);
    const killed = done.filter((d) => d.r.signal === "SIGKILL");
    assertEquals(ok.length + killed.length, n, "every process either finished or was killed");
    assert(ok.length >= n / 3, "the unkilled third must have finished");
    // Every address told to a pod is distinct and its file names that pod.
    const files = assertConsistent(dataDir, "rand");
    const told = ok.flatMap((d) => addresses(d.r.json));
    assertEquals(new Set(told).size, told.length);
    for (const d of ok) {
      for (const ip of addresses(d.r.json)) assertEquals(files[ip], `${d.id}\r\neth0`);
    }
    // GC with the runtime's view (only the ADDs that returned a result are attachments).
    const valid = ok.map((d) => ({ containerID: d.id, ifname: "eth0" }));
    const g = await runSkein({ op: "gc", input: { netconf: conf, valid } });
    assertEquals(g.code, 0, g.stdout + g.stderr);
    assertEquals(Object.keys(reservations(dataDir, "rand")).sort(), [...told].sort());
    // And DEL of the rest leaves only bookkeeping files.
    await Promise.all(ok.map((d) => runSkein({ op: "del", id: d.id, input: conf })));
    const left = Object.keys(readNetworkDir(dataDir, "rand")).filter((f) =>
      !BOOKKEEPING.includes(f)
    );
    assertEquals(left, []);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
