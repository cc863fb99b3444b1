/**
 * Compatibility with Debian's reference host-local (/usr/lib/cni/host-local) on one dataDir:
 * each sees, respects and can release the other's reservations, and both allocating at once
 * never hand out an address twice (they take the same flock). No root and no namespace needed:
 * host-local only writes files.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import {
  addresses,
  hasHostLocal,
  readNetworkDir,
  reservations,
  runHostLocal,
  runSkein,
} from "./ipam_helpers.ts";

const ignore = !hasHostLocal();
if (ignore) {
  console.log("skipping host-local compatibility tests: /usr/lib/cni/host-local is missing");
}

function confs(dataDir: string) {
  const ipam = { dataDir, ranges: [[{ subnet: "10.66.0.0/24" }], [{ subnet: "fd00:66::/64" }]] };
  return {
    hostLocal: {
      cniVersion: "1.0.0",
      name: "compat",
      type: "bridge",
      ipam: { type: "host-local", ...ipam },
    },
    skein: { cniVersion: "1.1.0", name: "compat", type: "skein", ipam: { type: "skein", ...ipam } },
  };
}

Deno.test({
  name: "skein reads host-local's reservations: no reuse, CHECK sees them, DEL frees them",
  ignore,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "skein-ipam-hl-" });
    try {
      const c = confs(dataDir);
      const hl: string[][] = [];
      for (const id of ["hl1", "hl2", "hl3"]) {
        const r = await runHostLocal({ cmd: "ADD", id, netconf: c.hostLocal });
        assertEquals(r.code, 0, r.stdout + r.stderr);
        hl.push(addresses(r.json));
      }
      assertEquals(hl[0], ["10.66.0.2", "fd00:66::2"]);
      // skein continues host-local's round-robin and never takes one of its addresses.
      const s = await runSkein({ op: "add", id: "sk1", input: c.skein });
      assertEquals(s.code, 0, s.stdout + s.stderr);
      assertEquals(addresses(s.json), ["10.66.0.5", "fd00:66::5"]);
      // Release the middle host-local one and fill around: still no reuse of hl1/hl3.
      const check = await runSkein({ op: "check", id: "hl2", input: c.skein });
      assertEquals(check.code, 0, check.stdout);
      const del = await runSkein({ op: "del", id: "hl2", input: c.skein });
      assertEquals(del.code, 0, del.stdout);
      const files = reservations(dataDir, "compat");
      assertEquals(files["10.66.0.3"], undefined);
      assertEquals(files["fd00:66::3"], undefined);
      assertEquals(files["10.66.0.2"], "hl1\r\neth0");
      assertEquals(files["10.66.0.4"], "hl3\r\neth0");
      const checkGone = await runSkein({ op: "check", id: "hl2", input: c.skein });
      assertEquals(checkGone.code, 1);
      assertEquals(checkGone.json?.code, 3);
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "host-local reads skein's reservations: no reuse, CHECK sees them, DEL frees them",
  ignore,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "skein-ipam-hl-" });
    try {
      const c = confs(dataDir);
      const sk: string[][] = [];
      for (const id of ["sk1", "sk2"]) {
        const r = await runSkein({ op: "add", id, input: c.skein });
        assertEquals(r.code, 0, r.stdout + r.stderr);
        sk.push(addresses(r.json));
      }
      // The files skein wrote are byte-identical to host-local's format.
      assertEquals(readNetworkDir(dataDir, "compat")["10.66.0.2"], "sk1\r\neth0");
      assertEquals(readNetworkDir(dataDir, "compat")["last_reserved_ip.1"], "fd00:66::3");
      const h = await runHostLocal({ cmd: "ADD", id: "hl1", netconf: c.hostLocal });
      assertEquals(h.code, 0, h.stdout + h.stderr);
      assertEquals(addresses(h.json), ["10.66.0.4", "fd00:66::4"]);
      for (const ip of addresses(h.json)) assert(!sk.flat().includes(ip));
      const chk = await runHostLocal({ cmd: "CHECK", id: "sk1", netconf: c.hostLocal });
      assertEquals(chk.code, 0, chk.stdout + chk.stderr);
      const del = await runHostLocal({ cmd: "DEL", id: "sk1", netconf: c.hostLocal });
      assertEquals(del.code, 0, del.stdout + del.stderr);
      const files = reservations(dataDir, "compat");
      assertEquals(files["10.66.0.2"], undefined);
      assertEquals(files["10.66.0.3"], "sk2\r\neth0");
      // A requested address held by host-local is refused by skein with the owner named.
      const req = await runSkein({
        op: "add",
        id: "sk3",
        input: { ...c.skein, runtimeConfig: { ips: ["10.66.0.4"] } },
      });
      assertEquals(req.code, 1);
      assertEquals(req.json?.code, 100);
      assertEquals(req.json?.details, "it is held by container hl1 interface eth0");
      // host-local refuses an address skein holds, too.
      const hreq = await runHostLocal({
        cmd: "ADD",
        id: "hl2",
        netconf: { ...c.hostLocal, runtimeConfig: { ips: ["10.66.0.3"] } },
      });
      assertEquals(hreq.code, 1, hreq.stdout);
      assertStringIncludes(hreq.stdout, "10.66.0.3");
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "skein and host-local allocating concurrently on one dataDir never collide",
  ignore,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "skein-ipam-hl-" });
    try {
      const c = confs(dataDir);
      const jobs = Array.from(
        { length: 40 },
        (_, i) =>
          i % 2 === 0
            ? runSkein({ op: "add", id: `s${i}`, input: c.skein }).then((r) => ({ id: `s${i}`, r }))
            : runHostLocal({ cmd: "ADD", id: `h${i}`, netconf: c.hostLocal }).then((r) => ({
              id: `h${i}`,
              r,
            })),
      );
      const done = await Promise.all(jobs);
      for (const d of done) assertEquals(d.r.code, 0, `${d.id}: ${d.r.stdout}${d.r.stderr}`);
      const all = done.flatMap((d) => addresses(d.r.json));
      assertEquals(all.length, 80);
      assertEquals(new Set(all).size, 80);
      const files = reservations(dataDir, "compat");
      for (const d of done) {
        for (const ip of addresses(d.r.json)) assertEquals(files[ip], `${d.id}\r\neth0`);
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
