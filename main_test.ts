import { assertEquals } from "./testing/assert.ts";
import { run } from "./main.ts";

/** run() with console output captured: [exit code, stdout, stderr]. */
async function captured(args: string[]): Promise<[number, string, string]> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return [await run(args), out.join("\n"), err.join("\n")];
  } finally {
    Object.assign(console, { log, error });
  }
}

Deno.test("skein --help lists every command on stdout, exit 0", async () => {
  const [code, out] = await captured(["--help"]);
  assertEquals(code, 0);
  for (const c of ["cni", "daemon", "diagnose", "lab", "version", "help"]) {
    assertEquals(new RegExp(`^  ${c} `, "m").test(out), true, `--help lists ${c}`);
  }
});

Deno.test("skein without a command: the help (tests/hostile_cni_test.ts reads it on stdout), exit 2", async () => {
  const [code, out] = await captured([]);
  assertEquals([code, out.includes("Commands:")], [2, true]);
});

Deno.test("skein version takes no arguments: a stray one is exit 2 naming it", async () => {
  assertEquals((await captured(["version"]))[0], 0);
  const [code, , err] = await captured(["version", "--x"]);
  assertEquals([code, err.includes('"--x"')], [2, true]);
});

Deno.test("an unknown command is exit 2 naming it", async () => {
  const [code, , err] = await captured(["frob"]);
  assertEquals([code, err.startsWith('skein: unknown command "frob"')], [2, true]);
});

Deno.test("skein cni outside a runtime: a stray argument is exit 2 naming it; none prints the help", async () => {
  const [code, , err] = await captured(["cni", "--frob"]);
  assertEquals([code, err.includes('"--frob"')], [2, true]);
  const [code2, out] = await captured(["cni"]);
  assertEquals([code2, out.includes("Usage: CNI_COMMAND=")], [2, true]);
});
