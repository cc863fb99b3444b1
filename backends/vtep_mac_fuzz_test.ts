/**
 * Hostile state for the persisted VTEP MAC: a directory, garbage, a huge file, an all-zero or
 * multicast MAC, a symlink at the temporary name. resolveVtepMac() falls back to a usable MAC
 * and never throws or writes through a symlink.
 */
import { assert, assertEquals, assertNotEquals } from "../testing/assert.ts";
import { derivedMac, resolveVtepMac, vtepMacPath, writeVtepMac } from "./vtep_mac.ts";

Deno.test("resolveVtepMac() survives hostile stateDir content and never writes through a symlink", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-vtep-hostile-" });
  try {
    const path = vtepMacPath(dir, "skein.1");
    const seed = "n1/192.168.1.10/1";
    const bad: [string, () => void][] = [
      ["a directory", () => Deno.mkdirSync(path)],
      ["binary garbage", () => Deno.writeFileSync(path, new Uint8Array([0xff, 0, 1, 2]))],
      ["huge", () => Deno.writeTextFileSync(path, "0a:00:00:00:00:01" + " ".repeat(1 << 20))],
      ["all zero", () => Deno.writeTextFileSync(path, "00:00:00:00:00:00\n")],
      ["multicast", () => Deno.writeTextFileSync(path, "01:00:5e:00:00:01\n")],
    ];
    for (const [what, plant] of bad) {
      try {
        Deno.removeSync(path, { recursive: true });
      } catch { /* first round */ }
      plant();
      let mac: string | undefined;
      try {
        mac = resolveVtepMac({ stateDir: dir, device: "skein.1", seed });
      } catch (e) {
        // A directory cannot be replaced by rename: a clear error is fine, a wrong MAC is not.
        assertEquals(what, "a directory", `${what}: ${e}`);
        continue;
      }
      assertEquals(mac, derivedMac(seed), what);
      assertNotEquals(mac, "00:00:00:00:00:00");
    }
    const victim = `${dir}/victim`;
    Deno.writeTextFileSync(victim, "precious");
    Deno.removeSync(path, { recursive: true });
    Deno.symlinkSync(victim, `${path}.tmp-${Deno.pid}`);
    writeVtepMac(path, "0a:00:00:00:00:02");
    assertEquals(Deno.readTextFileSync(victim), "precious");
    assert(Deno.readTextFileSync(path).startsWith("0a:00:00:00:00:02"));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
