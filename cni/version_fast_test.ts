import { assertEquals } from "../testing/assert.ts";
import { versionAnswer } from "./version_cmd.ts";
import { LATEST_VERSION, SUPPORTED_VERSIONS } from "./versions.ts";

const SCRIPT = new URL("./version_fast.sh", import.meta.url).pathname;
/** The same fragment without its perl path: the shell path a system without perl takes. */
const SHELL_ONLY = (() => {
  const text = Deno.readTextFileSync(SCRIPT);
  if (!text.includes("[ -x /usr/bin/perl ]")) throw new Error("version_fast.sh: no perl test");
  const path = Deno.makeTempFileSync({ prefix: "skein-version-fast-", suffix: ".sh" });
  Deno.writeTextFileSync(path, text.replace("[ -x /usr/bin/perl ]", "false"));
  return path;
})();
globalThis.addEventListener("unload", () => Deno.removeSync(SHELL_ONLY));
const SCRIPTS = [SCRIPT, SHELL_ONLY];

function parse(text: string): { stdout: string; fellThrough?: string } {
  const i = text.indexOf("FELL:");
  return i < 0 ? { stdout: text } : { stdout: text.slice(0, i), fellThrough: text.slice(i + 5) };
}

/** Sources the fragment in sh with `stdin`; returns its stdout and what it left for skein. */
async function sourceAsync(
  stdin: string,
  script: string,
): Promise<{ stdout: string; fellThrough?: string }> {
  const child = new Deno.Command("sh", {
    args: ["-c", `. '${script}'; printf 'FELL:%s' "$skein_stdin"`],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  return parse(new TextDecoder().decode((await child.output()).stdout));
}

Deno.test("version_fast.sh answers what version_cmd.ts answers for the stdin runtimes send", async () => {
  for (
    const stdin of [
      "",
      "\n",
      '{"cniVersion":"1.0.0"}',
      '{ "cniVersion" : "0.3.1" }\n',
      '{"cniVersion":"0.4.0"}',
      '\n{"cniVersion":"0.4.0"}\r\n\n',
      '{"cniVersion":"9.9.9"}',
    ]
  ) {
    for (const script of SCRIPTS) {
      const r = await sourceAsync(stdin, script);
      const what = `${JSON.stringify(stdin)} (${script})`;
      assertEquals(r.fellThrough, undefined, `fell through for ${what}`);
      assertEquals(r.stdout, JSON.stringify(versionAnswer(stdin)) + "\n", what);
    }
  }
});

Deno.test("version_fast.sh leaves any other stdin to skein, unchanged", async () => {
  for (
    const stdin of [
      '{"cniVersion":"1.0.0","name":"x"}',
      '{\n  "cniVersion": "1.0.0"\n}',
      "not json",
      "not json, two newlines\n\n",
      '{"cniVersion":""}',
      '{"cniVersion":"1.0\\"0"}',
    ]
  ) {
    for (const script of SCRIPTS) {
      const r = await sourceAsync(stdin, script);
      assertEquals(r.stdout, "", script);
      assertEquals(r.fellThrough, stdin, script);
    }
  }
});

Deno.test("version_fast.sh lists the versions cni/versions.ts supports", () => {
  const text = Deno.readTextFileSync(SCRIPT);
  assertEquals(text.match(/^skein_latest=(.*)$/m)?.[1], LATEST_VERSION);
  assertEquals(
    text.match(/^skein_supported='(.*)'$/m)?.[1],
    SUPPORTED_VERSIONS.map((v) => JSON.stringify(v)).join(","),
  );
});
