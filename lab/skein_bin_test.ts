import { assertEquals } from "../testing/assert.ts";
import { skeinArgv, skeinCommand } from "./skein_bin.ts";

const env = (m: Record<string, string>) => ({ get: (k: string) => m[k] });

Deno.test("skeinCommand() prefers SKEIN_BIN", () => {
  const c = skeinCommand(
    env({ SKEIN_BIN: "/usr/local/bin/skein" }),
    "file:///r/main.ts",
    "/x/deno",
  );
  assertEquals(skeinArgv(c, ["daemon", "--help"]), ["/usr/local/bin/skein", ["daemon", "--help"]]);
  assertEquals(c.via, "env");
});

Deno.test("skeinCommand() runs main.ts with deno from source", () => {
  const c = skeinCommand(env({}), "file:///r%20x/main.ts", "/opt/deno");
  assertEquals(c, {
    cmd: "/opt/deno",
    args: [
      "run",
      "-A",
      "--quiet",
      "--no-prompt",
      "--cached-only",
      "--config",
      "/r x/deno.json",
      "/r x/main.ts",
    ],
    via: "source",
  });
});

Deno.test("skeinCommand() runs the compiled binary itself", () => {
  assertEquals(skeinCommand(env({}), "file:///tmp/deno-compile-skein/main.ts", "/usr/bin/skein"), {
    cmd: "/usr/bin/skein",
    args: [],
    via: "compiled",
  });
});
