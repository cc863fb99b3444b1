import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { main } from "./diagnose.ts";

/** main() with stderr captured: [exit code, stderr]. */
async function run(args: string[]): Promise<[number, string]> {
  const err: string[] = [];
  const { error } = console;
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return [await main(args), err.join("\n")];
  } finally {
    console.error = error;
  }
}

Deno.test("skein diagnose: a namespace that does not exist is a usage error (exit 2), not a stack trace", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const cfg = `${dir}/daemon.yaml`;
    Deno.writeTextFileSync(cfg, `network: 10.244.0.0/16\nnetns: ${dir}/gone\n`);
    const [code, err] = await run(["--node", "--config", cfg]);
    assertEquals(code, 2);
    assertStringIncludes(err, `config netns: no network namespace at ${dir}/gone`);
    const [code2, err2] = await run(["--node", "--config", cfg, "--netns", `${dir}/nope`]);
    assertEquals(code2, 2);
    assertStringIncludes(err2, `--netns: no network namespace at ${dir}/nope`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("skein diagnose: bad flags and a missing config are exit 2 naming them", async () => {
  const [code, err] = await run(["--frob"]);
  assertEquals(code, 2);
  assertStringIncludes(err, "--frob");
  const [code2, err2] = await run(["--node", "--config", "/nonexistent/daemon.yaml"]);
  assertEquals(code2, 2);
  assertStringIncludes(err2, "cannot read /nonexistent/daemon.yaml: no such file");
});
