/**
 * install.sh end to end: builds skein into a temporary prefix (no Debian packages touched) and
 * runs the installed command the way a container runtime runs a CNI plugin: a bare environment
 * with PATH and the CNI_* variables only (no HOME, no DENO_DIR).
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";

const repo = new URL("..", import.meta.url).pathname;

Deno.test("install.sh builds skein and the installed plugin answers in a bare CNI environment", async () => {
  const prefix = await Deno.makeTempDir({ prefix: "skein-install-" });
  try {
    const inst = await new Deno.Command("bash", {
      args: [
        `${repo}/install.sh`,
        "--no-deps",
        "--prefix",
        prefix,
        "--cni-bin-dir",
        `${prefix}/cni`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(inst.stderr);
    assertEquals(inst.code, 0, log);
    assert(/installed skein as a (compiled binary|launcher)/.test(log), log);

    const bare = async (args: string[], env: Record<string, string>, stdin = "") => {
      const child = new Deno.Command(`${prefix}/cni/skein`, {
        args,
        clearEnv: true,
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin));
      await w.close();
      const out = await child.output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };

    const version = await bare([], { CNI_COMMAND: "VERSION" }, '{"cniVersion":"1.1.0"}');
    assertEquals(version.code, 0, version.stderr);
    const v = JSON.parse(version.stdout);
    assertEquals(v.cniVersion, "1.1.0");
    assertEquals(v.supportedVersions, ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);

    // A bad call from a runtime gets the spec's error JSON on stdout, not a Deno stack trace.
    const bad = await bare([], { CNI_COMMAND: "ADD" }, "{not json");
    assert(bad.code !== 0);
    const err = JSON.parse(bad.stdout);
    assert(typeof err.code === "number" && typeof err.msg === "string", bad.stdout);

    const cli = await bare(["version"], {});
    assertEquals(cli.code, 0, cli.stderr);
    assertStringIncludes(cli.stdout, "skein ");
    // The sources are readable by every user (mktemp's 0700 made the launcher root-only).
    for (const dir of ["lib/skein", "lib/skein/src", "lib/skein/src/cmd"]) {
      const mode = Deno.statSync(`${prefix}/${dir}`).mode! & 0o777;
      assertEquals(mode, 0o755, `${dir} is ${mode.toString(8)}`);
    }
    for (const sub of ["daemon", "lab", "cni", "diagnose"]) {
      const help = await bare([sub, "--help"], {});
      assertEquals(help.code, 0, `skein ${sub} --help: ${help.stderr}`);
      assertStringIncludes(help.stdout + help.stderr, sub);
    }
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});
