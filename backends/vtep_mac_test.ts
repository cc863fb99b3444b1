import { assert, assertEquals, assertNotEquals } from "../testing/assert.ts";
import { derivedMac, readVtepMac, resolveVtepMac, vtepMacPath, writeVtepMac } from "./vtep_mac.ts";

Deno.test("derivedMac() is stable, unicast and locally administered", () => {
  const a = derivedMac("node1|192.168.1.11|1");
  assertEquals(a, derivedMac("node1|192.168.1.11|1"));
  assertNotEquals(a, derivedMac("node2|192.168.1.12|1"));
  const first = parseInt(a.slice(0, 2), 16);
  assertEquals(first & 1, 0);
  assertEquals(first & 2, 2);
});

Deno.test("resolveVtepMac() prefers stateDir, then the device, then the derived MAC", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = vtepMacPath(dir + "/state", "skein.1");
    // Nothing stored, no device: derived, and persisted.
    const m1 = resolveVtepMac({ stateDir: dir + "/state", device: "skein.1", seed: "s" });
    assertEquals(m1, derivedMac("s"));
    assertEquals(readVtepMac(path), m1);
    // Stored wins over the device's MAC.
    const m2 = resolveVtepMac({
      stateDir: dir + "/state",
      device: "skein.1",
      existing: "0a:11:22:33:44:55",
      seed: "s",
    });
    assertEquals(m2, m1);
    // Without stateDir the existing device MAC is reused.
    assertEquals(
      resolveVtepMac({ device: "skein.1", existing: "0A:11:22:33:44:55", seed: "s" }),
      "0a:11:22:33:44:55",
    );
    // A corrupt file is replaced.
    writeVtepMac(path, "garbage");
    assertEquals(readVtepMac(path), undefined);
    assertEquals(
      resolveVtepMac({ stateDir: dir + "/state", device: "skein.1", seed: "t" }),
      derivedMac("t"),
    );
    assert(Deno.readTextFileSync(path).startsWith(derivedMac("t")));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readVtepMac(): a FIFO planted at the path reads as no MAC (it is not opened)", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = vtepMacPath(dir, "skein.1");
    assertEquals(new Deno.Command("mkfifo", { args: [path] }).outputSync().code, 0);
    assertEquals(readVtepMac(path), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
