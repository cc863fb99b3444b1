import { assertEquals, assertThrows } from "../testing/assert.ts";
import { labDefaults } from "./plan.ts";
import { LabStateError, newLabState, readLabState, writeLabState } from "./state.ts";

Deno.test("writeLabState() then readLabState() round-trips", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/lab.json`;
    assertEquals(readLabState(file), undefined);
    const s = newLabState(labDefaults({ name: "t1" }));
    s.namespaces.push("t1-lan");
    s.daemons.push({ node: "n1", pid: 42, listen: "127.0.0.1:1", startedAt: "x" });
    writeLabState(file, s);
    assertEquals(readLabState(file), s);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["lab.json"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("readLabState() rejects garbage with a clear error", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/lab.json`;
    Deno.writeTextFileSync(file, "{not json");
    assertThrows(() => readLabState(file), LabStateError, "Cannot parse");
    Deno.writeTextFileSync(file, '{"version":2}');
    assertThrows(() => readLabState(file), LabStateError, "not a skein lab state");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
